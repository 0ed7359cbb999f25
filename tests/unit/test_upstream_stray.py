"""Upstream client: one response per request; bytes after it never reach another exchange.

A hostile upstream answers the first request on its first connection with a whole
response followed by more bytes: a body where none may be, the start of a second
response, a whole second one. The response asked for must still arrive whole (status,
headers, body); the connection must be dropped, so that the next request, made on a
new connection, gets that connection's clean answer and never the smuggled ``302``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from proxy.upstream import Origin, Timeouts, UpstreamPool, UpstreamResponse
from proxy.upstream.connection import HIGH_WATER
from tests.harness import Peer, raw_server, read_all, response, wait_until

QUICK = Timeouts(connect=2, read=2)  # a connection left out of step fails fast
HOST = [(b"host", b"x")]

SMUGGLED_HEAD = b"HTTP/1.1 302 Found\r\nlocation: /evil\r\nset-cookie: sid=stolen\r\n"
SMUGGLED_TAIL = b"content-length: 0\r\n\r\n"  # completes SMUGGLED_HEAD once sent
SMUGGLED = SMUGGLED_HEAD + SMUGGLED_TAIL

OK_WIRE = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello"
OK_HEADERS = [(b"content-length", b"5"), (b"x-a", b"1")]
CHUNKED_WIRE = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n"
    b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
)
CHUNKED_HEADERS = [(b"transfer-encoding", b"chunked"), (b"x-a", b"1")]


MODES = ("same_write", "while_held", "while_pooled")


class Hostile:
    """Connection 0 answers its first request with ``first``, then sends ``stray``: in the
    same write, or once the test sets ``go``; every later request on it gets the smuggled
    head's tail. Every other connection answers each request with 200 ``next``."""

    def __init__(self, first: bytes, stray: bytes, same_write: bool) -> None:
        self.first, self.stray, self.same_write = first, stray, same_write
        self.go = asyncio.Event()
        self.sent = asyncio.Event()

    async def __call__(self, peer: Peer) -> None:
        if peer.index == 0:
            await peer.read_request()
            if self.same_write:
                await peer.send(self.first + self.stray)
            else:
                await peer.send(self.first)
                await self.go.wait()
                await peer.send(self.stray)
            self.sent.set()
            while True:
                await peer.read_request()
                await peer.send(SMUGGLED_TAIL)
        while True:
            await peer.read_request()
            await peer.send(response(body=b"next"))

    async def send_stray(self, pool: UpstreamPool) -> None:
        """Send the stray bytes now and wait until the client has read them."""
        self.go.set()
        await self.sent.wait()
        await wait_until(lambda: pool.stats().get("stray") == 1, timeout=2)


async def let_client_read() -> None:
    # Client and server share the loop: a few turns let the client read what was sent
    # before the next write (were both coalesced, the test would be weaker, not wrong).
    for _ in range(3):
        await asyncio.sleep(0)


async def fetch(pool: UpstreamPool, origin: Origin, method: str = "GET") -> UpstreamResponse:
    return await pool.request(origin, method, b"/", HOST, timeouts=QUICK)


async def assert_next_is_clean(pool: UpstreamPool, origin: Origin) -> None:
    """Client B's request: a new connection's answer, nothing of the smuggled 302."""
    resp = await fetch(pool, origin)
    assert resp.status == 200
    assert b"set-cookie" not in dict(resp.headers)
    assert await read_all(resp) == b"next"


NO_CONTENT = b"HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n"
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\nx-a: 1\r\n\r\n"
NOT_MODIFIED_HEADERS = [(b"content-length", b"5"), (b"x-a", b"1")]
HEAD_EMPTY = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-a: 1\r\n\r\n"

