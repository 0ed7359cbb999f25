"""Listening sockets: parse ``host:port`` and bind both listeners before any app is built."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from proxy.config.schema import Config

# Pending connections the kernel queues per listener while workers are busy or restarting.
BACKLOG = 2048


class BindError(Exception):
    """A listener could not be opened; ``str()`` is a one-line reason for the operator."""


@dataclass(frozen=True)
class Sockets:
    """The two bound, listening sockets of one server."""

    proxy: socket.socket
    admin: socket.socket

    def close(self) -> None:
        self.proxy.close()
        self.admin.close()


def parse_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` / ``"[::1]:8080"`` / ``"localhost:8080"`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # RFC 3986 section 3.2.2: an IPv6 literal is bracketed
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise BindError(f"not a host:port address: {value!r}")
    return host, int(port)


def bind(address: str, name: str) -> socket.socket:
    """Bind and listen on ``address``; raise BindError naming the listener on failure."""
    host, port = parse_address(address)
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise BindError(f"cannot listen on {address} ({name}): {exc.strerror}") from exc
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Restarting must not wait for TIME_WAIT connections of the previous run.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {address} ({name}): {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def bind_all(config: Config) -> Sockets:
    """Bind the proxy and the admin listener, or neither."""
    proxy = bind(config.listen, "listen")
    try:
        admin = bind(config.admin_listen, "admin_listen")
    except BindError:
        proxy.close()
        raise
    return Sockets(proxy=proxy, admin=admin)
