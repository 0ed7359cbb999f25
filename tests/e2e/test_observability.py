"""Observability of a real proxy process: one access line per request, exact metrics,
and the admin listener kept apart from the proxy listener."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.harness import Proxy, public_route, run_proxy

TIMEOUT = httpx.Timeout(10.0)
ACCESS_FIELDS = {
    "request_id",
    "route",
    "method",
    "path",
    "status",
    "duration_ms",
    "upstream_ms",
    "bytes",
    "client",
    "ts",
}


def scrape(admin: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on the admin /metrics page, keyed by (name, labels)."""
    r = httpx.get(f"{admin}/metrics", timeout=TIMEOUT)
    assert r.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def sample(
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The value of one sample (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_counted(admin: str, method: str, route: str, status: int) -> float:
    """Observations in the duration histogram's +Inf bucket for one label set."""
    labels = {"method": method, "route": route, "status": str(status), "le": "+Inf"}
    return sample(scrape(admin), "http_server_request_duration_seconds_bucket", **labels)


def access_lines(proxy: Proxy, request_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in proxy.lines()
        if line.get("type") == "access" and line.get("request_id") == request_id
    ]


def one_access_line(proxy: Proxy, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Wait (bounded) for the access line of ``request_id``; there must be exactly one."""
    proxy.wait_for_line(
        lambda line: line.get("type") == "access" and line.get("request_id") == request_id,
        timeout,
    )
    lines = access_lines(proxy, request_id)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.keys() >= ACCESS_FIELDS, line
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    return line


@pytest.fixture(scope="module")
def proxy(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    config = {
        "routes": [
            public_route("small", backend, "/api/upload-small", max_body="1KiB"),
            public_route("slow", backend, "/api/slow", timeouts={"connect": "1s", "read": "300ms"}),
            public_route("down", "http://127.0.0.1:1", "/down/"),
            public_route("api", backend, "/api/"),
            public_route("ws", backend, "/ws"),
        ],
    }
    with run_proxy(tmp_path_factory.mktemp("observability"), config) as p:
        yield p


# --- access log -------------------------------------------------------------------------


def test_access_line_of_a_200(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/x/../api//hello?q=1", timeout=TIMEOUT)
    assert r.status_code == 200
    line = one_access_line(proxy, r.headers["x-request-id"])
    assert line["route"] == "api" and line["method"] == "GET"
    assert line["path"] == "/api/hello"  # normalised, without the query
    assert line["status"] == 200
    assert line["bytes"] == len(r.content)
    assert line["upstream_ms"] is not None and 0 <= line["upstream_ms"] <= line["duration_ms"]


def test_access_line_of_a_404_has_no_route(proxy: Proxy) -> None:
    r = httpx.post(f"{proxy.url}/nowhere", timeout=TIMEOUT)
    assert r.status_code == 404
    line = one_access_line(proxy, r.headers["x-request-id"])
    assert (line["route"], line["method"], line["path"], line["status"]) == (
        "-",
        "POST",
        "/nowhere",
        404,
    )
    assert line["upstream_ms"] is None
    assert line["bytes"] == len(r.content)


def test_access_line_of_a_502(proxy: Proxy) -> None:
    r = httpx.get(f"{proxy.url}/down/x", timeout=TIMEOUT)
    assert r.status_code == 502
    line = one_access_line(proxy, r.headers["x-request-id"])
    assert (line["route"], line["status"]) == ("down", 502)
    assert line["upstream_ms"] is None  # no upstream response ever came
    assert line["bytes"] == len(r.content)


def test_access_line_of_an_sse_stream_counts_bytes_sent(proxy: Proxy) -> None:
    with httpx.stream("GET", f"{proxy.url}/api/stream?n=5&interval=0.05", timeout=TIMEOUT) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = b"".join(r.iter_raw())
    assert body.count(b"data:") == 5
    line = one_access_line(proxy, r.headers["x-request-id"])
    assert (line["route"], line["path"], line["status"]) == ("api", "/api/stream", 200)
    assert line["bytes"] == len(body)
    # The stream lasted ~0.2 s upstream; the line is written when it ended.
    assert line["duration_ms"] >= 150


def test_access_line_of_a_websocket_session(proxy: Proxy) -> None:
    async def session() -> str:
        uri = proxy.url.replace("http://", "ws://") + "/ws"
        async with connect(uri) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            assert ws.response is not None
            return str(ws.response.headers["x-request-id"])

    request_id = asyncio.run(session())
    line = one_access_line(proxy, request_id)
    assert (line["route"], line["method"], line["path"], line["status"]) == (
        "ws",
        "GET",
        "/ws",
        101,
    )
    assert line["bytes"] == len(b"hello")  # what reached the client


def test_client_request_id_is_logged_when_well_formed(proxy: Proxy) -> None:
    rid = "obs-test-0123456789"
    r = httpx.get(f"{proxy.url}/api/hello", headers={"x-request-id": rid}, timeout=TIMEOUT)
    assert r.headers["x-request-id"] == rid
    assert one_access_line(proxy, rid)["status"] == 200


# --- metrics ----------------------------------------------------------------------------


def test_duration_histogram_counts_exactly_the_requests_made(proxy: Proxy) -> None:
    before = requests_counted(proxy.admin, "GET", "api", 200)
    before_404 = requests_counted(proxy.admin, "DELETE", "-", 404)
    for _ in range(7):
        assert httpx.get(f"{proxy.url}/api/hello", timeout=TIMEOUT).status_code == 200
    for _ in range(3):
        assert httpx.delete(f"{proxy.url}/nope", timeout=TIMEOUT).status_code == 404
    assert requests_counted(proxy.admin, "GET", "api", 200) == before + 7
    assert requests_counted(proxy.admin, "DELETE", "-", 404) == before_404 + 3


def test_refused_upstream_is_counted(proxy: Proxy) -> None:
    name = "edgeward_upstream_errors_total"
    before = sample(scrape(proxy.admin), name, route="down", kind="connect")
    for _ in range(2):
        assert httpx.get(f"{proxy.url}/down/y", timeout=TIMEOUT).status_code == 502
    assert sample(scrape(proxy.admin), name, route="down", kind="connect") == before + 2


def test_upstream_timeout_is_counted(proxy: Proxy) -> None:
    name = "edgeward_upstream_errors_total"
    before = sample(scrape(proxy.admin), name, route="slow", kind="timeout")
    r = httpx.get(f"{proxy.url}/api/slow?delay=2", timeout=TIMEOUT)
    assert r.status_code == 504
    line = one_access_line(proxy, r.headers["x-request-id"])
    assert (line["route"], line["status"], line["upstream_ms"]) == ("slow", 504, None)
    after = scrape(proxy.admin)
    assert sample(after, name, route="slow", kind="timeout") == before + 1
    assert sample(after, name, route="slow", kind="connect") == 0


def test_body_too_large_is_counted_as_a_limit(proxy: Proxy) -> None:
    name = "edgeward_limits_hit_total"
    before = sample(scrape(proxy.admin), name, limit="body_size")
    port = proxy.port
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"POST /api/upload-small HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 413")
    r = httpx.post(f"{proxy.url}/api/upload-small", content=iter([b"x" * 800] * 2), timeout=TIMEOUT)
    assert r.status_code == 413
    assert one_access_line(proxy, r.headers["x-request-id"])["status"] == 413
    assert sample(scrape(proxy.admin), name, limit="body_size") == before + 2


# --- listener separation ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/livez", "/readyz", "/healthz"])
def test_admin_paths_are_not_served_on_the_proxy_port(proxy: Proxy, path: str) -> None:
    r = httpx.get(f"{proxy.url}{path}", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["code"] == "no_route"


def test_proxy_routes_are_not_served_on_the_admin_port(proxy: Proxy) -> None:
    for path in ("/api/hello", "/.edgeward/jwks.json"):
        r = httpx.get(f"{proxy.admin}{path}", timeout=TIMEOUT)
        assert r.status_code == 404, path
        assert "x-request-id" not in r.headers  # answered by the admin app, not proxied
    assert httpx.get(f"{proxy.admin}/livez", timeout=TIMEOUT).json() == {"status": "alive"}


# --- answers the server runtime gives before the app sees a request ---------------------


def oversized_head(proxy: Proxy) -> bytes:
    port = proxy.port
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"GET /api/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
        s.settimeout(5)
        return s.recv(65536)


def test_oversized_head_is_counted_as_a_limit(proxy: Proxy) -> None:
    name = "edgeward_limits_hit_total"
    before = sample(scrape(proxy.admin), name, limit="header_size")
    assert oversized_head(proxy).startswith(b"HTTP/1.1 431")
    assert sample(scrape(proxy.admin), name, limit="header_size") == before + 1


def test_oversized_head_has_an_access_line(proxy: Proxy) -> None:
    head = oversized_head(proxy)
    assert head.startswith(b"HTTP/1.1 431")
    request_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-request-id:")
    )
    # The line of a normal request shows up within milliseconds (see the tests above).
    line = one_access_line(proxy, request_id, timeout=1.0)
    assert (line["status"], line["route"]) == (431, "-")
