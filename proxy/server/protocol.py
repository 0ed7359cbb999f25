"""The HTTP/1.1 connection protocol: uvicorn's llhttp protocol plus request-head limits.

llhttp (through httptools) already refuses the request-smuggling shapes strictly:
Content-Length with Transfer-Encoding, a Transfer-Encoding whose last coding is not
``chunked``, duplicate Content-Length, bad chunk sizes (including a trailing space),
obs-fold, bare CR or LF, control characters in names and values (RFC 9112
sections 5.2, 6.1, 6.3, 7.1). uvicorn answers those with 400 and
``Connection: close``. This subclass adds what is missing:

* a bound on the request head: more than ``max_bytes`` -> 431 (RFC 6585 section 5);
* a deadline for the head from its first byte: too slow -> 408 (slowloris);
* an idle timeout from the moment a connection opens, not only after a response;
* the app never starts on a request whose bytes turn out malformed in the same read
  (the parser reports some errors, such as a bad chunk size, only after the head);
* HTTP/0.9-style request lines are refused;
* the request-target as sent reaches the app (``scope[REQUEST_TARGET]``), since
  ``raw_path`` loses a fragment and an absolute-form authority;
* errors are problem+json; a response already under way is never interleaved;
* a response begun before its request body has all arrived closes the connection
  after it (lingering), so the unread rest of a body cannot hold it open.

It hooks uvicorn internals, checked against uvicorn 0.54.0 with httptools 0.9.0:
``HttpToolsProtocol.data_received`` (replaced), ``_start_asgi_task`` (deferred), ``url``,
the parser callbacks, ``timeout_keep_alive_task`` and the cycle's ``disconnected``,
``response_started``, ``response_complete``, ``message_event``, ``more_body``,
``keep_alive`` and ``transport`` (of which it uses ``write``, ``close``, ``is_closing``).
A test asserts these exist (``url``, the raw target: the request-target tests);
pyproject pins the uvicorn range.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from proxy.accesslog import JsonLog
from proxy.context import REQUEST_TARGET
from proxy.metrics import count_limit, observe_request
from proxy.server.coalesce import coalescing_send
from proxy.server.problem import problem_response

logger = logging.getLogger("edgeward.server")

# Answers given here never reach the app, so they are logged and counted here.
_LIMITS = {431: "header_size", 408: "header_timeout"}
_access_log = JsonLog()


def _record(status: int, request_id: str, client: str | None) -> None:
    if limit := _LIMITS.get(status):
        count_limit(limit)
    observe_request("-", "-", status, 0.0)
    _access_log.write(
        {
            "type": "access",
            "ts": round(time.time(), 3),
            "request_id": request_id,
            "route": "-",
            "method": "-",
            "path": "-",
            "status": status,
            "duration_ms": 0.0,
            "upstream_ms": None,
            "bytes": 0,
            "client": client,
        }
    )


SUPPORTED_VERSIONS = ("1.0", "1.1")
# After an error response, keep reading (and dropping) what the client still sends
# for this long or this much: closing with unread input makes the kernel send a
# RST, which can destroy the error response before the client reads it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HeadLimits:
    """Bounds on a request head: its size in bytes and seconds from first byte to end."""

    max_bytes: int = 32 * 1024
    timeout: float = 10.0


class HeadTooLargeError(Exception):
    """Raised inside a parser callback to stop parsing an oversized head."""


class UnsupportedVersionError(Exception):
    """Raised inside a parser callback for a request that is not HTTP/1.0 or 1.1."""


class EdgewardProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection, with bounded request heads."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timer: asyncio.TimerHandle | None = None
        self._message_open = False  # between message begin and message complete
        self._head_open = False  # between message begin and headers complete
        self._head_serial = 0  # counts message begins, to tell a new head in a read
        self._head_bytes = 0  # url + headers the parser has reported for this head
        self._head_raw = 0  # raw bytes read while this head was incomplete
        self._head_too_large = False
        self._feeding = False
        self._linger_left: int | None = None  # set once rejected: bytes still to drop
        self._deferred: list[tuple[RequestResponseCycle, ASGI3Application]] = []

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms the idle timer only after a response; without this a
        # connection that never sends a byte would be held open forever.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger_left is not None:
            self._drop(len(data))
            return
        self._unset_keepalive_if_required()
        if not self._message_open:
            self._arm_head_timer()  # the first byte of a request head
        serial = self._head_serial
        self._feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._feeding = False
            self._upgrade()
            return
        except httptools.HttpParserError as exc:
            self._feeding = False
            self._deferred.clear()  # the app never sees a request whose framing is bad
            if self._head_too_large:
                self._reject(431, "the request head is larger than the server accepts")
            else:
                logger.info("malformed request: %s", exc)
                self._reject(400, "the request is not well-formed HTTP/1.1")
            return
        self._feeding = False
        if self._head_open and self._partial_head_too_large(len(data), serial):
            self._deferred.clear()
            self._reject(431, "the request head is larger than the server accepts")
            return
        self._start_deferred()

    def _upgrade(self) -> None:
        if self._should_upgrade():
            self.handle_websocket_upgrade()
        else:
            self._unsupported_upgrade_warning()
            self._start_deferred()

    # Parser callbacks (httptools calls these from inside feed_data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_open = self._head_open = True
        self._head_serial += 1
        self._head_bytes = self._head_raw = 0
        self._head_too_large = False
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        if self.parser.get_http_version() not in SUPPORTED_VERSIONS:
            raise UnsupportedVersionError
        self.scope[REQUEST_TARGET] = self.url  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._message_open = False
        super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        send = coalescing_send(cycle, self._end_if_body_unread)
        cycle.send = send  # type: ignore[method-assign,assignment]
        # Called from on_headers_complete; wait until the whole read has parsed.
        if self._feeding:
            self._deferred.append((cycle, app))
        else:
            super()._start_asgi_task(cycle, app)

    def _start_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for cycle, app in deferred:
            super()._start_asgi_task(cycle, app)

    def _end_if_body_unread(self, cycle: RequestResponseCycle) -> None:
        """A response begun before its request body has all arrived ends the connection.

        The app reads no more of that body once it answers. uvicorn would keep the
        connection alive and drop the rest as it comes, with no timer at all (every
        byte cancels the keep-alive timeout), so a drip could hold it forever. The
        response says ``Connection: close`` instead, and the close lingers (RFC 9112
        section 9.6): closing under unread input would reset the response.
        """
        if cycle.more_body and not cycle.disconnected:
            cycle.keep_alive = False
            cycle.transport = _LingerOnClose(cycle.transport, self._linger)  # type: ignore[assignment]

    # Head size

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_bytes:
            self._head_too_large = True
            raise HeadTooLargeError

    def _partial_head_too_large(self, size: int, serial_before: int) -> bool:
        """Count the bytes of a head still incomplete after a read.

        httptools holds a header line until it ends, so one endless header would
        never reach ``on_header``; raw bytes of reads that lie wholly inside the
        head are counted instead. The read that began the head is counted by what
        the parser reported, so the bound is exact up to one read's partial line.
        """
        if serial_before == self._head_serial:
            self._head_raw += size
        else:
            self._head_raw = self._head_bytes
        return self._head_raw > self.limits.max_bytes

    # Head deadline

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head is arriving while a response is written; a 408 now
            # would cut into that response, so give the head another period.
            self._arm_head_timer()
            return
        self._reject(408, "the request head did not arrive in time")

    # Rejection

    def _reject(self, status: int, detail: str) -> None:
        """Answer ``status`` unless a response is under way, then close."""
        self._cancel_head_timer()
        self.pipeline.clear()
        cycle = self.cycle
        in_flight = cycle is not None and not cycle.response_complete
        if cycle is not None and in_flight:
            # The app sees http.disconnect and its further sends are dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if not (cycle is not None and in_flight and cycle.response_started):
            response, request_id = problem_response(
                status, detail, self.server_state.default_headers
            )
            self.transport.write(response)
            logger.info("rejected %s: %s (request_id %s)", status, detail, request_id)
            _record(status, request_id, self.client[0] if self.client else None)
        self._linger()

    def _linger(self) -> None:
        """Half-close after the response, drop further input for a while, then close."""
        self._unset_keepalive_if_required()
        self._linger_left = LINGER_BYTES
        if self.transport.is_closing() or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _drop(self, size: int) -> None:
        assert self._linger_left is not None
        self._linger_left -= size
        if self._linger_left <= 0:
            self.transport.close()


class _LingerOnClose:
    """A cycle's transport whose close lingers first (the cycle uses only these three)."""

    __slots__ = ("_linger", "_real")

    def __init__(self, real: asyncio.Transport, linger: Callable[[], None]) -> None:
        self._real = real
        self._linger: Callable[[], None] | None = linger

    def write(self, data: bytes) -> None:
        self._real.write(data)

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def close(self) -> None:
        linger, self._linger = self._linger, None
        if linger is not None:
            linger()


def protocol_class(limits: HeadLimits) -> type[EdgewardProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to ``limits``."""

    class BoundEdgewardProtocol(EdgewardProtocol):
        pass

    BoundEdgewardProtocol.limits = limits
    return BoundEdgewardProtocol
