"""Request-head limits: 431 for oversized heads, 408 for slow heads, silent idle close;
and a body left unread by an answer cannot hold the connection."""

from __future__ import annotations

import contextlib
import inspect
import json
import socket
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from proxy.server.protocol import LINGER_SECONDS, EdgewardProtocol, HeadLimits, protocol_class
from proxy.server.state import RuntimeState
from tests.apps.factory import ProxyApp
from tests.harness import (
    RawResult,
    Served,
    exchange,
    free_port,
    read_until_closed,
    serve_asgi,
    serving,
)

HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 8 * 1024
GET = b"GET /echo HTTP/1.1\r\nHost: a\r\n"


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    limits = {"max_header_bytes": MAX_HEADER_BYTES, "header_timeout": HEADER_TIMEOUT}
    with serving(limits=limits) as served:
        yield served


def assert_rejected(result: RawResult, status: int) -> None:
    assert result.status == status, result.data[:200]
    assert "connection: close" in result.head
    assert "content-type: application/problem+json" in result.head
    problem = json.loads(result.body)
    assert problem["status"] == status and problem["request_id"]
    assert result.closed


def test_one_huge_header_gets_431(server: Served) -> None:
    result = exchange(server.port, GET + b"X-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
    assert_rejected(result, 431)


def test_many_headers_get_431(server: Served) -> None:
    headers = b"".join(b"X-H-%d: %s\r\n" % (i, b"v" * 20) for i in range(500))
    assert_rejected(exchange(server.port, GET + headers + b"\r\n"), 431)


def test_long_request_target_gets_431(server: Served) -> None:
    result = exchange(
        server.port, b"GET /echo?" + b"q" * 16 * 1024 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert_rejected(result, 431)


def test_endless_header_line_sent_in_pieces_gets_431(server: Served) -> None:
    """A header that never ends never reaches the parser's callback; raw bytes count."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(GET + b"X-Big: ")
        for _ in range(16):
            try:
                sock.sendall(b"a" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server already answered and stopped reading
            time.sleep(0.01)  # separate reads on the server
        result = read_until_closed(sock, 5)
    assert_rejected(result, 431)


def test_head_under_the_limit_in_several_reads_is_served(server: Served) -> None:
    headers = [b"X-H-%d: %s\r\n" % (i, b"v" * 100) for i in range(40)]  # about 4.5 KiB
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(GET)
        for i in range(0, len(headers), 10):
            sock.sendall(b"".join(headers[i : i + 10]))
            time.sleep(0.01)  # separate reads on the server
        sock.sendall(b"Connection: close\r\n\r\n")
        result = read_until_closed(sock, 5)
    assert result.status == 200, result.data[:200]


def test_slow_head_gets_408(server: Served) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /ec")
        result = read_until_closed(sock, HEADER_TIMEOUT + 4)
    assert_rejected(result, 408)
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_trickled_head_gets_408_from_the_first_byte(server: Served) -> None:
    """Each new byte must not restart the deadline (slowloris sends a line at a time)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(GET)
        sock.settimeout(0.25)
        deadline = time.monotonic() + HEADER_TIMEOUT + 4
        result = RawResult(b"", False)
        for i in range(40):
            if time.monotonic() > deadline:
                break
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"X-Slow-%d: 1\r\n" % i)
            result = read_until_closed(sock, 0.25)
            if result.data or result.closed:
                break
        if result.data and not result.closed:  # the answer came; wait for the close too
            rest = read_until_closed(sock, 5)
            result = RawResult(result.data + rest.data, rest.closed)
    assert_rejected(result, 408)


def test_head_timeout_does_not_cut_a_slow_response(server: Served) -> None:
    raw = b"GET /slow?s=1.5 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    result = exchange(server.port, raw, timeout=HEADER_TIMEOUT + 4)
    assert result.status == 200


def test_idle_connections_close_silently() -> None:
    """No byte at all, or nothing after a response: the keep-alive timeout, no 408."""
    port = free_port()
    http = protocol_class(HeadLimits(max_bytes=MAX_HEADER_BYTES, timeout=0.5))
    with serve_asgi(ProxyApp(RuntimeState()), port=port, http=http, timeout_keep_alive=1):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            assert read_until_closed(idle, 4) == RawResult(b"", True)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as used:
            used.sendall(GET + b"\r\n")
            result = read_until_closed(used, 4)
    assert result.closed
    assert result.status == 200
    assert result.data.count(b"HTTP/1.1 ") == 1


def drip_after_answer(port: int, target: bytes, seconds: float) -> tuple[RawResult, float]:
    """POST a large declared body, then drip it; return the answer and when it closed."""
    head = b"POST " + target + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        data = b""
        while (elapsed := time.monotonic() - started) < seconds:
            try:
                sock.sendall(b"a")
            except OSError:
                return RawResult(data, True), elapsed
            rest = read_until_closed(sock, 0.1)  # paces the drip
            data += rest.data
            if rest.closed:
                return RawResult(data, True), time.monotonic() - started
    return RawResult(data, False), seconds


@pytest.mark.parametrize("target", [b"/count", b"/sse?n=3&every=0.05"])
def test_body_still_arriving_after_the_answer_does_not_hold_the_connection(
    server: Served, target: bytes
) -> None:
    """The app answered without the body; the rest would otherwise be read forever."""
    result, closed_after = drip_after_answer(server.port, target, LINGER_SECONDS + 4)
    assert result.status == 200, result.data[:200]
    assert "connection: close" in result.head
    assert result.closed, "a dripping client kept the connection after its answer"
    assert closed_after < LINGER_SECONDS + 3


def test_body_already_in_keeps_the_connection_alive(server: Served) -> None:
    """Answered without reading the body, but all of it had come: keep-alive stays."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        first = read_until_closed(sock, 0.5)
        sock.sendall(GET + b"Connection: close\r\n\r\n")
        second = read_until_closed(sock, 5)
    assert first.status == 200 and not first.closed
    assert "connection: close" not in first.head
    assert second.status == 200 and second.closed


def test_protocol_hooks_exist_in_this_uvicorn() -> None:
    """The protocol overrides these uvicorn internals; fail loudly if they move."""
    for name in ("_start_asgi_task", "_unset_keepalive_if_required", "on_message_begin"):
        assert callable(getattr(EdgewardProtocol.__mro__[1], name))
    cycle_init = inspect.getsource(RequestResponseCycle.__init__)
    for attr in ("more_body", "keep_alive", "transport", "disconnected"):
        assert f"self.{attr} = " in cycle_init, attr
    assert uvicorn.__version__.startswith("0.54.")
