"""Upstream client flow control: a slow reader or a slow upstream never makes the
client buffer a whole body, in either direction."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable

from proxy.upstream import Timeouts, UpstreamPool
from proxy.upstream.connection import HIGH_WATER, Connection
from tests.harness import Peer, raw_server, read_body, response

MB = 1024 * 1024
HOST = [(b"host", b"x")]


async def wait_stable(read: Callable[[], int], timeout: float = 5.0) -> None:
    """Wait until a counter stops moving for 0.2 s (bounded)."""
    last, still = read(), 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while still < 10 and loop.time() < deadline:
        await asyncio.sleep(0.02)
        now = read()
        still = still + 1 if now == last else 0
        last = now


async def test_50mb_response_streams_with_bounded_buffering(pool: UpstreamPool) -> None:
    total = 50 * MB
    block = bytes(range(256)) * 256  # 64 KiB
    sent = 0

    async def handler(peer: Peer) -> None:
        nonlocal sent
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % total)
        while sent < total:
            await peer.send(block)
            sent += len(block)

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", HOST, timeouts=Timeouts(read=10))
        body = resp.body()
        received = len(await anext(body))
        await wait_stable(lambda: sent)
        # The client stopped reading the socket, so the server is stuck in drain() with
        # only kernel buffers in between; without read-side flow control it would be done.
        assert sent < total // 2
        digest = hashlib.sha256()
        async for chunk in body:
            assert len(chunk) <= 512 * 1024
            received += len(chunk)
            digest.update(chunk)
        assert received == total
        assert sent == total
    assert pool.stats()["created"] == 1


async def test_upload_waits_for_a_slow_upstream(pool: UpstreamPool) -> None:
    total = 32 * MB
    gate = asyncio.Event()
    produced = 0
    results: list[str] = []

    async def handler(peer: Peer) -> None:
        request = await peer.read_request(with_body=False)
        await gate.wait()
        body = await read_body(peer.reader, request)
        results.append(hashlib.sha256(body).hexdigest())
        await peer.send(response())

    async def upload() -> AsyncIterator[bytes]:
        nonlocal produced
        block = b"u" * 65536
        while produced < total:
            produced += len(block)
            yield block

    async with raw_server(handler) as server:
        task = asyncio.create_task(
            pool.request(
                server.origin, "PUT", b"/", HOST, upload(), content_length=total,
                timeouts=Timeouts(read=10),
            )
        )  # fmt: skip
        await wait_stable(lambda: produced)
        # Writes stalled on the transport: the body iterator is not drained into memory.
        assert produced < total // 2
        gate.set()
        resp = await asyncio.wait_for(task, 10)
        await resp.aclose()
        assert results == [hashlib.sha256(b"u" * total).hexdigest()]


class RecordingTransport(asyncio.Transport):
    """Narrow in-process fake: records flow-control calls only."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass


async def test_socket_paused_above_high_water_and_resumed_when_consumed() -> None:
    conn = Connection(asyncio.get_running_loop(), lambda c: None)
    transport = RecordingTransport()
    conn.connection_made(transport)
    conn.begin(head_request=False, read_timeout=5)
    conn.data_received(b"HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n")
    for _ in range(HIGH_WATER // 8192):
        conn.data_received(b"b" * 8192)
    assert transport.calls == []
    conn.data_received(b"b" * 8192)
    assert transport.calls == ["pause"]
    while conn.take() is not None:
        pass
    assert transport.calls == ["pause", "resume"]
