"""Request framing: the request head as bytes and the chunked transfer coding.

Pure functions, no I/O. The caller's headers are already filtered; this module adds
only the framing the client owns (RFC 9112 §6): ``Content-Length`` when the length is
known, ``Transfer-Encoding: chunked`` when a body of unknown length is streamed.
"""

from __future__ import annotations

from proxy.upstream.errors import UpstreamRequestError

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