# method, response, bytes after it, and what the caller must get: status, headers, body
CASES = {
    "after_content_length": ("GET", OK_WIRE, SMUGGLED_HEAD, 200, OK_HEADERS, b"hello"),
    "two_responses": ("GET", OK_WIRE, SMUGGLED, 200, OK_HEADERS, b"hello"),
    "text_after_content_length": ("GET", OK_WIRE, b"junk", 200, OK_HEADERS, b"hello"),
    "after_chunked": ("GET", CHUNKED_WIRE, SMUGGLED_HEAD, 200, CHUNKED_HEADERS, b"hello"),
    "response_as_body_of_204": ("GET", NO_CONTENT, SMUGGLED_HEAD, 204, [(b"x-a", b"1")], b""),
    "text_body_on_204": ("GET", NO_CONTENT, b"hello", 204, [(b"x-a", b"1")], b""),
    "response_as_body_of_304": (
        "GET", NOT_MODIFIED, SMUGGLED_HEAD, 304, NOT_MODIFIED_HEADERS, b""
    ),
    "text_body_on_304": ("GET", NOT_MODIFIED, b"hello", 304, NOT_MODIFIED_HEADERS, b""),
    "body_on_head": ("HEAD", OK_WIRE[:-5], b"hello" + SMUGGLED_HEAD, 200, OK_HEADERS, b""),
    "response_after_head": (
        "HEAD", HEAD_EMPTY, SMUGGLED, 200, [(b"content-length", b"0"), (b"x-a", b"1")], b""
    ),
}  # fmt: skip
# Responses without a body that announce one (Content-Length > 0 on 304 and HEAD).
ANNOUNCED_BODY = {"response_as_body_of_304", "text_body_on_304", "body_on_head"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
async def test_bytes_after_the_response_drop_the_connection(
    pool: UpstreamPool, case: str, mode: str
) -> None:
    method, first, stray, status, headers, body = CASES[case]
    script = Hostile(first, stray, same_write=mode == "same_write")
    async with raw_server(script) as server:
        resp = await fetch(pool, server.origin, method)
        if mode == "while_held":  # the response is complete, its body not read yet
            await script.send_stray(pool)
        assert (resp.status, resp.headers) == (status, headers)
        assert await read_all(resp) == body
        never_pooled = mode == "while_pooled" and case in ANNOUNCED_BODY
        if never_pooled:
            # The response announced a body it has not: its connection is not reused
            # at all, so the stray bytes find nobody (test_..._after_reuse_...).
            assert pool.stats()["idle"] == 0
        elif mode == "while_pooled":
            await script.send_stray(pool)
        await assert_next_is_clean(pool, server.origin)
        assert server.accepted == 2
    assert pool.stats()["stray"] == (0 if never_pooled else 1)


async def test_stray_bytes_split_at_every_byte(pool: UpstreamPool) -> None:
    """The response and a smuggled head, split in two at each point: the response is
    always whole, and the connection is never used again."""
    wire = OK_WIRE + SMUGGLED_HEAD
    cut = 0
    sent = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(wire[:cut])
        await let_client_read()
        await peer.send(wire[cut:])
        sent.set()
        while True:  # a connection reused by mistake completes the smuggled 302
            await peer.read_request()
            await peer.send(SMUGGLED_TAIL)

    async with raw_server(handler) as server:
        for cut in range(1, len(wire)):
            sent.clear()
            resp = await fetch(pool, server.origin)
            assert (resp.status, resp.headers) == (200, OK_HEADERS), cut
            assert await read_all(resp) == b"hello", cut
            await sent.wait()
            await wait_until(lambda n=cut: pool.stats().get("stray") == n, timeout=2)
            assert pool.stats()["idle"] == 0, cut
        assert server.accepted == len(wire) - 1  # none reused


async def test_response_split_at_every_byte_keeps_the_connection(pool: UpstreamPool) -> None:
    """No false alarm: a response head (and body) split anywhere is one response, and the
    connection stays in step for the next one."""
    wire = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nx-b: two\r\n\r\nhello"
    headers = [(b"content-length", b"5"), (b"x-a", b"1"), (b"x-b", b"two")]

    async def handler(peer: Peer) -> None:
        for cut in range(1, len(wire)):
            await peer.read_request()
            await peer.send(wire[:cut])
            await let_client_read()
            await peer.send(wire[cut:])

    async with raw_server(handler) as server:
        for cut in range(1, len(wire)):
            resp = await fetch(pool, server.origin)
            assert (resp.status, resp.headers) == (200, headers), cut
            assert await read_all(resp) == b"hello", cut
        assert server.accepted == 1
    assert pool.stats()["stray"] == 0


async def test_abandoned_response_paused_above_high_water_is_not_pooled(
    pool: UpstreamPool,
) -> None:
    """A complete response whose reading was paused (its body over the high-water mark,
    unread) and then abandoned: the connection is closed, not pooled paused, where the
    next request on it would wait for a socket nobody reads."""
    body = b"b" * (HIGH_WATER + 4096)

    async def handler(peer: Peer) -> None:
        while True:
            await peer.read_request()
            await peer.send(response(body=body if peer.index == 0 else b"next"))

    async with raw_server(handler) as server:
        resp = await fetch(pool, server.origin)
        conn = resp._conn  # the precondition is internal state
        assert conn is not None
        await wait_until(lambda: conn.complete)
        assert conn.complete and conn._read_paused  # the state under test
        await resp.aclose()  # abandoned unread, as by a client that went away
        assert pool.stats()["idle"] == 0
        assert await read_all(await fetch(pool, server.origin)) == b"next"
        assert server.accepted == 2


async def _fresh_pool(test: Callable[..., Awaitable[None]], *args: str) -> None:
    pool = UpstreamPool()
    try:
        await test(pool, *args)
    finally:
        await pool.aclose()


@pytest.mark.parametrize(
    ("test", "args"),
    [
        (test_bytes_after_the_response_drop_the_connection, ("two_responses", "same_write")),
        (
            test_bytes_after_the_response_drop_the_connection,
            ("after_content_length", "while_pooled"),
        ),
        (test_stray_bytes_split_at_every_byte, ()),
        (test_abandoned_response_paused_above_high_water_is_not_pooled, ()),
    ],
    ids=["two_responses", "after_length_while_pooled", "split", "paused"],
)
def test_on_uvloop(test: Callable[..., Awaitable[None]], args: tuple[str, ...]) -> None:
    """The production loop: its transports and flow control are uvloop's own."""
    uvloop = pytest.importorskip("uvloop")
    uvloop.run(_fresh_pool(test, *args))


@pytest.mark.parametrize(
    ("method", "wire"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
        ("HEAD", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n"),
    ],
)
async def test_announced_body_sent_after_reuse_never_answers_the_next_request(
    pool: UpstreamPool, method: str, wire: bytes
) -> None:
    # The upstream holds the announced body back until the connection carries the next
    # request: bytes then indistinguishable from that request's response. A response
    # that has no body but announces one therefore never leaves its connection reusable.
    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.read_request()
            await peer.send(wire)
            await peer.read_request()
            await peer.send(b"hello" + SMUGGLED)
            return
        while True:
            await peer.read_request()
            await peer.send(response(body=b"next"))

    async with raw_server(handler) as server:
        first = await pool.request(server.origin, method, b"/", HOST, timeouts=QUICK)
        assert await read_all(first) == b""
        second = await pool.request(server.origin, "GET", b"/", HOST, timeouts=QUICK)
        assert (second.status, await read_all(second)) == (200, b"next")
    assert pool.stats()["created"] == 2
