"""Reading the client's request body: bounded in size and in time, never whole.

A body is either absent, buffered (small enough to be digested and signed,
``signing.digest_max_body``) or streamed. Limits answer 413 before reading a
declared length that is too large, and 408 when the client stalls or sends it
slower than the minimum rate, whether buffered or already streaming upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from proxy.config.settings import Limits
from proxy.errors import ProxyError
from proxy.headers import ClientHeaders
from proxy.metrics import count_limit

Receive = Callable[[], Awaitable[dict[str, Any]]]


class ClientDisconnected(Exception):
    """The client went away while the proxy was reading its body."""


def too_large(limit: int) -> ProxyError:
    count_limit("body_size")
    return ProxyError(413, "body_too_large", f"request body exceeds {limit} bytes", close=True)


@dataclass(slots=True)
class Body:
    """The request body as the forwarder sees it."""

    length: int | None  # declared or known length; None when streamed chunked
    data: bytes | None = None  # the whole body when buffered
    stream: AsyncIterator[bytes] | None = None

    @property
    def present(self) -> bool:
        return self.data is not None or self.stream is not None

    def upstream(self) -> tuple[AsyncIterator[bytes] | None, int | None]:
        """What the upstream client sends: (chunks, Content-Length); no length = chunked.

        A buffered empty body keeps its ``Content-Length: 0``.
        """
        if self.data is not None:
            return (_single(self.data) if self.data else None), len(self.data)
        return self.stream, self.length


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


NO_BODY = Body(length=None)


def declared_length(h: ClientHeaders) -> int | None:
    if not h.content_length:
        return None
    try:
        return int(h.content_length)
    except ValueError as exc:  # the HTTP parser validates this; belt and braces
        raise ProxyError(400, "bad_content_length", "invalid Content-Length", close=True) from exc


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How long a request body may take: per read, and as a whole by its size."""

    timeout: float  # longest wait for the next bytes
    min_rate: float = 0.0  # bytes per second of waiting; 0 = no minimum
    grace: float = 0.0  # seconds of waiting before ``min_rate`` applies

    @classmethod
    def of(cls, limits: Limits) -> BodyLimits:
        rate = limits.min_body_rate
        if rate is None or not rate.bytes_per_second:
            return cls(limits.body_timeout)
        return cls(limits.body_timeout, float(rate.bytes_per_second), rate.grace)


def _timed_out() -> ProxyError:
    count_limit("body_timeout")
    return ProxyError(408, "body_timeout", "client sent the body too slowly", close=True)


def _too_slow(rate: float) -> ProxyError:
    count_limit("body_rate")
    return ProxyError(
        408, "body_too_slow", f"request body arrived slower than {rate:g} bytes/s", close=True
    )


async def _chunks(receive: Receive, limit: int, bounds: BodyLimits) -> AsyncIterator[bytes]:
    """The body's chunks, each read bounded by the idle timeout and the minimum rate.

    The rate counts only the time spent waiting for the client (as Kestrel's
    MinRequestBodyDataRate does): time the upstream takes to accept what was
    already read is not the client's. After the grace the client must keep
    ``seen / waited >= min_rate``, so the next bytes are due once ``waited``
    reaches ``seen / min_rate``: that is this read's deadline when it is
    earlier than the idle timeout. One deadline per read, no timer per chunk,
    and a drip too slow for the rate is cut even while no byte comes at all.
    """
    loop = asyncio.get_running_loop()
    rate, grace = bounds.min_rate, bounds.grace
    seen = 0
    waited = 0.0
    more = True
    while more:
        wait, slow = bounds.timeout, False
        if rate:
            due = max(grace, seen / rate) - waited
            if due < wait:
                wait, slow = due, True
        began = loop.time()
        try:
            async with asyncio.timeout_at(began + wait):
                message = await receive()
        except TimeoutError:
            raise (_too_slow(rate) if slow else _timed_out()) from None
        waited += loop.time() - began
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit)
        if chunk:
            yield chunk


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def read_body(
    h: ClientHeaders, receive: Receive, *, limit: int, bounds: BodyLimits, buffer_up_to: int
) -> Body:
    """Prepare the request body: buffer it when it is at most ``buffer_up_to`` bytes."""
    length = declared_length(h)
    if length is None and not h.transfer_encoding:
        return NO_BODY
    if length is not None and length > limit:
        raise too_large(limit)  # before reading a byte of it
    if length == 0:
        return Body(length=0, data=b"")
    chunks = _chunks(receive, limit, bounds)
    if length is not None and length > buffer_up_to:
        return Body(length=length, stream=chunks)
    buffered = bytearray()
    async for chunk in chunks:
        buffered += chunk
        if len(buffered) > buffer_up_to:  # chunked body turned out large: stream it
            return Body(length=length, stream=_prepend(bytes(buffered), chunks))
    return Body(length=len(buffered), data=bytes(buffered))
