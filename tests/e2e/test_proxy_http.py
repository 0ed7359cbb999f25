"""End to end through a real proxy process: streaming, WebSockets, headers, errors."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.harness import Proxy, public_route, run_proxy

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture(scope="module")
def proxy(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    config = {
        "limits": {"max_body": "300MiB", "body_timeout": "1s"},
        "routes": [
            public_route("small", backend, "/api/upload-small", max_body="1KiB"),
            public_route("slow", backend, "/api/slow", timeouts={"connect": "1s", "read": "300ms"}),
            public_route("down", "http://127.0.0.1:1", "/down/"),
            public_route("api", backend, "/api/"),
            public_route("ws", backend, "/ws"),
        ],
    }
    with run_proxy(tmp_path_factory.mktemp("proxy"), config) as p:
        yield p


def test_forwards_and_echoes_request_id(proxy: Proxy) -> None:
    r = httpx.get(
        f"{proxy.url}/api/hello", headers={"x-request-id": "client-id-123456"}, timeout=TIMEOUT
    )
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "client-id-123456"
    assert len(r.headers.get_list("date")) == 1


def test_sse_first_event_arrives_before_upstream_finishes(proxy: Proxy) -> None:
    with httpx.stream("GET", f"{proxy.url}/api/stream?n=20&interval=0.2", timeout=TIMEOUT) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data:"))
        # 20 events 200 ms apart take ~4 s upstream; the first must not wait for them.
        assert time.monotonic() - started < 2.0, first


def test_body_streams_both_ways_with_content_length_and_chunked(proxy: Proxy) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{proxy.url}/api/upload", content=data, timeout=TIMEOUT)
    assert r.json() == {"bytes": len(data), "sha256": digest}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    r = httpx.post(f"{proxy.url}/api/upload", content=chunks(), timeout=TIMEOUT)
    assert r.json() == {"bytes": len(data), "sha256": digest}


def test_large_upload_keeps_proxy_memory_bounded(proxy: Proxy) -> None:
    total, block = 200 * 1024 * 1024, b"x" * (1024 * 1024)
    before = proxy.rss_kib()

    def body() -> Iterator[bytes]:
        for _ in range(total // len(block)):
            yield block

    r = httpx.post(f"{proxy.url}/api/upload", content=body(), timeout=httpx.Timeout(60.0))
    assert r.json()["bytes"] == total
    grown_mib = (proxy.rss_kib() - before) / 1024
    assert grown_mib < 30, f"proxy RSS grew {grown_mib:.1f} MiB for a 200 MiB upload"


def test_websocket_round_trip_and_close_code(proxy: Proxy) -> None:
    async def session() -> tuple[str, bytes, int | None, str | None]:
        uri = proxy.url.replace("http://", "ws://") + "/ws"
        async with connect(uri, subprotocols=["echo"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "echo"
            await ws.send("hello")
            text = await ws.recv()
            await ws.send(b"\x00\x01binary")
            binary = await ws.recv()
            await ws.send("close:4001")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return str(text), bytes(binary), ws.close_code, ws.close_reason

    text, binary, code, _ = asyncio.run(session())
    assert text == "hello" and binary == b"\x00\x01binary"
    assert code == 4001


def test_upstream_down_is_502_problem_json(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/down/x", timeout=TIMEOUT)
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 502 and body["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text


def test_upstream_slow_is_504(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/api/slow?delay=2", timeout=TIMEOUT)
    assert r.status_code == 504
    assert r.json()["code"] == "upstream_timeout"


def test_no_route_is_404_and_html_for_browsers(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/nowhere", timeout=TIMEOUT)
    assert r.status_code == 404 and r.json()["code"] == "no_route"
    r = httpx.get(f"{proxy.url}/nowhere", headers={"accept": "text/html,*/*"}, timeout=TIMEOUT)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Request ID" in r.text


def test_declared_body_too_large_is_413_before_reading(proxy: Proxy) -> None:
    head = proxy.raw(
        b"POST /api/upload-small HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.1 413")


def test_chunked_body_too_large_is_413(proxy: Proxy) -> None:
    r = httpx.post(
        f"{proxy.url}/api/upload-small", content=iter([b"x" * 600, b"y" * 600]), timeout=TIMEOUT
    )
    assert r.status_code == 413


def test_slow_body_is_408(proxy: Proxy) -> None:
    head = proxy.raw(b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    assert head.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize(
    "target",
    [
        b"/api/%2e%2e/admin",
        b"/api/a%2fb",
        b"/api/a\\b",
        b"/api;x=1/hello",
        b"/api/a%00b",
        b"/api/%252e",
    ],
)
def test_ambiguous_paths_are_400(proxy: Proxy, target: bytes) -> None:
    head = proxy.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head[:80]


def test_normalised_path_is_what_is_forwarded(proxy: Proxy) -> None:
    data = proxy.raw(
        b"GET /x/../api//./echo?a=1&a=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        until_close=True,
    )
    assert data.startswith(b"HTTP/1.1 200")
    assert b'"path":"/api/echo"' in data and b'"query":"a=1&a=2"' in data


def test_header_rules_end_to_end(proxy: Proxy) -> None:
    r = httpx.get(
        f"{proxy.url}/api/echo",
        headers=[
            ("Connection", "keep-alive, X-Request-Id, X-Forwarded-For, X-Drop-Me"),
            ("X-Drop-Me", "1"),
            ("X-Request-Id", "client-id-abcdef"),
            ("Edgeward-User", "admin"),
            ("Edgeward_Assertion", "forged"),
            ("Signature", "forged"),
            ("Signature-Input", "forged"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil.example"),
            ("Cookie", "edgeward_session=secret; theme=dark"),
            ("Keep-Alive", "timeout=5"),
        ],
        timeout=TIMEOUT,
    )
    headers: dict[str, list[str]] = {}
    for name, value in r.json()["headers"]:
        headers.setdefault(name, []).append(value)
    assert "x-drop-me" not in headers and "keep-alive" not in headers
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-host"] != ["evil.example"]
    assert "edgeward_assertion" not in headers
    assert headers["signature"] != ["forged"] and headers["signature-input"] != ["forged"]
    assert len(headers["x-request-id"]) == 1 and headers["x-request-id"] != ["client-id-abcdef"]
    assert headers["cookie"] == ["theme=dark"]
    assert "edgeward-user" not in headers  # public route: no identity headers at all


def test_head_204_and_304_have_no_body(proxy: Proxy) -> None:
    head = httpx.head(f"{proxy.url}/api/items/7", timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert httpx.get(f"{proxy.url}/api/status/204", timeout=TIMEOUT).content == b""
    etag = httpx.get(f"{proxy.url}/api/items/7", timeout=TIMEOUT).headers["etag"]
    r = httpx.get(f"{proxy.url}/api/items/7", headers={"if-none-match": etag}, timeout=TIMEOUT)
    assert r.status_code == 304 and r.content == b""
    # The connection stays in step afterwards: the next request on it works.
    with httpx.Client(timeout=TIMEOUT) as client:
        for _ in range(3):
            assert client.head(f"{proxy.url}/api/items/7").status_code == 200
            assert client.get(f"{proxy.url}/api/status/204").status_code == 204
            assert client.get(f"{proxy.url}/api/hello").status_code == 200


def test_expect_100_continue_upload(proxy: Proxy) -> None:
    port = proxy.port
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(
            b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        s.settimeout(5)
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hello")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"HTTP/1.1 200" in data and b'"bytes":5' in data


def test_upstream_error_status_passes_through(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/api/status/500", timeout=TIMEOUT)
    assert r.status_code == 500  # the backend's answer, not one of ours


def test_sighup_reloads_the_config(proxy: Proxy) -> None:
    proxy.proc.send_signal(signal.SIGHUP)
    line = proxy.wait_for_line(lambda line: "config reloaded" in str(line.get("message", "")))
    assert line["level"] == "info"
    assert proxy.proc.poll() is None  # still serving
    assert httpx.get(f"{proxy.url}/api/hello", timeout=TIMEOUT).status_code == 200


def test_idle_client_connections_close_after_keep_alive(backend: str, tmp_path: Path) -> None:
    config = {"limits": {"keep_alive": "1s"}, "routes": [public_route("api", backend, "/api/")]}
    with (
        run_proxy(tmp_path, config) as p,
        socket.create_connection(("127.0.0.1", p.port), 5) as s,
    ):
        s.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        # Closed by the proxy well inside the socket's 5 s timeout (the default is 65 s).
        assert s.recv(65536) == b""


def test_empty_body_keeps_content_length_zero(proxy: Proxy) -> None:
    r = httpx.post(f"{proxy.url}/api/echo", content=b"", timeout=TIMEOUT)
    assert ["content-length", "0"] in r.json()["headers"]
    r = httpx.get(f"{proxy.url}/api/echo", timeout=TIMEOUT)  # no body: no framing header
    names = [name for name, _ in r.json()["headers"]]
    assert "content-length" not in names and "transfer-encoding" not in names
