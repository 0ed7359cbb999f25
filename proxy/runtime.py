"""What the pipeline needs, derived once from the configuration.

``RouteTable`` is the reloadable part (routes and their compiled policies); it
is rebuilt whole from a new config and swapped in one assignment, so a request
sees either the old table or the new one, never a mix. ``Services`` holds the
long-lived parts (upstream pool, authenticators, signer) that a policy reload
does not touch.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import httpx

from proxy.accesslog import JsonLog
from proxy.admission import Admission
from proxy.authn import BearerAuthenticator, ServiceTokenAuthenticator
from proxy.config.schema import Config, Route
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.headers import IPNetwork
from proxy.metrics import JWKS_REFRESHES
from proxy.policy import CompiledPolicy
from proxy.routing import Router
from proxy.sign import Signer
from proxy.signing import AssertionMinter, KeySet, RequestSigner
from proxy.upstream import Origin, Timeouts, UpstreamPool

log = logging.getLogger("edgeward")


@dataclass(frozen=True, slots=True)
class RouteTarget:
    index: int
    name: str
    route: Route
    origin: Origin
    timeouts: Timeouts
    max_body: int
    policy: CompiledPolicy
    audience: str  # the assertion's aud: the route's `audience`, else the upstream origin

    @property
    def public(self) -> bool:
        return self.route.public


class RouteTable:
    def __init__(self, config: Config) -> None:
        self.router = Router(config.routes)
        self.targets = tuple(
            RouteTarget(
                index=i,
                name=r.name,
                route=r,
                origin=Origin.parse(r.to),
                timeouts=Timeouts(connect=r.timeouts.connect, read=r.timeouts.read),
                max_body=r.max_body if r.max_body is not None else config.limits.max_body,
                policy=CompiledPolicy.for_route(r, i),
                audience=r.audience or r.to,
            )
            for i, r in enumerate(config.routes)
        )

    def match(self, req: Request) -> RouteTarget:
        found = self.router.match(req.host, req.path, req.method)
        if found is None:
            raise ProxyError(404, "no_route", "no route matches this request")
        target = self.targets[found.index]
        req.route = target.name
        return target


def ssl_context(config: Config) -> ssl.SSLContext:
    """TLS for https upstreams: verification on unless the operator turns it off."""
    ctx = ssl.create_default_context(cafile=config.upstream.ca_file)
    if not config.upstream.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _keyset(config: Config) -> KeySet:
    if config.signing.key_files:
        return KeySet.from_files(config.signing.key_files)
    return KeySet.ephemeral(config.signing.algorithm)


def _request_signer(config: Config, keys: KeySet) -> RequestSigner:
    if config.signing.request_signature == "hmac-sha256":
        assert config.signing.hmac_key is not None  # validated with the config
        return RequestSigner(hmac_key=config.signing.hmac_key.encode())
    return RequestSigner(keys.signing)


def _count_jwks_refresh(issuer: str, result: str) -> None:
    JWKS_REFRESHES.labels(issuer, result).inc()


def _not_yet_enforced(config: Config) -> None:
    """Say loudly which configured features this build does not enforce yet."""
    for i, route in enumerate(config.routes):
        for key in ("cache", "rate_limit"):
            if getattr(route, key) is not None:
                log.warning("routes[%d].%s is not implemented in this build and is ignored", i, key)
    if config.oidc:
        log.warning("oidc: browser login is not implemented in this build; browsers get 401")
    if config.store != "memory":  # the URL is not logged: it may hold a password
        log.warning("store: the Redis store is not used by this build; nothing is shared yet")


@dataclass
class Services:
    """Long-lived, built once per process: kept across policy reloads."""

    config: Config
    pool: UpstreamPool
    http: httpx.AsyncClient  # control plane only: JWKS and IdP calls
    log: JsonLog
    trusted_proxies: tuple[IPNetwork, ...]
    tls: ssl.SSLContext
    keys: KeySet
    admission: Admission
    signer: Signer

    @classmethod
    def build(cls, config: Config, log: JsonLog | None = None) -> Services:
        _not_yet_enforced(config)
        tls = ssl_context(config)
        json_log = log or JsonLog()
        pool = UpstreamPool(
            max_connections=config.upstream.max_connections,
            max_idle=config.upstream.max_idle,
            idle_timeout=config.upstream.idle_timeout,
            ssl_context=tls,
        )
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        bearer = (
            BearerAuthenticator(config.bearer, http, on_jwks_refresh=_count_jwks_refresh)
            if config.bearer
            else None
        )
        tokens = (
            ServiceTokenAuthenticator(config.service_tokens, issuer=config.public_url)
            if config.service_tokens
            else None
        )
        keys = _keyset(config)
        minter = AssertionMinter(keys, issuer=config.public_url)
        return cls(
            config=config,
            pool=pool,
            http=http,
            log=json_log,
            trusted_proxies=tuple(config.trusted_proxies),
            tls=tls,
            keys=keys,
            admission=Admission(bearer, tokens, json_log),
            signer=Signer(minter, _request_signer(config, keys)),
        )

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.http.aclose()
        self.log.flush()
