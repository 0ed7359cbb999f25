"""Malformed and odd requests against the real proxy: answered with a 4xx or the
upstream's answer, never a 5xx of the proxy's own, never a hang (seeded, bounded)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from tests.harness import Proxy, public_route, run_backend, run_proxy

CASES = 200
METHODS = [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"G\x00T", b"get"]
PATHS = [
    b"/api/echo",
    b"/api/../api/echo",
    b"//api/echo",
    b"/%2e%2e/",
    b"/api/%zz",
    b"/api;x",
    b"/api\\x",
    b"*",
    b"http://x/api/echo",
    b"/api/echo?a=%00&b=\xff",
    b"/" + b"a" * 9000,
    b"/api/echo#f",
    b"/\xc3\xa9",
    b"/api/items/7",
    b"/nowhere",
]
HEADERS = [
    b"Host: x",
    b"Host: ",
    b"Host: a b",
    b"Host: [::1",
    b"X: \x01",
    b"Content-Length: -1",
    b"Content-Length: 1, 2",
    b"Transfer-Encoding: gzip",
    b"Connection: Host",
    b"Connection: X-Request-Id",
    b"X-Request-Id: \xff\xfe",
    b"Expect: 100-continue",
    b"Edgeward_User: root",
    b"Authorization: Bearer",
    b"Authorization: Basic Zm9v",
    b"Cookie: edgeward_session=" + b"x" * 100,
    b"X-Forwarded-For: 1.1.1.1, garbage",
    b"Accept: text/html",
    b"Upgrade: websocket",
    b"Content-Length: 3",
]
OURS_5XX = {b"500", b"501", b"503"}  # 502/504 are upstream outcomes, not bugs


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with run_backend() as backend:
        config = {
            "limits": {"header_timeout": "1s", "body_timeout": "500ms"},
            "routes": [public_route("api", backend, "/api/")],
        }
        with run_proxy(tmp_path_factory.mktemp("fuzz"), config) as p:
            yield p


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)
        s.settimeout(5)
        out = b""
        while len(out) < 65536:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_no_request_gets_a_proxy_5xx_or_hangs(proxy: Proxy) -> None:
    rng = random.Random(20261127)
    port = proxy.port
    seen: set[bytes] = set()
    for _ in range(CASES):
        line = rng.choice(METHODS) + b" " + rng.choice(PATHS) + b" HTTP/1.1\r\n"
        headers = rng.sample(HEADERS, rng.randint(0, 5))
        if rng.random() < 0.8:
            headers.insert(0, b"Host: 127.0.0.1")
        body = rng.choice([b"", b"abc", b"0\r\n\r\n"])
        headers.append(b"Connection: close")
        raw = line + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
        answer = exchange(port, raw)
        status = answer[9:12]
        seen.add(status)
        assert answer.startswith(b"HTTP/1.1 "), (raw, answer[:300])  # always an answer
        assert status not in OURS_5XX, (raw, answer[:300])
        assert b"Traceback" not in answer
    assert b"400" in seen and b"200" in seen  # the corpus reaches both sides
