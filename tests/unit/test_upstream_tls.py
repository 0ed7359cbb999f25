"""Upstream client over TLS: verification on by default, SNI, trust via ssl_context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.upstream import Origin, UpstreamConnectError, UpstreamPool
from tests.harness import (
    Authority,
    Peer,
    make_authority,
    raw_server,
    read_all,
    response,
    serve_asgi,
)


async def hello_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"secure " + scope["scheme"].encode()})


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def tls_origin(authority: Authority) -> Iterator[Origin]:
    with serve_asgi(
        hello_app, ssl_certfile=str(authority.cert_file), ssl_keyfile=str(authority.key_file)
    ) as url:
        yield Origin.parse(url.replace("http://", "https://"))


async def test_untrusted_certificate_is_refused_by_default(tls_origin: Origin) -> None:
    pool = UpstreamPool()
    try:
        with pytest.raises(UpstreamConnectError) as info:
            await pool.request(tls_origin, "GET", b"/", [(b"host", b"x")])
        assert info.value.code == "upstream_tls_verify"
        assert pool.stats()["open"] == 0
    finally:
        await pool.aclose()


async def test_trusted_ca_works_and_keeps_alive(tls_origin: Origin, authority: Authority) -> None:
    pool = UpstreamPool(ssl_context=authority.client_context())
    try:
        for _ in range(2):
            resp = await pool.request(tls_origin, "GET", b"/", [(b"host", b"x")])
            assert await read_all(resp) == b"secure https"
        assert pool.stats()["created"] == 1
    finally:
        await pool.aclose()


async def test_sni_and_hostname_check(authority: Authority) -> None:
    names: list[str | None] = []
    server_context = authority.server_context()
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,func-returns-value]

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response())

    pool = UpstreamPool(ssl_context=authority.client_context())
    try:
        async with raw_server(handler, ssl_context=server_context) as server:
            origin = Origin("https", "localhost", server.origin.port)
            assert (
                await read_all(await pool.request(origin, "GET", b"/", [(b"host", b"x")])) == b"ok"
            )
            assert names == ["localhost"]
    finally:
        await pool.aclose()


async def test_certificate_for_another_name_is_refused(tmp_path: Path) -> None:
    other = make_authority(tmp_path, names=("other.test",))

    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(response())

    pool = UpstreamPool(ssl_context=other.client_context())  # trusted CA, wrong name
    try:
        async with raw_server(handler, ssl_context=other.server_context()) as server:
            with pytest.raises(UpstreamConnectError) as info:
                await pool.request(Origin("https", "127.0.0.1", server.origin.port),
                                   "GET", b"/", [(b"host", b"x")])  # fmt: skip
            assert info.value.code == "upstream_tls_verify"
    finally:
        await pool.aclose()
