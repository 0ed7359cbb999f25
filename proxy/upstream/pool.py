"""The upstream client's entry point: a keep-alive pool of HTTP/1.1 connections.

``UpstreamPool.request`` frames the request, leases a connection for the origin,
runs one exchange, and returns the response with its body still on the wire. The
only retry is the one RFC 9112 §9.3.1 allows: a request without a body whose reused
connection was closed by the server before a single response byte came back.
``UpstreamPool`` is the production ``proxy.upstream.transport.Transport``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

from proxy.upstream.exchange import encode_head, exchange
from proxy.upstream.origin_pool import Counters, Limits, OriginPool, default_ssl_context
from proxy.upstream.response import UpstreamResponse
from proxy.upstream.transport import (
    DEFAULT_TIMEOUTS,
    Origin,
    Timeouts,
    UpstreamConnectError,
    UpstreamRequestError,
)


class UpstreamPool:
    """Connections per origin, limits per origin. Use from one event loop.

    One ``OriginPool`` per upstream origin leases ``Connection``s: at most
    ``max_connections`` at once (callers wait for a slot, bounded by a timeout),
    up to ``max_idle`` kept alive for ``idle_timeout``. A connection goes back to
    the pool only after a cleanly framed exchange; anything else closes it.
    """

    def __init__(
        self,
        *,
        max_connections: int = 512,
        max_idle: int = 64,
        idle_timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1 or max_idle < 0 or idle_timeout <= 0:
            raise ValueError("max_connections >= 1, max_idle >= 0 and idle_timeout > 0")
        self._limits = Limits(max_connections, max_idle, idle_timeout)
        self._ssl = ssl_context if ssl_context is not None else default_ssl_context()
        self._counters = Counters()
        self._origins: dict[Origin, OriginPool] = {}
        self._closed = False

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
    ) -> UpstreamResponse:
        """Send one request; the caller must ``aclose()`` the response (or drain its body)."""
        if self._closed:
            raise UpstreamConnectError("upstream pool is closed", code="upstream_pool_closed")
        if body is None and content_length:
            raise UpstreamRequestError(
                "content_length given without a body", code="request_body_length"
            )
        head = encode_head(method, target, headers, content_length, body is not None)
        owner = self._origins.get(origin) or self._add_origin(origin)
        head_request = method == "HEAD"
        conn = await owner.acquire(timeouts.connect)
        try:
            return await exchange(
                owner, conn, head, head_request, body, content_length, timeouts.read
            )
        except UpstreamConnectError as exc:
            if not (exc.before_response and body is None and conn.reused):
                raise
        # The server dropped a kept-alive connection as we used it; a fresh one may retry.
        conn = await owner.acquire(timeouts.connect, fresh=True)
        return await exchange(owner, conn, head, head_request, None, None, timeouts.read)

    async def aclose(self) -> None:
        """Close idle connections now; leased ones close when their responses do."""
        self._closed = True
        for owner in self._origins.values():
            owner.close()
        # Let the transports run their close callbacks before the loop may stop.
        await asyncio.sleep(0)

    def stats(self) -> dict[str, int]:
        """Totals over all origins: open, idle, in_use, created, reused, and stray
        (connections closed because the upstream sent bytes after a response)."""
        open_ = sum(owner.slots for owner in self._origins.values())
        idle = sum(len(owner.idle) for owner in self._origins.values())
        return {
            "open": open_,
            "idle": idle,
            "in_use": open_ - idle,
            "created": self._counters.created,
            "reused": self._counters.reused,
            "stray": self._counters.stray,
        }

    def _add_origin(self, origin: Origin) -> OriginPool:
        owner = OriginPool(origin, self._limits, self._counters, self._ssl)
        self._origins[origin] = owner
        return owner
