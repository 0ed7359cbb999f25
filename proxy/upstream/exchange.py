"""One request on the wire: framing the head (pure) and the exchange on a leased connection.

Framing adds only what the client owns (RFC 9112 §6): ``Content-Length`` when the
length is known, ``Transfer-Encoding: chunked`` when a body of unknown length is
streamed. The exchange writes the head, streams the body and awaits the response
head; any failure closes the connection and frees its slot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from proxy.upstream.connection import Connection
from proxy.upstream.origin_pool import OriginPool
from proxy.upstream.response import UpstreamResponse
from proxy.upstream.transport import UpstreamRequestError

_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"
_FRAMING_NAME_LENGTHS = (len(_CONTENT_LENGTH), len(_TRANSFER_ENCODING))
_CHUNKED_LINE = b"Transfer-Encoding: chunked\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CRLF = b"\r\n"


def encode_head(
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    content_length: int | None,
    chunked: bool,
) -> bytes:
    """Serialise the request line and header block.

    Framing headers the caller left in are dropped, never duplicated: two lengths, or a
    length beside ``chunked``, is how requests are smuggled (RFC 9112 §6.3 rule 3).
    CR, LF or NUL in any field is refused for the same reason (RFC 9110 §5.5).
    """
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    lines = 1
    for name, value in headers:
        # Length test first: it keeps the lowercasing off all but two header names.
        if len(name) in _FRAMING_NAME_LENGTHS and name.lower() in (
            _CONTENT_LENGTH,
            _TRANSFER_ENCODING,
        ):
            continue
        parts += (name, b": ", value, CRLF)
        lines += 1
    if content_length is not None:
        parts.append(b"Content-Length: %d\r\n" % content_length)
        lines += 1
    elif chunked:
        parts.append(_CHUNKED_LINE)
        lines += 1
    parts.append(CRLF)
    head = b"".join(parts)
    _check_head(head, lines + 1, target)
    return head


def _check_head(head: bytes, lines: int, target: bytes) -> None:
    # Counting is two C-level scans of one short buffer: cheaper than checking each field.
    if head.count(b"\n") != lines or head.count(b"\r") != lines or b"\0" in head:
        raise UpstreamRequestError(
            "CR, LF or NUL in the request line or a header", code="request_invalid_header"
        )
    if b" " in target or not target:
        raise UpstreamRequestError("invalid request target", code="request_invalid_target")


def chunk_prefix(size: int) -> bytes:
    """The chunk-size line that precedes ``size`` bytes of data (RFC 9112 §7.1)."""
    return b"%x\r\n" % size


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
