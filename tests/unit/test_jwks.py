"""JwksCache against a real discovery + JWKS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from proxy.authn.errors import AuthError
from proxy.authn.jwks import JwksCache
from tests.oidc_server import KeyServer, new_key


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with KeyServer([new_key("RS256", "rsa-1"), new_key("ES256", "ec-1")]) as ks:
        yield ks


def cache(http: httpx.AsyncClient, server: KeyServer, clock: Clock, **kw: object) -> JwksCache:
    args: dict[str, object] = {"issuer": server.issuer, "jwks_uri": None, "clock": clock}
    return JwksCache(http, **{**args, **kw})  # type: ignore[arg-type]


async def test_discovers_jwks_uri_and_returns_key(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    jwks = cache(http, server, Clock())
    key = await jwks.get("rsa-1", "RS256")
    assert key.kid == "rsa-1" and key.kty == "RSA"
    assert (server.discovery_fetches, server.jwks_fetches) == (1, 1)
    assert jwks.refreshes["success"] == 1


async def test_discovery_issuer_must_match_exactly(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    server.discovery_issuer = server.issuer + "/"
    with pytest.raises(AuthError) as exc:
        await cache(http, server, Clock()).get("rsa-1", "RS256")
    assert exc.value.code == "jwks_unavailable"
    assert server.jwks_fetches == 0


async def test_keys_are_cached_for_ttl(http: httpx.AsyncClient, server: KeyServer) -> None:
    clock = Clock()
    jwks = cache(http, server, clock, jwks_uri=server.jwks_uri, ttl=300)
    await jwks.get("rsa-1", "RS256")
    clock.now += 299
    await jwks.get("ec-1", "ES256")
    assert server.jwks_fetches == 1
    clock.now += 2
    await jwks.get("rsa-1", "RS256")
    assert server.jwks_fetches == 2


async def test_unknown_kid_refetches_once_then_rate_limits(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    clock = Clock()
    jwks = cache(http, server, clock, min_refetch_interval=10)
    await jwks.get("rsa-1", "RS256")
    rotated = new_key("RS256", "rsa-2")
    server.publish([*server.keys, rotated])
    clock.now += 1  # a fetch 1 s ago: still within the interval, no refetch
    with pytest.raises(AuthError) as exc:
        await jwks.get("rsa-2", "RS256")
    assert exc.value.code == "unknown_kid" and server.jwks_fetches == 1
    clock.now += 10
    assert (await jwks.get("rsa-2", "RS256")).kid == "rsa-2"
    assert server.jwks_fetches == 2


async def test_concurrent_misses_share_one_fetch(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    jwks = cache(http, server, Clock(), jwks_uri=server.jwks_uri)
    results = await asyncio.gather(
        *(jwks.get("nope", "RS256") for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, AuthError) and r.code == "unknown_kid" for r in results)
    assert server.jwks_fetches == 1


async def test_idp_down_keeps_last_good_keys(http: httpx.AsyncClient, server: KeyServer) -> None:
    clock = Clock()
    jwks = cache(http, server, clock, jwks_uri=server.jwks_uri, ttl=300, max_stale=3600)
    await jwks.get("rsa-1", "RS256")
    server.stop()
    clock.now += 301  # past the TTL: a refresh is tried, fails, old keys serve
    assert (await jwks.get("rsa-1", "RS256")).kid == "rsa-1"
    assert jwks.refreshes == {"success": 1, "error": 1}
    clock.now += 3600  # past ttl + max_stale: the stale keys are dropped
    with pytest.raises(AuthError) as exc:
        await jwks.get("rsa-1", "RS256")
    assert exc.value.code == "jwks_unavailable"


async def test_idp_down_without_keys_fails_closed(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    server.stop()
    jwks = cache(http, server, Clock())
    with pytest.raises(AuthError) as exc:
        await jwks.get("rsa-1", "RS256")
    assert exc.value.code == "jwks_unavailable" and exc.value.status == 503
    with pytest.raises(AuthError):
        await jwks.refresh()


async def test_idp_back_up_recovers(http: httpx.AsyncClient, server: KeyServer) -> None:
    clock = Clock()
    server.stop()
    jwks = cache(http, server, clock, jwks_uri=server.jwks_uri, min_refetch_interval=10)
    with pytest.raises(AuthError):
        await jwks.get("rsa-1", "RS256")
    server.start()
    clock.now += 11
    assert (await jwks.get("rsa-1", "RS256")).kid == "rsa-1"


async def test_on_refresh_callback_sees_issuer_and_result(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    seen: list[tuple[str, str]] = []
    jwks = cache(http, server, Clock(), on_refresh=lambda iss, result: seen.append((iss, result)))
    await jwks.refresh()
    assert seen == [(server.issuer, "success")]


@pytest.mark.parametrize(
    ("kid", "alg"),
    [
        ("rsa-1", "ES256"),  # RSA key, EC algorithm
        ("ec-1", "RS256"),  # EC key, RSA algorithm
        ("ec-1", "ES384"),  # P-256 key, P-384 algorithm
        ("rs512-only", "RS256"),  # key pinned to RS512 by its "alg"
        ("enc-key", "RS256"),  # use: enc
        ("verify-less", "RS256"),  # key_ops without verify
        ("hmac", "HS256"),  # symmetric keys are never loaded
        ("hmac", "RS256"),
    ],
)
async def test_only_keys_usable_for_the_alg(
    http: httpx.AsyncClient, server: KeyServer, kid: str, alg: str
) -> None:
    rsa = new_key("RS256").public_jwk()
    server.extra_jwks = [
        {**rsa, "kid": "rs512-only", "alg": "RS512"},
        {**rsa, "kid": "enc-key", "use": "enc"},
        {**rsa, "kid": "verify-less", "key_ops": ["encrypt"]},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
    ]
    jwks = cache(http, server, Clock(), jwks_uri=server.jwks_uri)
    with pytest.raises(AuthError) as exc:
        await jwks.get(kid, alg)
    assert exc.value.code == "unknown_kid"
    assert (await jwks.get("rs512-only", "RS512")).alg == "RS512"


async def test_missing_kid_needs_an_unambiguous_key(
    http: httpx.AsyncClient, server: KeyServer
) -> None:
    jwks = cache(http, server, Clock(), jwks_uri=server.jwks_uri)
    assert (await jwks.get(None, "ES256")).kid == "ec-1"
    server.publish([*server.keys, new_key("ES256", "ec-2")])
    jwks = cache(http, server, Clock(), jwks_uri=server.jwks_uri)
    with pytest.raises(AuthError) as exc:
        await jwks.get(None, "ES256")
    assert exc.value.code == "unknown_kid"


async def test_garbage_jwks_counts_as_error(http: httpx.AsyncClient, server: KeyServer) -> None:
    server.publish([])
    server.extra_jwks = [{"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"}, {"kty": 5}]
    jwks = cache(http, server, Clock(), jwks_uri=server.jwks_uri)
    with pytest.raises(AuthError) as exc:
        await jwks.get("short", "RS256")
    assert exc.value.code == "jwks_unavailable"
    assert jwks.refreshes["error"] == 1
