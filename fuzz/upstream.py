"""Fuzz target: the upstream HTTP/1.1 response parser fed by a hostile server.

Drives ``proxy.upstream.connection.Connection`` (the protocol the pool's
exchanges read from) with an in-process fake transport, as the event loop would:
``begin`` per request, ``data_received`` per read, the body taken after each
read, ``connection_lost`` on EOF or after an abort.

Input: a first line of options: ``GET`` / ``HEAD`` per request (cycled) and
``eof`` (the server closes after its last byte); then the bytes the server sends.
``<|>`` splits them into reads, ``<#>`` starts the next request on the same
connection (or on a new one when the last is not reusable), and bytes before
``<.>`` in a request's part arrive while the connection idles in the pool.

Checks: no exception escapes the protocol; a failure is an ``UpstreamError`` (never
the request-side ``UpstreamRequestError``) and leaves the connection aborted; a
final response has a status of 200-999; bytes while idle make the connection
unusable; and, behind the ``upstream-stray-bytes`` flag, one response per
request: after a complete response any further byte makes the connection
non-reusable and cannot replace the status or headers already read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

from fuzz._support import instrumented

with instrumented("proxy"):
    from proxy.upstream.connection import Connection
    from proxy.upstream.transport import UpstreamError, UpstreamRequestError

MAX_LEN = 4096
READ, NEXT, IDLE = b"<|>", b"<#>", b"<.>"
DICTIONARY = (
    READ,
    NEXT,
    IDLE,
    b"HEAD\n",
    b"GET eof\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 204 No Content\r\n",
    b"HTTP/1.1 304 Not Modified\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Upgrade: websocket\r\n",
    b"\r\n\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"0\r\nTrailer: x\r\n\r\n",
    b";ext=1",
)

KNOWN_BUGS: dict[str, str] = {}
# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()
_REQUEST = b"GET / HTTP/1.1\r\nhost: upstream\r\n\r\n"


class _Clock:
    """The one event-loop method the protocol calls outside ``wait()``."""

    def time(self) -> float:
        return 1000.0


class FakeTransport:
    """What ``Connection`` uses of an asyncio transport, without a socket."""

    def __init__(self) -> None:
        self.closing = False
        self.paused = False
        self.written = 0

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after abort"
        self.written += len(data)

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        assert not self.paused, "paused twice"
        self.paused = True

    def resume_reading(self) -> None:
        assert self.paused, "resumed while not paused"
        self.paused = False


class Observed(Connection):
    """The real protocol, noting every parser event after the final response."""

    after_final: bool
    seen: tuple[int, list[tuple[bytes, bytes]]] | None

    def begin(self, head_request: bool, read_timeout: float) -> None:
        super().begin(head_request, read_timeout)
        self.after_final = False
        self.seen = None

    def _note(self) -> None:
        if self.complete:
            self.after_final = True

    def _snapshot(self) -> None:
        if self.complete and self.seen is None:
            self.seen = (self.status, list(self.headers))

    def data_received(self, data: bytes) -> None:
        self._note()
        super().data_received(data)
        self._snapshot()

    def on_message_begin(self) -> None:
        self._note()
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._note()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._note()
        super().on_headers_complete()
        self._snapshot()

    def on_body(self, data: bytes) -> None:
        self._note()
        super().on_body(data)

    def on_message_complete(self) -> None:
        # Not noted: after a HEAD response (complete at its head) llhttp still ends
        # that same message here; a stray message shows in on_message_begin first.
        super().on_message_complete()
        self._snapshot()


def _connect() -> tuple[Observed, FakeTransport]:
    # As the pool does with a pooled connection the server is done with: discard it.
    conn = Observed(cast(asyncio.AbstractEventLoop, _Clock()), lambda c: c.abort())
    transport = FakeTransport()
    conn.connection_made(cast(Any, transport))
    return conn, transport


def _deliver(conn: Observed, transport: FakeTransport, data: bytes) -> None:
    for piece in data.split(READ):
        if transport.closing:
            return  # an aborted transport delivers nothing more
        if piece:
            conn.data_received(piece)
        while conn.take() is not None:  # the proxy relays the body as it comes
            pass


def _lose(conn: Observed, transport: FakeTransport) -> None:
    if not conn.lost:
        transport.closing = True
        conn.connection_lost(None)


def TestOneInput(data: bytes) -> None:
    first, _, stream = data.partition(b"\n")
    options = first.split()
    methods = [word == b"HEAD" for word in options if word in (b"GET", b"HEAD")] or [False]
    parts = stream.split(NEXT)
    conn, transport = _connect()
    for index, part in enumerate(parts):
        idle, sep, reply = part.partition(IDLE)
        if not sep:
            idle, reply = b"", part
        if index > 0 and not conn.reusable:
            _lose(conn, transport)
            conn, transport = _connect()  # the pool discards it and dials anew
        if idle:
            conn.pooled = index > 0
            _deliver(conn, transport, idle)
            assert not conn.usable or not idle.replace(READ, b""), "idle bytes left it usable"
            if not conn.usable:
                _lose(conn, transport)
                conn, transport = _connect()
            conn.pooled = False
        exchange(conn, transport, methods[index % len(methods)], reply)
        if b"eof" in options and index == len(parts) - 1:
            conn.eof_received()
            _lose(conn, transport)
            check(conn, transport)


def exchange(conn: Observed, transport: FakeTransport, head: bool, reply: bytes) -> None:
    conn.begin(head, 30.0)
    conn.write(_REQUEST)
    conn.request_sent = True
    _deliver(conn, transport, reply)
    if transport.closing:
        _lose(conn, transport)  # the loop calls connection_lost soon after an abort
    check(conn, transport)


def check(conn: Observed, transport: FakeTransport) -> None:
    failure = conn.failure
    OUTCOMES[failure.code if failure else "reusable" if conn.reusable else "not reusable"] += 1
    if failure is not None:
        assert isinstance(failure, UpstreamError), repr(failure)
        assert not isinstance(failure, UpstreamRequestError), repr(failure)
        assert not conn.reusable and (transport.closing or conn.lost), repr(failure)
    if conn.headers_done:
        assert 200 <= conn.status <= 999, conn.status
    if conn.reusable:
        assert conn.complete and conn.keep_alive and conn.drained
    if conn.after_final:
        assert not conn.reusable, "bytes after the response, yet reusable"
    if conn.seen is not None:
        assert (conn.status, conn.headers) == conn.seen, "a later response replaced it"
