"""One write for a response's head and its first body chunk.

uvicorn writes the status line and headers as soon as the app sends
``http.response.start``, then each body chunk on its own: two ``write`` system
calls for even the smallest response, the largest kernel cost per proxied
request. Holding the start message until the first body message arrives and
collecting both writes into one halves that, without changing what is sent.
Checked against uvicorn 0.54 (``RequestResponseCycle.send`` uses only
``transport.write`` and ``transport.close``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]


class _Collector:
    """Stands in for the transport while one ASGI message pair is serialised."""

    __slots__ = ("_close", "_parts", "_real")

    def __init__(self, real: Any) -> None:
        self._real = real
        self._parts: list[bytes] = []
        self._close = False

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def close(self) -> None:
        self._close = True

    def is_closing(self) -> bool:
        return bool(self._real.is_closing())

    def flush(self) -> None:
        if self._parts:
            self._real.write(b"".join(self._parts))
        if self._close:
            self._real.close()


def coalescing_send(
    cycle: RequestResponseCycle, on_start: Callable[[RequestResponseCycle], None] | None = None
) -> Send:
    """``cycle.send`` with the head held for the first body chunk; ``on_start`` is
    called when the app starts its response, before the head is serialised."""
    original = cycle.send
    held: Message | None = None

    async def send(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and not cycle.response_started:
            if on_start is not None:
                on_start(cycle)
            held = message  # a later start (uvicorn's own 500) replaces it
            return
        if held is None:
            await original(message)  # type: ignore[arg-type]
            return
        start, held = held, None
        real = cycle.transport
        collector = _Collector(real)
        cycle.transport = collector  # type: ignore[assignment]
        try:
            await original(start)  # type: ignore[arg-type]
            await original(message)  # type: ignore[arg-type]
        finally:
            cycle.transport = real
            collector.flush()

    return send
