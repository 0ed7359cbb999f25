"""What the pipeline needs from the configuration: the route table and the process's services.

``RouteTable`` (routes and their compiled policies) is part of the reloadable
``proxy.snapshot.Snapshot``. ``Services`` holds the process-level parts
(upstream transport and its TLS context, control-plane HTTP client, JSON log) that a
reload does not touch.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import httpx

from proxy.accesslog import JsonLog
from proxy.config.schema import Config, Route
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.policy import CompiledPolicy
from proxy.routing import Router
from proxy.upstream import Origin, Timeouts, Transport, UpstreamPool

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
    """The routes of one config, each precomputed into a ``RouteTarget``.

    A target carries what forwarding needs without touching the config again:
    the parsed upstream origin, timeouts, effective body limit, compiled policy and
    assertion audience. ``match`` is first-match-wins over host, whole-segment path
    prefix and method (``proxy.routing``), or a 404 ``no_route``.
    """

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


def _not_yet_enforced(config: Config) -> None:
    """Say loudly which configured process features this build does not enforce yet."""
    if config.oidc:
        log.warning("oidc: browser login is not implemented in this build; browsers get 401")
    if config.store != "memory":  # the URL is not logged: it may hold a password
        log.warning("store: the Redis store is not used by this build; nothing is shared yet")


@dataclass
class Services:
    """Long-lived, built once per process and shared by every config snapshot.

    ``config`` is the config the process started with: the source of the
    restart-only settings (``proxy.config.live``) for every later reload.
    """

    config: Config
    # The forwarder's only way upstream: an ``UpstreamPool`` unless the builder
    # passes another ``Transport`` (a test double, a different client).
    transport: Transport
    http: httpx.AsyncClient  # control plane only: JWKS and IdP calls
    log: JsonLog
    tls: ssl.SSLContext

    @classmethod
    def build(
        cls, config: Config, log: JsonLog | None = None, transport: Transport | None = None
    ) -> Services:
        _not_yet_enforced(config)
        tls = ssl_context(config)
        if transport is None:
            transport = UpstreamPool(
                max_connections=config.upstream.max_connections,
                max_idle=config.upstream.max_idle,
                idle_timeout=config.upstream.idle_timeout,
                ssl_context=tls,
            )
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        return cls(config=config, transport=transport, http=http, log=log or JsonLog(), tls=tls)

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.http.aclose()
        self.log.flush()
