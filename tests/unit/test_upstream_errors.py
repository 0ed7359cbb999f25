"""Upstream client: every failure becomes a typed error within its timeout, and never
leaks a connection slot."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest

from proxy.upstream import (
    Origin,
    Timeouts,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamTimeout,
)
from tests.harness import Peer, free_port, keep_alive_handler, raw_server, read_all, wait_until

FAST = Timeouts(connect=0.3, read=0.3)
HOST = [(b"host", b"x")]


async def silent(peer: Peer) -> None:
    await peer.reader.read()  # accept, never answer


async def test_refused(pool: UpstreamPool) -> None:
    origin = Origin("http", "127.0.0.1", free_port())
    with pytest.raises(UpstreamConnectError) as info:
        await pool.request(origin, "GET", b"/", HOST, timeouts=FAST)
    assert info.value.code == "upstream_refused"
    assert pool.stats()["open"] == 0


async def test_dns_failure(pool: UpstreamPool) -> None:
    origin = Origin("http", "no-such-host.invalid", 80)
    with pytest.raises(UpstreamConnectError) as info:
        await pool.request(origin, "GET", b"/", HOST, timeouts=Timeouts(connect=5))
    assert info.value.code in ("upstream_dns", "upstream_connect_timeout")


async def test_connect_timeout_covers_tls_handshake(pool: UpstreamPool) -> None:
    async with raw_server(silent) as server:
        origin = Origin("https", "127.0.0.1", server.origin.port)
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamTimeout) as info:
            await pool.request(origin, "GET", b"/", HOST, timeouts=FAST)
        assert info.value.code == "upstream_connect_timeout"
        assert asyncio.get_running_loop().time() - started < 3
    assert pool.stats()["open"] == 0


async def test_read_timeout_waiting_for_headers(pool: UpstreamPool) -> None:
    async with raw_server(silent) as server:
        with pytest.raises(UpstreamTimeout) as info:
            await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        assert info.value.code == "upstream_read_timeout"
    assert pool.stats()["open"] == 0


async def test_read_timeout_between_body_chunks(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst")
        await peer.reader.read()

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        received = []
        with pytest.raises(UpstreamTimeout):
            async for chunk in resp.body():
                received.append(chunk)
        assert received == [b"first"]
    assert pool.stats()["open"] == 0


async def test_trickling_upstream_is_not_a_read_timeout(pool: UpstreamPool) -> None:
    """The read timeout is idle time, not total time: bytes every 0.1 s keep it alive."""

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n")
        for _ in range(8):
            await asyncio.sleep(0.1)
            await peer.send(b"x")

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        assert await read_all(resp) == b"x" * 8


async def test_pool_slot_wait_is_bounded_by_connect_timeout() -> None:
    pool = UpstreamPool(max_connections=1)
    try:
        async with raw_server(silent) as server:
            slow = Timeouts(connect=0.3, read=5)
            first = asyncio.create_task(
                pool.request(server.origin, "GET", b"/", HOST, timeouts=slow)
            )
            await wait_until(lambda: server.accepted == 1)
            with pytest.raises(UpstreamTimeout) as info:
                await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
            assert info.value.code == "upstream_pool_timeout"
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert pool.stats()["open"] == 0  # the cancelled request gave its slot back
    finally:
        await pool.aclose()


async def test_stalled_upload_times_out(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(30)  # never reads the body: our writes stall

    async def endless() -> AsyncIterator[bytes]:
        block = b"x" * 65536
        for _ in range(100_000):
            yield block

    async with raw_server(handler) as server:
        with pytest.raises(UpstreamTimeout):
            await pool.request(server.origin, "POST", b"/", HOST, endless(), timeouts=FAST)
    assert pool.stats()["open"] == 0


@pytest.mark.parametrize("how", ["reset", "eof"])
async def test_connection_lost_mid_body_surfaces_from_body(pool: UpstreamPool, how: str) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"a" * 10)
        await asyncio.sleep(0.05)
        if how == "reset":
            peer.reset()
        else:
            peer.writer.close()

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        received = b""
        with pytest.raises(UpstreamConnectError) as info:
            async for chunk in resp.body():
                received += chunk
        assert received == b"a" * 10
        assert info.value.code == "upstream_reset"
        assert not info.value.before_response
    assert pool.stats()["open"] == 0


async def test_reset_before_response(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        peer.reset()

    async with raw_server(handler) as server:
        with pytest.raises(UpstreamConnectError) as info:
            await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        assert info.value.before_response


async def test_early_error_response_stops_the_upload(pool: UpstreamPool) -> None:
    """RFC 9112 §9.5: a server that answers before reading the body gets no more of it."""

    async def handler(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await peer.send(
            b"HTTP/1.1 413 Too Large\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbig"
        )
        await asyncio.sleep(30)

    yielded = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal yielded
        for _ in range(100_000):
            yielded += 1
            yield b"x" * 65536

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "POST", b"/", HOST, endless(), timeouts=FAST)
        assert resp.status == 413
        assert await read_all(resp) == b"big"
    assert yielded < 1000
    assert pool.stats()["open"] == 0


async def test_cancelled_request_frees_its_slot(pool: UpstreamPool) -> None:
    async with raw_server(silent) as server:
        task = asyncio.create_task(pool.request(server.origin, "GET", b"/", HOST))
        await wait_until(lambda: server.accepted == 1)
        assert pool.stats()["in_use"] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert pool.stats()["open"] == 0


async def test_abandoned_body_closes_unfinished_connection(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"a" * 10)
        await peer.reader.read()

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", HOST, timeouts=FAST)
        body = resp.body()
        async for _ in body:
            break
        del body  # dropped without aclose(): the generator's finalizer releases
        gc.collect()
        await wait_until(lambda: pool.stats()["open"] == 0)
        assert pool.stats()["open"] == 0
        await resp.aclose()  # idempotent
        assert pool.stats()["open"] == 0


async def test_fully_buffered_response_is_reusable_without_reading(pool: UpstreamPool) -> None:
    async with raw_server(keep_alive_handler) as server:
        # Head and body arrive in one segment, so the exchange is complete on return.
        resp = await pool.request(server.origin, "GET", b"/", HOST)
        await resp.aclose()
        assert pool.stats()["idle"] == 1


async def test_closing_the_pool_fails_slot_waiters() -> None:
    pool = UpstreamPool(max_connections=1)
    async with raw_server(silent) as server:
        first = asyncio.create_task(pool.request(server.origin, "GET", b"/", HOST))
        await wait_until(lambda: server.accepted == 1)
        second = asyncio.create_task(pool.request(server.origin, "GET", b"/", HOST))
        await asyncio.sleep(0)
        await pool.aclose()
        with pytest.raises(UpstreamConnectError) as info:
            await asyncio.wait_for(second, 2)
        assert info.value.code == "upstream_pool_closed"
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
    assert pool.stats()["open"] == 0


async def test_closed_pool_refuses(pool: UpstreamPool) -> None:
    await pool.aclose()
    with pytest.raises(UpstreamConnectError):
        await pool.request(Origin("http", "127.0.0.1", 1), "GET", b"/", HOST)
