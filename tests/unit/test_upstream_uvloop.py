"""The upstream client on uvloop, the loop the proxy serves on in production.

uvloop's transports are not subclasses of asyncio's and flow control is implemented
separately, so the key paths run here once more on a real uvloop loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from proxy.upstream import Timeouts, UpstreamPool, UpstreamTimeout
from tests.harness import Peer, raw_server, read_all, response

uvloop = pytest.importorskip("uvloop")

HOST = [(b"host", b"x")]


async def scenario() -> None:
    total = 8 * 1024 * 1024

    async def handler(peer: Peer) -> None:
        while True:
            request = await peer.read_request()
            if request.head.startswith(b"GET /big"):
                await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
                for _ in range(total // 65536):
                    await peer.send(b"z" * 65536)
            elif request.head.startswith(b"HEAD"):
                await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\n")
            elif request.head.startswith(b"GET /stall"):
                await asyncio.sleep(30)
            else:
                await peer.send(response(body=hashlib.sha256(request.body).hexdigest().encode()))

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"q" * 32768

    pool = UpstreamPool()
    try:
        async with raw_server(handler) as server:
            resp = await pool.request(server.origin, "POST", b"/up", HOST, upload())
            expected = hashlib.sha256(b"q" * 32768 * 64).hexdigest().encode()
            assert await read_all(resp) == expected
            resp = await pool.request(server.origin, "HEAD", b"/h", HOST)
            assert await read_all(resp) == b""
            resp = await pool.request(server.origin, "GET", b"/big", HOST)
            size = 0
            async for chunk in resp.body():
                size += len(chunk)
            assert size == total
            # The HEAD response announces a body it does not have: its connection is
            # not reused (a late body would answer the next request), so /big dials anew.
            assert pool.stats() == {
                "open": 1,
                "idle": 1,
                "in_use": 0,
                "created": 2,
                "reused": 1,
                "stray": 0,
            }
            with pytest.raises(UpstreamTimeout):
                await pool.request(
                    server.origin, "GET", b"/stall", HOST, timeouts=Timeouts(read=0.2)
                )
    finally:
        await pool.aclose()


def test_client_paths_on_uvloop() -> None:
    uvloop.run(scenario())
