"""Upstream client: response framing (RFC 9112 §6.3) on scripted raw servers.

Each scripted server answers the first request on a connection with the bytes under
test and any later request with a plain 200, so a test also proves that the
connection is (or is not) left in step for reuse.
"""

from __future__ import annotations

import pytest

from proxy.upstream import Origin, Timeouts, UpstreamPool, UpstreamProtocolError
from tests.harness import Peer, raw_server, read_all, response

QUICK = Timeouts(connect=2, read=2)  # a framing bug fails fast instead of hanging


def scripted(first: bytes):  # type: ignore[no-untyped-def]
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(first)
        while True:
            await peer.read_request()
            await peer.send(response(body=b"next"))

    return handler


async def get(pool: UpstreamPool, origin: Origin, method: str = "GET") -> tuple[int, bytes]:
    resp = await pool.request(origin, method, b"/", [(b"host", b"x")], timeouts=QUICK)
    return resp.status, await read_all(resp)


async def test_interim_responses_are_skipped(pool: UpstreamPool) -> None:
    wire = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-final: 1\r\n\r\nhello"
    )
    async with raw_server(scripted(wire)) as server:
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert resp.status == 200
        assert [n for n, _ in resp.headers] == [b"content-length", b"x-final"]
        assert await read_all(resp) == b"hello"
        assert await get(pool, server.origin) == (200, b"next")
    assert pool.stats()["reused"] == 1


async def test_interim_response_split_across_reads(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        for part in (
            b"HTTP/1.1 103 Ea",
            b"rly\r\n\r\nHTTP/1.1 2",
            b"01 C\r\ncontent-length: 0\r\n\r\n",
        ):
            await peer.send(part)

    async with raw_server(handler) as server:
        assert await get(pool, server.origin) == (201, b"")


async def test_101_is_a_protocol_error(pool: UpstreamPool) -> None:
    wire = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
    async with raw_server(scripted(wire)) as server:
        with pytest.raises(UpstreamProtocolError) as info:
            await get(pool, server.origin)
        assert info.value.code == "upstream_upgrade"
    assert pool.stats()["open"] == 0


async def test_head_response_has_no_body_and_its_connection_is_not_reused(
    pool: UpstreamPool,
) -> None:
    # Content-Length on a HEAD response describes the GET's body (RFC 9110 §9.3.2); such
    # a body arriving late on a reused connection would answer the next request.
    wire = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    async with raw_server(scripted(wire)) as server:
        status, body = await get(pool, server.origin, "HEAD")
        assert (status, body) == (200, b"")
        assert pool.stats()["idle"] == 0
        assert await get(pool, server.origin, "HEAD") == (200, b"")
        assert server.accepted == 2


async def test_head_response_without_a_length_keeps_its_connection(pool: UpstreamPool) -> None:
    wire = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-a: 1\r\n\r\n"
    async with raw_server(scripted(wire)) as server:
        assert await get(pool, server.origin, "HEAD") == (200, b"")
        assert pool.stats()["idle"] == 1
        assert await get(pool, server.origin) == (200, b"next")
        assert server.accepted == 1


async def test_head_response_with_chunked_header(pool: UpstreamPool) -> None:
    wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    async with raw_server(scripted(wire)) as server:
        assert await get(pool, server.origin, "HEAD") == (200, b"")
        assert pool.stats()["idle"] == 0  # a body announced and absent: not reused
        assert await get(pool, server.origin, "HEAD") == (200, b"")
        assert server.accepted == 2


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_statuses_ignore_content_length(pool: UpstreamPool, status: int) -> None:
    wire = b"HTTP/1.1 %d X\r\ncontent-length: 50\r\n\r\n" % status
    async with raw_server(scripted(wire)) as server:
        assert await get(pool, server.origin) == (status, b"")  # no wait for 50 bytes
        assert pool.stats()["idle"] == 0  # a body announced and absent: not reused
        assert await get(pool, server.origin) == (status, b"")
        assert server.accepted == 2


@pytest.mark.parametrize("status", [204, 304])
async def test_no_body_status_without_a_length_keeps_the_connection(
    pool: UpstreamPool, status: int
) -> None:
    wire = b"HTTP/1.1 %d X\r\nx-a: 1\r\n\r\n" % status
    async with raw_server(scripted(wire)) as server:
        assert await get(pool, server.origin) == (status, b"")
        assert await get(pool, server.origin) == (200, b"next")
        assert server.accepted == 1


async def test_chunked_with_extensions_and_trailers(pool: UpstreamPool) -> None:
    wire = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n"
    )
    async with raw_server(scripted(wire)) as server:
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert (b"transfer-encoding", b"chunked") in resp.headers  # framing kept for the caller
        headers = list(resp.headers)
        assert await read_all(resp) == b"hello world"
        assert resp.headers == headers  # trailers are dropped, not merged into the headers
        assert await get(pool, server.origin) == (200, b"next")
        assert server.accepted == 1


async def test_close_delimited_body_ends_at_eof(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\n\r\n")
        for part in (b"part one, ", b"part two"):
            await peer.send(part)
        peer.writer.close()

    async with raw_server(handler) as server:
        assert await get(pool, server.origin) == (200, b"part one, part two")
    assert pool.stats()["open"] == 0  # EOF-delimited: never reused


async def test_unknown_transfer_coding_reads_until_close(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw-bytes")
        peer.writer.close()

    async with raw_server(handler) as server:
        assert await get(pool, server.origin) == (200, b"raw-bytes")


@pytest.mark.parametrize(
    "wire",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
    ],
)
async def test_malformed_responses(pool: UpstreamPool, wire: bytes) -> None:
    async with raw_server(scripted(wire)) as server:
        with pytest.raises(UpstreamProtocolError):
            await get(pool, server.origin)
    assert pool.stats()["open"] == 0


async def test_oversized_header_block(pool: UpstreamPool) -> None:
    filler = b"".join(b"x-f%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    async with raw_server(scripted(b"HTTP/1.1 200 OK\r\n" + filler + b"\r\n")) as server:
        with pytest.raises(UpstreamProtocolError) as info:
            await get(pool, server.origin)
        assert info.value.code == "upstream_headers_too_large"


async def test_endless_interim_responses_are_bounded(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        while True:
            await peer.send(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" * 100)

    async with raw_server(handler) as server:
        with pytest.raises(UpstreamProtocolError) as info:
            await get(pool, server.origin)
        assert info.value.code == "upstream_headers_too_large"


async def test_endless_trailer_is_bounded(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n0\r\nx-t: "
        )
        while True:
            await peer.send(b"v" * 4096)

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")], timeouts=QUICK)
        with pytest.raises(UpstreamProtocolError) as info:
            await read_all(resp)
        assert info.value.code == "upstream_headers_too_large"


async def test_body_bytes_after_head_response_prevent_reuse(pool: UpstreamPool) -> None:
    wire = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\njunk"
    async with raw_server(scripted(wire)) as server:
        assert await get(pool, server.origin, "HEAD") == (200, b"")
        assert pool.stats()["open"] == 0  # out of step: closed, not pooled
        assert await get(pool, server.origin) == (200, b"junk")  # a new connection's answer
        assert server.accepted == 2


async def test_large_header_block_under_limit_is_fine(pool: UpstreamPool) -> None:
    filler = b"".join(b"x-f%d: %s\r\n" % (i, b"v" * 1000) for i in range(50))
    async with raw_server(scripted(response(extra=filler))) as server:
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert len(resp.headers) == 51
        assert await read_all(resp) == b"ok"
