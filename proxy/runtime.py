"""What the pipeline needs, derived once from the configuration.

``RouteTable`` is the reloadable part (routes and their policies); it is
rebuilt whole from a new config and swapped in one assignment, so a request
sees either the old table or the new one, never a mix. ``Services`` holds the
long-lived services (upstream pool, authenticators, signer) that a policy
reload does not touch.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from proxy.accesslog import JsonLog
from proxy.config.schema import Config, Route
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.headers import IPNetwork
from proxy.routing import Router
from proxy.upstream import Origin, Timeouts, UpstreamPool


@dataclass(frozen=True, slots=True)
class RouteTarget:
    index: int
    name: str
    route: Route
    origin: Origin
    timeouts: Timeouts
    max_body: int
    preserve_host: bool
    public: bool


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
                preserve_host=r.preserve_host,
                public=r.public,
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


@dataclass
class Services:
    """Long-lived, built once per process: kept across policy reloads."""

    config: Config
    pool: UpstreamPool
    log: JsonLog
    trusted_proxies: tuple[IPNetwork, ...]
    tls: ssl.SSLContext

    @classmethod
    def build(cls, config: Config, log: JsonLog | None = None) -> Services:
        tls = ssl_context(config)
        pool = UpstreamPool(
            max_connections=config.upstream.max_connections,
            max_idle=config.upstream.max_idle,
            idle_timeout=config.upstream.idle_timeout,
            ssl_context=tls,
        )
        return cls(config, pool, log or JsonLog(), tuple(config.trusted_proxies), tls)

    async def aclose(self) -> None:
        await self.pool.aclose()
        self.log.flush()
