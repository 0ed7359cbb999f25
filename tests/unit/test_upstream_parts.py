"""``UpstreamResponse.body_parts``: the last chunk says so, whatever the framing."""

from __future__ import annotations

from proxy.upstream import Timeouts, UpstreamPool
from tests.harness import Peer, raw_server

QUICK = Timeouts(connect=2, read=2)


async def parts(pool: UpstreamPool, wire: list[bytes]) -> list[tuple[bytes, bool]]:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        for piece in wire:
            await peer.send(piece)

    async with raw_server(handler) as server:
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")], timeouts=QUICK)
        return [part async for part in resp.body_parts()]


async def test_content_length_in_one_read_is_one_last_part(pool: UpstreamPool) -> None:
    got = await parts(pool, [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"])
    assert got == [(b"hello", True)]


async def test_empty_body_is_one_empty_last_part(pool: UpstreamPool) -> None:
    got = await parts(pool, [b"HTTP/1.1 204 No Content\r\n\r\n"])
    assert got == [(b"", True)]


async def test_chunks_arriving_apart_end_with_the_last_flag(pool: UpstreamPool) -> None:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    got = await parts(pool, [head + b"1\r\na\r\n", b"1\r\nb\r\n", b"0\r\n\r\n"])
    assert b"".join(chunk for chunk, _ in got) == b"ab"
    assert [last for _, last in got][-1] is True
    assert not any(last for _, last in got[:-1])
