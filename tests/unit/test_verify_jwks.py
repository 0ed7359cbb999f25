"""The verifier's JWKS: fetched from a real server, refreshed on rotation, fail closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from proxy import wire
from proxy.identity import Identity
from proxy.signing import AssertionMinter, KeySet, RequestSigner
from proxy.verify import VerificationError, Verifier
from tests.harness import free_port, serve_asgi

ISSUER = "https://proxy.test"
AUDIENCE = "http://backend.test"
ALICE = Identity(subject="alice", auth="session")


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class JwksApp:
    """Serves ``document`` at /jwks.json and counts the requests."""

    def __init__(self) -> None:
        self.document = b'{"keys": []}'
        self.status = 200
        self.hits = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http" and scope["path"] == "/jwks.json"
        self.hits += 1
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": self.document})


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[JwksApp, str]]:
    app = JwksApp()
    with serve_asgi(app) as url:
        yield app, f"{url}/jwks.json"


def request_from(
    keyset: KeySet, clock: Clock, rid: str
) -> tuple[str, str, str, str, list[tuple[str, str]], None]:
    fields = {
        wire.REQUEST_ID_HEADER: rid,
        wire.ASSERTION_HEADER: AssertionMinter(keyset, ISSUER, clock=clock).mint(
            ALICE, AUDIENCE, rid
        ),
    }
    sig = RequestSigner(keyset.signing, clock=clock).sign(
        "GET", "backend.test", "/", "?", fields, public=False, body_covered=None
    )
    headers = [*fields.items(), *[(k.decode(), v.decode()) for k, v in sig]]
    return ("GET", "backend.test", "/", "?", headers, None)


async def test_rotation_refetches_on_unknown_kid(
    jwks_server: tuple[JwksApp, str], http: httpx.AsyncClient
) -> None:
    app, url = jwks_server
    old, new = KeySet.ephemeral(), KeySet.ephemeral()
    app.document, app.hits = old.jwks_document(), 0
    clock = Clock()
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, http=http, clock=clock)
    assert await verifier.verify(*request_from(old, clock, "r1")) is not None
    assert await verifier.verify(*request_from(old, clock, "r2")) is not None
    assert app.hits == 1  # cached

    # The proxy rotates: the new key signs and the JWKS publishes both.
    app.document = KeySet([new.signing, old.signing]).jwks_document()
    clock.now += 1  # within the refresh interval: no second fetch yet
    with pytest.raises(VerificationError) as caught:
        await verifier.verify(*request_from(new, clock, "r3"))
    assert caught.value.code == "unknown_key" and app.hits == 1

    clock.now += 5  # past the refresh interval: the unknown kid triggers a refetch
    assert await verifier.verify(*request_from(new, clock, "r4")) is not None
    assert await verifier.verify(*request_from(old, clock, "r5")) is not None
    assert app.hits == 2


async def test_bogus_kids_cannot_hammer_the_jwks(
    jwks_server: tuple[JwksApp, str], http: httpx.AsyncClient
) -> None:
    app, url = jwks_server
    trusted, stranger = KeySet.ephemeral(), KeySet.ephemeral()
    app.document, app.hits = trusted.jwks_document(), 0
    clock = Clock()
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, http=http, clock=clock)
    for i in range(20):
        with pytest.raises(VerificationError, match="unknown_key"):
            await verifier.verify(*request_from(stranger, clock, f"r{i}"))
    assert app.hits == 1


async def test_unreachable_jwks_fails_closed(http: httpx.AsyncClient) -> None:
    keyset, clock = KeySet.ephemeral(), Clock()
    url = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, http=http, clock=clock)
    with pytest.raises(VerificationError) as caught:
        await verifier.verify(*request_from(keyset, clock, "r1"))
    assert caught.value.code == "jwks_unavailable" and caught.value.status == 503


async def test_jwks_server_error_fails_closed(
    jwks_server: tuple[JwksApp, str], http: httpx.AsyncClient
) -> None:
    app, url = jwks_server
    keyset, clock = KeySet.ephemeral(), Clock()
    app.document, app.status, app.hits = b"oops", 500, 0
    try:
        verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, http=http, clock=clock)
        with pytest.raises(VerificationError, match="jwks_unavailable"):
            await verifier.verify(*request_from(keyset, clock, "r1"))
        assert app.hits == 1
    finally:
        app.status = 200


async def test_cached_keys_survive_a_jwks_outage(
    jwks_server: tuple[JwksApp, str], http: httpx.AsyncClient
) -> None:
    app, url = jwks_server
    keyset, clock = KeySet.ephemeral(), Clock()
    app.document, app.hits = keyset.jwks_document(), 0
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=url, http=http, clock=clock)
    assert await verifier.verify(*request_from(keyset, clock, "r1")) is not None
    app.status = 503
    try:
        clock.now += 400  # cache is stale; the refresh fails; the cached key still serves
        assert await verifier.verify(*request_from(keyset, clock, "r2")) is not None
        assert app.hits == 2
    finally:
        app.status = 200
