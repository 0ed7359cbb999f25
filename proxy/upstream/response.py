"""The upstream response handed to the proxy: status, headers, and a streamed body.

Closing the response decides the connection's fate: back to the pool only when the
exchange finished cleanly, otherwise closed. Both ``aclose()`` and the end (or
abandonment) of ``body()`` do this, exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

from proxy.upstream.connection import Connection
from proxy.upstream.origin_pool import OriginPool


class UpstreamResponse:
    """Status line and headers as received (names lowercased, framing headers kept)."""

    __slots__ = ("_conn", "_owner", "headers", "http_version", "status")

    def __init__(self, conn: Connection, owner: OriginPool) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self.http_version = conn.http_version
        self._conn: Connection | None = conn
        self._owner = owner

    def body(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive; the read-idle timeout applies between them."""
        if self._conn is None:
            raise RuntimeError("response already closed")
        return self._iterate(self._conn)

    async def _iterate(self, conn: Connection) -> AsyncIterator[bytes]:
        try:
            async for chunk, _ in self._parts(conn):
                if chunk:
                    yield chunk
        finally:
            self._release()  # at once, also when this iterator is abandoned

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        """Like ``body()``, but each chunk says whether it is the last one.

        Knowing that lets the proxy send the last chunk as the end of the message
        (one write instead of two); a body that ends after a pause ends with
        ``(b"", True)``, and an empty body is exactly that.
        """
        if self._conn is None:
            raise RuntimeError("response already closed")
        return self._parts(self._conn)

    async def _parts(self, conn: Connection) -> AsyncIterator[tuple[bytes, bool]]:
        try:
            while True:
                chunk = conn.take()
                if chunk is not None:
                    last = conn.drained
                    yield chunk, last
                    if last:
                        return
                elif conn.complete:
                    yield b"", True
                    return
                elif conn.failure is not None:
                    raise conn.failure
                else:
                    await conn.wait()
        finally:
            self._release()

    async def aclose(self) -> None:
        """Return the connection to the pool if reusable, else close it. Idempotent."""
        self._release()

    def _release(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if conn.reusable:
            self._owner.release(conn)
        else:
            self._owner.discard(conn)

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status} HTTP/{self.http_version}>"
