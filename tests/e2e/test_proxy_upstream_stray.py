"""End to end through a real proxy: what an upstream sends past a response's end never
reaches another client.

Each route leads to its own hostile upstream (a raw server in a thread) whose first
connection answers the first request with a response and, in the same write, the start
of a ``302`` with a ``Set-Cookie``; a later request on that connection gets the rest of
the ``302``. Client A must get its response whole; client B, on another connection to
the proxy, must get a fresh upstream connection's clean answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import Peer, Proxy, public_route, raw_server, response, run_proxy

SMUGGLED_HEAD = b"HTTP/1.1 302 Found\r\nlocation: /evil\r\nset-cookie: sid=stolen\r\n"
SMUGGLED_TAIL = b"content-length: 0\r\n\r\n"

SCENARIOS: dict[str, tuple[str, bytes, int, bytes]] = {
    # route: client A's method, what the upstream sends, A's status and body
    "length": (
        "GET",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello" + SMUGGLED_HEAD,
        200,
        b"hello",
    ),
    "chunked": (
        "GET",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        + SMUGGLED_HEAD,
        200,
        b"hello",
    ),
    "nocontent": ("GET", b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n" + SMUGGLED_HEAD, 204, b""),
    "head": (
        "HEAD",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello" + SMUGGLED_HEAD,
        200,
        b"",
    ),
}


def hostile(first: bytes):  # type: ignore[no-untyped-def]
    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.read_request()
            await peer.send(first)
            while True:  # whoever asks next on this connection gets the smuggled 302
                await peer.read_request()
                await peer.send(SMUGGLED_TAIL)
        while True:
            await peer.read_request()
            await peer.send(response(body=b"clean"))

    return handler


@contextlib.contextmanager
def upstream_in_thread(first: bytes) -> Iterator[str]:
    """A raw hostile server on its own loop in a thread (the proxy is another process)."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with raw_server(hostile(first)) as server:
            box["url"] = f"http://127.0.0.1:{server.origin.port}"
            box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
            started.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, dict[str, str]]]:
    """The proxy, and each route's upstream authority."""
    with contextlib.ExitStack() as stack:
        upstreams = {
            name: stack.enter_context(upstream_in_thread(wire))
            for name, (_, wire, _, _) in SCENARIOS.items()
        }
        routes = [public_route(name, url, f"/{name}/") for name, url in upstreams.items()]
        tmp = tmp_path_factory.mktemp("proxy")
        authorities = {name: url.removeprefix("http://") for name, url in upstreams.items()}
        yield stack.enter_context(run_proxy(tmp, {"routes": routes})), authorities


@pytest.mark.parametrize("route", SCENARIOS)
def test_smuggled_response_never_reaches_the_next_client(
    proxy: tuple[Proxy, dict[str, str]], route: str
) -> None:
    server, authorities = proxy
    method, _, status, body = SCENARIOS[route]
    with httpx.Client(timeout=10) as client_a:
        a = client_a.request(method, f"{server.url}/{route}/a")
    assert (a.status_code, a.content) == (status, body)
    assert a.headers["x-a"] == "1"  # the response's own headers, intact
    assert "set-cookie" not in a.headers
    with httpx.Client(timeout=10) as client_b:
        b = client_b.get(f"{server.url}/{route}/b")
    assert (b.status_code, b.content) == (200, b"clean")
    assert "set-cookie" not in b.headers and "location" not in b.headers
    # Logged, with the upstream named, for the operator.
    server.wait_for_line(
        lambda line: (
            "no request asked for" in line.get("message", "")
            and authorities[route] in line["message"]
        )
    )
