"""Route table: the first route whose host, path prefix and method match wins.

Matching runs on the canonical host and the normalised path from
``proxy.paths``, never on the query string. Path prefixes match whole
segments: ``/admin/`` covers ``/admin`` and ``/admin/x`` but ``/public`` does
not cover ``/publicity`` — a prefix that over-matched would make a public route
swallow a neighbour's protected paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proxy.config.schema import Route


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    index: int
    route: Route
    host: str | None  # exact host ("api.example.com" or with a port)
    host_suffix: str | None  # ".example.com" for "*.example.com"
    prefix: str  # without trailing slash; "" matches everything
    methods: frozenset[str] | None

    def matches(self, host: str, path: str, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.host is not None or self.host_suffix is not None:
            name = host if self.host is not None and ":" in self.host else _hostname(host)
            if self.host is not None and name != self.host:
                return False
            if self.host_suffix is not None and not (
                name.endswith(self.host_suffix) and "." not in name[: -len(self.host_suffix)]
            ):
                return False
        p = self.prefix
        return not p or path == p or (path.startswith(p) and path[len(p)] == "/")


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def compile_route(index: int, route: Route) -> CompiledRoute:
    host = route.match.host
    suffix: str | None = None
    if host is not None and host.startswith("*."):
        suffix = host[1:]
        host = None
    methods = frozenset(route.match.methods) if route.match.methods else None
    return CompiledRoute(index, route, host, suffix, route.match.path.rstrip("/"), methods)


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(compile_route(i, r) for i, r in enumerate(routes))

    def match(self, host: str, path: str, method: str) -> CompiledRoute | None:
        for route in self.routes:
            if route.matches(host, path, method):
                return route
        return None
