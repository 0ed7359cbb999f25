"""The seam between the forwarder and an HTTP client: what a transport is given and returns.

``Transport`` is the one call the forwarder makes (as httpx's ``AsyncBaseTransport``
is for httpx): send a request to an ``Origin`` within ``Timeouts`` and return a
``TransportResponse`` whose body is still streaming. ``UpstreamPool`` implements it;
a test or another client can stand in. A transport reports every failure as one of
the ``UpstreamError`` types below, which the forwarder maps to a status.

The error tree, and the status the proxy answers with::

    UpstreamError                    .code: a stable string for logs and metrics
    ├── UpstreamConnectError         502  refused, reset, DNS, TLS, EOF before a response
    ├── UpstreamTimeout              504  connect (incl. TLS handshake), pool slot, read idle
    ├── UpstreamProtocolError        502  the upstream sent something that is not HTTP/1.1
    └── UpstreamRequestError         400  the request itself could not be framed or sent
                                          (body length differs from Content-Length,
                                          CR/LF/NUL in a header)

Lower-layer exceptions (OSError, ssl.SSLError, httptools errors) are translated into
these in exactly one place each (connecting in ``origin_pool``, reading in
``connection``); callers never see the lower ones and never compare messages, only ``code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol
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


class TransportResponse(Protocol):
    """A response whose head has arrived and whose body is still on the wire."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]:
        """As received: names lowercased, hop-by-hop and framing fields still in."""
        ...

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        """Body chunks, each saying whether it is the last; an empty body is ``(b"", True)``.

        Raises ``UpstreamError`` if the body fails midway.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection (reuse or close). Idempotent; called on every path."""
        ...


class Transport(Protocol):
    """Sends one request upstream; the forwarder's only way out."""

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> TransportResponse:
        """Send the request and return once the response head is in.

        ``headers`` are final (filtered and signed); the transport adds only framing:
        ``Content-Length: content_length`` when given, else chunked if ``body`` is not
        None (RFC 9112 §6). ``target`` goes on the request line as is. Failures are
        ``UpstreamError``s, never lower-layer exceptions.
        """
        ...

    async def aclose(self) -> None:
        """Close idle connections; responses still open close when they are closed."""
        ...


class UpstreamError(Exception):
    """Base of every upstream failure; ``code`` is stable, the message is for humans."""

    code: str = "upstream_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UpstreamConnectError(UpstreamError):
    """No usable response: refused, reset, DNS or TLS failure, EOF before a response."""

    code = "upstream_connect_failed"

    def __init__(self, message: str, *, code: str | None = None, before_response: bool = False):
        super().__init__(message, code=code)
        # True when the upstream closed or reset before sending a single response byte:
        # the only case in which a request without a body may be retried (RFC 9112 §9.3.1).
        self.before_response = before_response


class UpstreamTimeout(UpstreamError):
    """Connect, pool slot or read-idle timeout."""

    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    """Malformed or unexpected response (bad framing, 101, oversized header block)."""

    code = "upstream_protocol_error"


class UpstreamRequestError(UpstreamError):
    """The request could not be sent as given: the caller's input was inconsistent."""

    code = "upstream_request_invalid"
