"""Upstream client: request framing, request bodies and keep-alive reuse, against real
servers on loopback (uvicorn apps and raw asyncio servers)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from proxy.upstream import (
    Origin,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamRequestError,
)
from tests.harness import (
    Peer,
    keep_alive_handler,
    raw_server,
    read_all,
    response,
    serve_asgi,
    wait_until,
)


async def echo_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Answers with what it received: framing headers, body length and SHA-256."""
    digest, size = hashlib.sha256(), 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        digest.update(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            break
    headers = dict(scope["headers"])
    result = {
        "size": size,
        "sha256": digest.hexdigest(),
        "te": headers.get(b"transfer-encoding", b"").decode(),
        "cl": headers.get(b"content-length", b"").decode(),
        "host": headers.get(b"host", b"").decode(),
        "path": scope["raw_path"].decode(),
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": orjson.dumps(result)})


@pytest.fixture(scope="module")
def echo_origin() -> Iterator[Origin]:
    with serve_asgi(echo_app) as url:
        yield Origin.parse(url)


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_origin_parse_and_authority() -> None:
    assert Origin.parse("http://127.0.0.1:9000") == Origin("http", "127.0.0.1", 9000)
    assert Origin.parse("https://Example.COM") == Origin("https", "example.com", 443)
    assert Origin.parse("http://example.com:80").authority == "example.com"
    assert Origin.parse("https://example.com:8443").authority == "example.com:8443"
    assert Origin.parse("http://[::1]:81").authority == "[::1]:81"
    with pytest.raises(ValueError):
        Origin.parse("ftp://example.com")


async def test_get_and_keep_alive_reuse(pool: UpstreamPool, echo_origin: Origin) -> None:
    for _ in range(3):
        resp = await pool.request(echo_origin, "GET", b"/a?b=1", [(b"Host", b"svc.test")])
        assert resp.status == 200
        assert resp.http_version == "1.1"
        assert all(name == name.lower() for name, _ in resp.headers)
        body = orjson.loads(await read_all(resp))
        assert body == {"size": 0, "sha256": hashlib.sha256().hexdigest(), "te": "", "cl": "",
                        "host": "svc.test", "path": "/a"}  # fmt: skip
    assert pool.stats() == {
        "open": 1,
        "idle": 1,
        "in_use": 0,
        "created": 1,
        "reused": 2,
        "stray": 0,
    }


async def test_chunked_upload_sha256_checked_by_server(
    pool: UpstreamPool, echo_origin: Origin
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    resp = await pool.request(echo_origin, "POST", b"/up", [(b"host", b"x")], chunks(data, 65_000))
    result = orjson.loads(await read_all(resp))
    assert result["te"] == "chunked" and result["cl"] == ""
    assert result["size"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert pool.stats()["idle"] == 1  # a fully sent chunked request keeps the connection


async def test_content_length_upload(pool: UpstreamPool, echo_origin: Origin) -> None:
    data = os.urandom(100_000)
    resp = await pool.request(
        echo_origin, "PUT", b"/up", [(b"host", b"x")], chunks(data, 4096), content_length=len(data)
    )
    result = orjson.loads(await read_all(resp))
    assert (result["cl"], result["te"]) == (str(len(data)), "")
    assert result["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("actual", [9, 11])
async def test_body_length_mismatch_closes_connection(
    pool: UpstreamPool, echo_origin: Origin, actual: int
) -> None:
    with pytest.raises(UpstreamRequestError) as info:
        await pool.request(
            echo_origin,
            "POST",
            b"/",
            [(b"host", b"x")],
            chunks(b"x" * actual, 4),
            content_length=10,
        )
    assert info.value.code == "request_body_length"
    assert pool.stats()["open"] == 0


async def test_caller_framing_headers_are_not_duplicated(pool: UpstreamPool) -> None:
    seen: list[bytes] = []

    async def handler(peer: Peer) -> None:
        request = await peer.read_request()
        seen.append(request.head)
        await peer.send(response())

    async with raw_server(handler) as server:
        resp = await pool.request(
            server.origin,
            "POST",
            b"/",
            [(b"host", b"x"), (b"Content-Length", b"99"), (b"transfer-encoding", b"gzip")],
            chunks(b"abc", 1),
            content_length=3,
        )
        await read_all(resp)
    assert seen[0].lower().count(b"content-length") == 1
    assert b"content-length: 3\r\n" in seen[0].lower()
    assert b"transfer-encoding" not in seen[0].lower()


@pytest.mark.parametrize(
    "headers",
    [[(b"host", b"x"), (b"x-a", b"1\r\nx-b: 2")], [(b"host", b"x\n")], [(b"x\0", b"1")]],
)
async def test_header_injection_refused(
    pool: UpstreamPool, echo_origin: Origin, headers: list[tuple[bytes, bytes]]
) -> None:
    with pytest.raises(UpstreamRequestError):
        await pool.request(echo_origin, "GET", b"/", headers)
    assert pool.stats()["created"] == 0


async def test_server_connection_close_is_honoured(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response(extra=b"connection: close\r\n"))
        # Keep the socket open: only the header may make the client stop reusing it.
        await peer.reader.read()

    async with raw_server(handler) as server:
        for _ in range(2):
            await read_all(await pool.request(server.origin, "GET", b"/", [(b"host", b"x")]))
        assert server.accepted == 2
    assert pool.stats()["reused"] == 0


@pytest.mark.parametrize(("extra", "reused"), [(b"", 0), (b"connection: keep-alive\r\n", 1)])
async def test_http10_keep_alive_only_when_asked(
    pool: UpstreamPool, extra: bytes, reused: int
) -> None:
    async def handler(peer: Peer) -> None:
        while True:
            await peer.read_request()
            await peer.send(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n%s\r\nok" % extra)

    async with raw_server(handler) as server:
        for _ in range(2):
            resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
            assert resp.http_version == "1.0"
            assert await read_all(resp) == b"ok"
    assert pool.stats()["reused"] == reused


async def test_server_closing_idle_connection_is_detected(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response())  # no "connection: close", then close anyway
        peer.writer.close()

    async with raw_server(handler) as server:
        await read_all(await pool.request(server.origin, "GET", b"/", [(b"host", b"x")]))
        await wait_until(lambda: pool.stats()["open"] == 0)
        assert pool.stats()["open"] == 0  # dropped from the pool as soon as the FIN came
        resp = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert await read_all(resp) == b"ok"
        assert server.accepted == 2


async def stale_after_first(peer: Peer) -> None:
    """First request answered; the next one on the same connection gets a bare close."""
    await peer.read_request()
    await peer.send(response(body=b"conn%d" % peer.index))
    await peer.read_request(with_body=False)
    peer.writer.close()


async def test_reused_connection_closed_by_server_is_retried_once(pool: UpstreamPool) -> None:
    async with raw_server(stale_after_first) as server:
        first = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert await read_all(first) == b"conn0"
        second = await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert await read_all(second) == b"conn1"
    assert pool.stats()["created"] == 2


async def test_request_with_body_is_not_retried(pool: UpstreamPool) -> None:
    async with raw_server(stale_after_first) as server:
        await read_all(await pool.request(server.origin, "GET", b"/", [(b"host", b"x")]))
        with pytest.raises(UpstreamConnectError) as info:
            await pool.request(server.origin, "POST", b"/", [(b"host", b"x")], chunks(b"a", 1))
        assert info.value.before_response
    assert pool.stats()["created"] == 1


async def test_fresh_connection_eof_is_not_retried(pool: UpstreamPool) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        peer.writer.close()

    async with raw_server(handler) as server:
        with pytest.raises(UpstreamConnectError) as info:
            await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
        assert info.value.code == "upstream_closed"
        assert server.accepted == 1


async def test_idle_connections_expire() -> None:
    pool = UpstreamPool(idle_timeout=0.2)
    try:
        async with raw_server(keep_alive_handler) as server:
            await read_all(await pool.request(server.origin, "GET", b"/", [(b"host", b"x")]))
            assert pool.stats()["idle"] == 1
            await wait_until(lambda: pool.stats()["open"] == 0, timeout=3)
            assert pool.stats()["open"] == 0
    finally:
        await pool.aclose()


async def test_max_idle_and_concurrent_requests() -> None:
    pool = UpstreamPool(max_idle=2)
    gate = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await gate.wait()
        await peer.send(response())

    try:
        async with raw_server(handler) as server:
            tasks = [
                asyncio.create_task(pool.request(server.origin, "GET", b"/", [(b"host", b"x")]))
                for _ in range(5)
            ]
            await wait_until(lambda: server.accepted == 5)
            gate.set()
            for resp in await asyncio.gather(*tasks):
                await read_all(resp)
            assert pool.stats() == {
                "open": 2,
                "idle": 2,
                "in_use": 0,
                "created": 5,
                "reused": 0,
                "stray": 0,
            }
    finally:
        await pool.aclose()


async def test_pool_limit_queues_then_hands_over() -> None:
    pool = UpstreamPool(max_connections=1)
    try:
        async with raw_server(keep_alive_handler) as server:

            async def one() -> bytes:
                return await read_all(
                    await pool.request(server.origin, "GET", b"/", [(b"host", b"x")])
                )

            bodies = await asyncio.gather(*(one() for _ in range(10)))
            assert bodies == [b"conn0"] * 10
            assert server.accepted == 1
            assert pool.stats()["created"] == 1
    finally:
        await pool.aclose()
