"""The minimum request-body rate, end to end through a real proxy process.

A client that drips a body (one byte every 200 ms) never trips the idle timeout;
``limits.min_body_rate`` cuts it with 408 once the grace is over, whether the body
is being buffered for its digest or already streaming to the upstream. Bodies
slower than the network but above the rate, WebSockets and SSE are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from proxy.body import BodyLimits
from proxy.config.loader import parse_config
from tests.e2e.test_observability import sample, scrape
from tests.harness import Proxy, RawResult, public_route, read_until_closed, run_backend, run_proxy

RATE = 100  # bytes per second of waiting
GRACE = 0.5
DIGEST_MAX = 256  # bodies above this stream to the upstream
DRIP_EVERY = 0.2  # 5 bytes/s: far below RATE, far inside the idle timeout
# The proxy must answer within the grace plus this (the idle timeout is 10 s).
ANSWER_BOUND = GRACE + 2.5


class RawUpstream:
    """A blocking HTTP/1.1 upstream that reports what each connection received.

    Events on ``events``: ``("request", conn, body_bytes)`` when a whole request
    came in (answered 200, kept alive), ``("gone", conn, body_bytes)`` when the
    connection ended in the middle of a request body. ``POST /raw/early`` is
    answered as soon as its head is in.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.events: queue.Queue[tuple[str, int, int]] = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        index = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()
            index += 1

    def _serve(self, conn: socket.socket, index: int) -> None:
        received = 0
        with conn, contextlib.suppress(OSError):
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return  # closed between requests
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = _content_length(head)
                if head.startswith(b"POST /raw/early "):  # answers before the body
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly")
                received = len(buffered)
                while received < length:
                    data = conn.recv(65536)
                    if not data:
                        break
                    received += len(data)
                if received < length:
                    break
                buffered = b""
                self.events.put(("request", index, received))
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        self.events.put(("gone", index, received))  # EOF or reset inside a body

    def close(self) -> None:
        self.sock.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawUpstream]:
    server = RawUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def proxy(upstream: RawUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with run_backend() as backend:
        config = {
            "limits": {
                "body_timeout": "10s",
                "min_body_rate": {"bytes_per_second": RATE, "grace": f"{GRACE}s"},
            },
            "signing": {"digest_max_body": DIGEST_MAX},
            "routes": [
                public_route("raw", f"http://127.0.0.1:{upstream.port}", "/raw/"),
                public_route("api", backend, "/api/"),
                public_route("ws", backend, "/ws"),
            ],
        }
        with run_proxy(tmp_path_factory.mktemp("proxy"), config) as p:
            yield p


def paced(port: int, head: bytes, pieces: Iterable[bytes]) -> tuple[RawResult, float]:
    """Send ``head``, then one piece per ``DRIP_EVERY`` until the proxy answers.

    Returns what came back (read until close) and the seconds from the head to
    the first byte of the answer (or to the last piece when the answer came after).
    """
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        first = b""
        for piece in pieces:
            try:
                sock.sendall(piece)
            except OSError:
                break  # answered and closed already
            sock.settimeout(DRIP_EVERY)
            with contextlib.suppress(TimeoutError):
                first = sock.recv(65536)
                break  # the answer (or the close) came
        elapsed = time.monotonic() - started
        rest = read_until_closed(sock, 5)
    return RawResult(first + rest.data, rest.closed), elapsed


def drips(piece: bytes, for_seconds: float) -> list[bytes]:
    return [piece] * int(for_seconds / DRIP_EVERY)


def post(path: str, framing: bytes) -> bytes:
    return b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n"


CHUNKED = b"Transfer-Encoding: chunked\r\n"
DRIPPED = {  # a declared length buffered for the digest, one streamed, and chunked
    "buffered": (b"Content-Length: %d\r\n" % DIGEST_MAX, b"a"),
    "streamed": (b"Content-Length: 100000\r\n", b"a"),
    "chunked": (CHUNKED, b"1\r\na\r\n"),
}


def assert_too_slow(result: RawResult, elapsed: float) -> dict[str, object]:
    assert result.status == 408, result.data[:300]
    assert elapsed < ANSWER_BOUND, f"408 after {elapsed:.2f}s"
    assert "content-type: application/problem+json" in result.head
    assert "connection: close" in result.head
    problem: dict[str, object] = json.loads(result.body)
    assert problem["code"] == "body_too_slow" and problem["status"] == 408
    assert result.closed
    return problem


@pytest.mark.parametrize("framing", DRIPPED)
def test_dripped_body_gets_408_after_the_grace(proxy: Proxy, framing: str) -> None:
    header, piece = DRIPPED[framing]
    result, elapsed = paced(proxy.port, post("/api/upload", header), drips(piece, ANSWER_BOUND + 1))
    assert_too_slow(result, elapsed)


@pytest.mark.parametrize("framing", ["buffered", "streamed", "chunked"])
def test_slow_body_above_the_rate_completes(proxy: Proxy, framing: str) -> None:
    piece = b"b" * 50  # 250 bytes/s, longer than the grace in every case
    count = {"buffered": 5, "streamed": 10, "chunked": 10}[framing]
    if framing == "chunked":
        header, pieces = CHUNKED, [b"32\r\n" + piece + b"\r\n"] * count + [b"0\r\n\r\n"]
    else:
        header, pieces = b"Content-Length: %d\r\n" % (count * len(piece)), [piece] * count
    head = post("/api/upload", header + b"Connection: close\r\n")
    result, _ = paced(proxy.port, head, pieces)
    assert result.status == 200, result.data[:300]
    assert json.loads(result.body)["bytes"] == count * len(piece)


def test_streamed_upload_cut_mid_body_drops_the_upstream_connection(
    proxy: Proxy, upstream: RawUpstream
) -> None:
    """The upstream already has part of the body: its connection is closed, never reused."""
    # 100 bytes at once (streamed: above DIGEST_MAX declared) buy 1 s at RATE, then drips.
    head = post("/raw/upload", b"Content-Length: 100000\r\n") + b"x" * 100
    result, elapsed = paced(proxy.port, head, drips(b"a", ANSWER_BOUND + 1))
    assert_too_slow(result, elapsed)
    kind, conn, received = upstream.events.get(timeout=5)
    assert kind == "gone" and 100 <= received < 100000
    r = httpx.post(f"{proxy.url}/raw/next", content=b"hello", timeout=10)
    assert r.status_code == 200 and r.text == "ok"
    assert upstream.events.get(timeout=5) == ("request", conn + 1, 5)


def test_upstream_answer_before_the_body_is_relayed_and_ends_the_connection(
    proxy: Proxy, upstream: RawUpstream
) -> None:
    """The client still drips when the upstream has answered: it gets that answer,
    told the connection closes, and the unread rest of its body cannot keep it."""
    head = post("/raw/early", b"Content-Length: 100000\r\n")
    result, _ = paced(proxy.port, head, drips(b"a", ANSWER_BOUND + 1))
    assert result.status == 200 and result.body == b"early", result.data[:300]
    assert "connection: close" in result.head
    assert result.closed
    kind, _, received = upstream.events.get(timeout=5)
    assert kind == "gone" and received < 100000  # that upstream connection is not reused


def test_too_slow_body_has_an_access_line_and_a_metric(proxy: Proxy) -> None:
    before = sample(scrape(proxy.admin), "edgeward_limits_hit_total", limit="body_rate")
    header, piece = DRIPPED["streamed"]
    result, elapsed = paced(proxy.port, post("/api/upload", header), drips(piece, ANSWER_BOUND + 1))
    problem = assert_too_slow(result, elapsed)
    line = proxy.wait_for_line(
        lambda line: line.get("type") == "access" and line["request_id"] == problem["request_id"]
    )
    assert (line["status"], line["route"], line["method"]) == (408, "api", "POST")
    after = sample(scrape(proxy.admin), "edgeward_limits_hit_total", limit="body_rate")
    assert after == before + 1


def test_websocket_idle_past_the_grace_is_not_cut(proxy: Proxy) -> None:
    async def session() -> str:
        uri = proxy.url.replace("http://", "ws://") + "/ws"
        async with connect(uri) as ws:
            with pytest.raises(TimeoutError):  # nothing comes: idle for three graces
                await asyncio.wait_for(ws.recv(), GRACE * 3)
            await ws.send("still here")
            return str(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(session()) == "still here"


def test_sse_longer_than_the_grace_is_not_cut(proxy: Proxy) -> None:
    url = f"{proxy.url}/api/stream?n=4&interval={GRACE}"
    with httpx.stream("GET", url, timeout=10) as r:
        events = [line for line in r.iter_lines() if line.startswith("data:")]
    assert r.status_code == 200 and len(events) == 4


def test_null_or_zero_rate_turns_the_check_off(tmp_path: Path) -> None:
    base = "routes: [{name: a, to: 'http://127.0.0.1:9', public: true}]\n"
    for value in ("null", "{bytes_per_second: 0}"):
        text = base + f"limits: {{body_timeout: 7s, min_body_rate: {value}}}\n"
        limits = parse_config(text, source="t", env={}, base_dir=tmp_path).limits
        assert BodyLimits.of(limits) == BodyLimits(timeout=7.0)
    default = parse_config(base, source="t", env={}, base_dir=tmp_path).limits
    assert BodyLimits.of(default) == BodyLimits(timeout=30.0, min_rate=240.0, grace=5.0)
