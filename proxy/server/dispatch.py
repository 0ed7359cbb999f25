"""Routing each connection to the proxy app or the admin app by the socket it arrived on.

One uvicorn server serves both listeners, so the only thing that tells an admin
connection from a proxy one is the local address (``scope["server"]``). The admin
app is reachable only through the admin listener; anything unrecognised goes to
the proxy app, which has no admin routes. Lifespan events go to the proxy app only.
"""

from __future__ import annotations

import ipaddress

from proxy.server.state import ASGIApp, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(host: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return ip


def _score(bound: tuple[str, int], local: tuple[str, int]) -> int:
    """How well a connection's local address fits a listener: 2 exact, 1 wildcard, 0 not."""
    if bound[1] != local[1]:
        return 0
    bound_ip, local_ip = _ip(bound[0]), _ip(local[0])
    if bound_ip is not None and bound_ip.is_unspecified:
        return 1
    return 2 if bound_ip is not None and bound_ip == local_ip else 0


class ListenerDispatch:
    """An ASGI app that hands each scope to the app of the listener it came through."""

    def __init__(
        self,
        proxy_app: ASGIApp,
        admin_app: ASGIApp,
        proxy_addr: tuple[str, int],
        admin_addr: tuple[str, int],
    ) -> None:
        self.proxy_app = proxy_app
        self.admin_app = admin_app
        self._proxy_addr = proxy_addr
        self._admin_addr = admin_addr
        # The usual case: different ports, so the port alone decides.
        self._by_port = proxy_addr[1] != admin_addr[1]

    def is_admin(self, server: object) -> bool:
        if not isinstance(server, tuple | list) or len(server) < 2:
            return False
        local = (str(server[0]), int(server[1]))
        if self._by_port:
            return local[1] == self._admin_addr[1]
        return _score(self._admin_addr, local) > _score(self._proxy_addr, local)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and self.is_admin(scope.get("server")):
            await self.admin_app(scope, receive, send)
        else:
            await self.proxy_app(scope, receive, send)
