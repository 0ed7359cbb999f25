"""One upstream HTTP/1.1 connection: an asyncio.Protocol fed through httptools.

The protocol turns socket events and parser callbacks into a small state that the
exchange (``exchange``) and the response body (``response``) read: the status and
headers, a bounded queue of body chunks, ``complete``, and one ``failure``. Every
wait goes through :meth:`Connection.wait`, which is bounded by the read-idle timeout
(``waiting``). Bytes past the response's end are stray: the response is delivered,
the connection is closed (``_stray``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from proxy.upstream.transport import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from proxy.upstream.waiting import IdleBoundedWait

HIGH_WATER = 64 * 1024  # unread body bytes above which the socket is paused
LOW_WATER = 16 * 1024  # ... and below which it is resumed
MAX_HEAD_BYTES = 64 * 1024  # bytes without body data: head + 1xx, or chunk lines + trailers


class _Stop(Exception):
    """Raised from a parser callback to abort parsing: ``failure`` says why, or, once the
    response is complete, the bytes being parsed are stray."""


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip() for token in value.lower().split(b",")}


class Connection(IdleBoundedWait, asyncio.Protocol):
    """Socket + parser + buffers of one upstream connection. Not shared between tasks.

    Each exchange starts with a fresh response parser (``begin``); bytes past the
    framed end of a response, or a response that announces a body it may not have,
    mark the connection unusable so nothing reaches the next request. Reads are
    bounded by the route's read timeout and paused under back-pressure.
    """

    headers: list[tuple[bytes, bytes]]
    failure: UpstreamError | None
    _conn_tokens: set[bytes]
    _parser: HttpResponseParser  # one per exchange, made by begin()

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_idle_lost: Callable[[Connection], None],
        on_stray: Callable[[Connection], None] | None = None,
    ):
        super().__init__(loop)
        self._on_idle_lost = on_idle_lost
        self._on_stray = on_stray
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._write_paused = False
        self._read_paused = False
        self.lost = False
        self.pooled = False  # sitting in the idle list of its pool
        self.slot_held = True  # counts against its origin's max_connections
        self.idle_since = 0.0
        self.requests = 0
        self._begin_state(False)

    # -- exchange lifecycle -------------------------------------------------------------

    def begin(self, head_request: bool, read_timeout: float) -> None:
        """Reset per-exchange state before a request is written."""
        self.requests += 1
        self._read_timeout = read_timeout
        # A fresh parser: nothing a previous exchange left in one (a half-parsed header
        # field, a body length still expected after HEAD) can leak into this response.
        self._parser = HttpResponseParser(self)
        self._begin_state(head_request)
        self._chunks.clear()
        if self.lost:
            self.failure = UpstreamConnectError(
                "upstream closed the connection", code="upstream_closed", before_response=True
            )

    def _begin_state(self, head_request: bool) -> None:
        self._head_request = head_request
        self._interim = False
        self._overhead = 0
        self._header_sum = 0
        self._rx_any = False
        self._buffered = 0
        self.headers = []
        self.status = 0
        self.http_version = "1.1"
        self.headers_done = False
        self.complete = False
        self.request_sent = False
        self.keep_alive = False
        self.failure = None
        self._until_eof = False
        self._has_length = self._te_present = self._te_chunked = False
        self._body_announced = False
        self._conn_tokens = set()

    @property
    def reused(self) -> bool:
        return self.requests > 1

    @property
    def reusable(self) -> bool:
        """A finished exchange that leaves the wire in a known state (RFC 9112 §9.3).

        A paused socket is never pooled: nobody would notice the server closing it or
        sending more, and the next exchange would wait for bytes nobody reads.
        """
        return (
            self.complete
            and self.request_sent
            and self.keep_alive
            and self.failure is None
            and not self._read_paused
            and not self.lost
            and self._transport is not None
            and not self._transport.is_closing()
        )

    @property
    def usable(self) -> bool:
        """Still open while idle: the server has not closed it and it got no stray bytes."""
        return not self.lost and self._transport is not None and not self._transport.is_closing()

    def abort(self) -> None:
        self.pooled = False
        self._cancel_timer()
        if self._transport is not None and not self.lost:
            self._transport.abort()

    # -- writing ------------------------------------------------------------------------

    @property
    def stop_sending(self) -> bool:
        """Stop a request body once a final response or an error is in (RFC 9112 §9.5)."""
        return self.headers_done or self.failure is not None or self.lost

    def write(self, data: bytes) -> None:
        if not self.stop_sending:
            assert self._transport is not None
            self._transport.write(data)

    def write_many(self, parts: tuple[bytes, ...]) -> None:
        if not self.stop_sending:
            assert self._transport is not None
            self._transport.writelines(parts)

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        """Wait until the transport takes more, a response arrives, or the read timeout."""
        while self._write_paused and not self.stop_sending:
            await self.wait()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- reading ------------------------------------------------------------------------

    async def wait_headers(self) -> None:
        while not self.headers_done:
            if self.failure is not None:
                raise self.failure
            await self.wait()

    @property
    def drained(self) -> bool:
        """The response is complete and every body byte has been taken."""
        return self.complete and not self._chunks

    def take(self) -> bytes | None:
        """Next buffered body chunk, or None; resumes the socket below the low water mark."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._read_paused and self._buffered <= LOW_WATER:
            self._read_paused = False
            assert self._transport is not None
            self._transport.resume_reading()
        return chunk

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        if self.failure is not None:
            self.abort()  # already failed: nothing more is read
            return
        if self.complete or self.requests == 0 or self.pooled:
            self._stray()  # after the response, or before any request
            return
        self._rx_any = True
        # Bytes that yield no body data (status lines, headers, 1xx, chunk lines,
        # trailers) are bounded: httptools buffers a header field until it ends.
        self._overhead += len(data)
        try:
            self._parser.feed_data(data)
        except (HttpParserError, HttpParserUpgrade) as exc:
            if self.complete:
                # The error lies past the response's end (our callbacks raise there,
                # or llhttp chokes on what follows): the response itself is whole.
                self._stray()
            elif isinstance(exc, HttpParserUpgrade):
                self._fail(
                    UpstreamProtocolError("unexpected protocol upgrade", code="upstream_upgrade")
                )
            else:
                self._fail(UpstreamProtocolError(f"malformed response: {exc}"))
        else:
            if self._overhead > MAX_HEAD_BYTES and not self.complete:
                self._fail(self._too_large())

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost decides what EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timer()
        if self.pooled:
            self._on_idle_lost(self)
            return
        if self.complete or self.requests == 0:
            return
        if self.headers_done and self._until_eof and exc is None and self.failure is None:
            # A body with neither length nor chunking ends at EOF (RFC 9112 §6.3 rule 8).
            self.keep_alive = False
            self._finish()
            return
        if self.failure is None:
            self.failure = self._lost_error(exc)
        self._wake()

    def _lost_error(self, exc: Exception | None) -> UpstreamConnectError:
        if not self._rx_any:
            return UpstreamConnectError(
                "upstream closed the connection before responding",
                code="upstream_closed" if exc is None else "upstream_reset",
                before_response=True,
            )
        where = "body" if self.headers_done else "headers"
        return UpstreamConnectError(
            f"upstream connection lost in the response {where}", code="upstream_reset"
        )

    # -- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            raise _Stop  # a second response to one request: stray (see data_received)
        self.headers = []  # after a 1xx, whose fields are not the final response's
        self._has_length = self._te_present = self._te_chunked = False
        self._body_announced = False
        self._conn_tokens = set()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:
            return  # a trailer field: discarded (RFC 9112 §7.1.2), never merged
        # Counted here too: a whole header block can arrive within one read.
        self._header_sum += len(name) + len(value) + 4
        name = name.lower()
        self.headers.append((name, value))
        if name == b"content-length":
            self._has_length = True
            self._body_announced |= value.strip(b" \t") != b"0"
        elif name == b"transfer-encoding":
            self._te_present = self._body_announced = True
            self._te_chunked = value.rstrip().lower().endswith(b"chunked")
        elif name == b"connection":
            self._conn_tokens |= _tokens(value)

    def on_headers_complete(self) -> None:
        if self._header_sum > MAX_HEAD_BYTES:
            self._fail(self._too_large())
            raise _Stop
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                self._fail(UpstreamProtocolError("unexpected 101", code="upstream_upgrade"))
                raise _Stop
            self._interim = True  # 1xx: skipped; llhttp ends it and parses the next one
            return
        self.status = status
        self.http_version = self._parser.get_http_version()
        self.keep_alive = self._wants_keep_alive()
        self.headers_done = True
        if self._body_announced and (self._head_request or status in (204, 304)):
            # A response that has no body yet announces one (RFC 9110 §9.3.2, §15.3.5,
            # §15.4.5): if those bytes come after the connection went to another request,
            # they would be read as its response. Such a connection is not reused.
            self.keep_alive = False
        if self._head_request:
            # No body (RFC 9110 §9.3.2), whatever the fields say. httptools cannot be
            # told so: it still expects one, and any such bytes are stray (on_body).
            self._finish()
        else:
            # RFC 9112 §6.3: chunked wins; other codings or no length mean "until close".
            self._until_eof = not self._te_chunked and (self._te_present or not self._has_length)
            self._wake()

    @staticmethod
    def _too_large() -> UpstreamProtocolError:
        return UpstreamProtocolError(
            "response header block too large", code="upstream_headers_too_large"
        )

    def _wants_keep_alive(self) -> bool:
        # RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
        tokens = self._conn_tokens
        if b"close" in tokens:
            return False
        return self.http_version == "1.1" or b"keep-alive" in tokens

    def on_body(self, data: bytes) -> None:
        if self.complete:
            raise _Stop  # body bytes after a HEAD response: stray (see data_received)
        self._overhead = 0
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._read_paused:
            # A slow reader must not make us buffer the response (bounded memory).
            self._read_paused = True
            assert self._transport is not None
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif not self.complete:
            self._finish()

    # -- internals ----------------------------------------------------------------------

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _stray(self) -> None:
        """Bytes past the response's framed end, or asked for by no request (we never
        pipeline, RFC 9112 §9.3.2): the wire is out of step, so the connection goes.

        The response, if any, was complete before them and is delivered as it is; no
        later exchange ever parses these bytes.
        """
        self.keep_alive = False
        if self._on_stray is not None:
            self._on_stray(self)
        if self.pooled:
            self._on_idle_lost(self)  # out of the idle list before anyone picks it
        else:
            self.abort()

    def _fail(self, failure: UpstreamError) -> None:
        if self.failure is None:
            self.failure = failure
        self.keep_alive = False
        if self._transport is not None:
            self._transport.abort()
        self._wake()

    def _idle_timeout(self) -> None:
        self._fail(
            UpstreamTimeout(
                f"no bytes from upstream for {self._read_timeout:g}s",
                code="upstream_read_timeout",
            )
        )
