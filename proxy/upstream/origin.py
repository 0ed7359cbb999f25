"""Where and how long: the upstream origin (scheme, host, port) and per-request timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """An upstream origin; hashable, so it keys the per-origin connection pools."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Origin:
        """``"http://127.0.0.1:9000"`` -> ``Origin("http", "127.0.0.1", 9000)``."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {url!r}")
        port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
        # urlsplit lowercases the host and strips IPv6 brackets.
        return cls(scheme, parts.hostname, port)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """``host[:port]``, port omitted when default (RFC 9110 §4.2.3)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _DEFAULT_PORTS.get(self.scheme) == self.port:
            return host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``connect`` covers TCP, TLS and waiting for a pool slot; ``read`` is the
    longest silence tolerated while waiting for response bytes (and for a stalled send)."""

    connect: float = 5.0
    read: float = 30.0


DEFAULT_TIMEOUTS = Timeouts()
