"""Reading the client's request body: bounded in size and in time, never whole.

A body is either absent, buffered (small enough to be digested and signed,
``signing.digest_max_body``) or streamed. Limits answer 413 before reading a
declared length that is too large, and 408 when the client stalls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


async def _chunks(
    receive: Receive, limit: int, timeout: float, seen: int = 0
) -> AsyncIterator[bytes]:
    more = True
    while more:
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            count_limit("body_timeout")
            raise ProxyError(
                408, "body_timeout", "client sent the body too slowly", close=True
            ) from None
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
    h: ClientHeaders, receive: Receive, *, limit: int, timeout: float, buffer_up_to: int
) -> Body:
    """Prepare the request body: buffer it when it is at most ``buffer_up_to`` bytes."""
    length = declared_length(h)
    if length is None and not h.transfer_encoding:
        return NO_BODY
    if length is not None and length > limit:
        raise too_large(limit)  # before reading a byte of it
    if length == 0:
        return Body(length=0, data=b"")
    chunks = _chunks(receive, limit, timeout)
    if length is not None and length > buffer_up_to:
        return Body(length=length, stream=chunks)
    buffered = bytearray()
    async for chunk in chunks:
        buffered += chunk
        if len(buffered) > buffer_up_to:  # chunked body turned out large: stream it
            return Body(length=length, stream=_prepend(bytes(buffered), chunks))
    return Body(length=len(buffered), data=bytes(buffered))
