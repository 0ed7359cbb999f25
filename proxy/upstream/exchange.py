"""One request/response exchange on a leased connection: write, stream the body, await
the response head. Any failure closes the connection and frees its slot."""

from __future__ import annotations

from collections.abc import AsyncIterator

from proxy.upstream.connection import Connection
from proxy.upstream.errors import UpstreamRequestError
from proxy.upstream.framing import CRLF, LAST_CHUNK, chunk_prefix
from proxy.upstream.origin_pool import OriginPool
from proxy.upstream.response import UpstreamResponse


async def exchange(
    owner: OriginPool,
    conn: Connection,
    head: bytes,
    head_request: bool,
    body: AsyncIterator[bytes] | None,
    content_length: int | None,
    read_timeout: float,
) -> UpstreamResponse:
    conn.begin(head_request, read_timeout)
    try:
        conn.write(head)
        if body is None:
            conn.request_sent = True
        else:
            await send_body(conn, body, content_length)
        await conn.wait_headers()
    except BaseException:
        owner.discard(conn)
        raise
    return UpstreamResponse(conn, owner)


async def send_body(
    conn: Connection, body: AsyncIterator[bytes], content_length: int | None
) -> None:
    """Stream the body with write flow control; sets ``request_sent`` when all went out.

    Stops early, leaving the connection unfit for reuse, when a final response or an
    error arrives first: the server does not want the rest (RFC 9112 §9.5).
    """
    sent = 0
    async for chunk in body:
        if conn.stop_sending:
            break
        if not chunk:
            continue
        sent += len(chunk)
        if content_length is None:
            conn.write_many((chunk_prefix(len(chunk)), chunk, CRLF))
        elif sent > content_length:
            raise _length_error(sent, content_length)
        else:
            conn.write(chunk)
        if conn.write_paused:
            await conn.drain()
            if conn.stop_sending:
                break
    else:
        _finish_body(conn, sent, content_length)
    if conn.failure is not None and not conn.headers_done:
        raise conn.failure


def _finish_body(conn: Connection, sent: int, content_length: int | None) -> None:
    if conn.stop_sending:
        return
    if content_length is None:
        conn.write(LAST_CHUNK)
    elif sent != content_length:
        raise _length_error(sent, content_length)
    conn.request_sent = True


def _length_error(sent: int, content_length: int) -> UpstreamRequestError:
    return UpstreamRequestError(
        f"request body was {'longer' if sent > content_length else 'shorter'} than "
        f"Content-Length {content_length}",
        code="request_body_length",
    )
