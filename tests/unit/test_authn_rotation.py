"""Bearer tokens across key rotation and IdP outages (real JWKS server, restarted)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from proxy.authn.bearer import BearerAuthenticator
from proxy.authn.errors import AuthError
from proxy.config.schema import Bearer
from tests.oidc_server import KeyServer, new_key

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with KeyServer([new_key("ES256", "old")]) as ks:
        yield ks


def authenticator(
    server: KeyServer,
    http: httpx.AsyncClient,
    monotonic: Clock,
    *,
    jwks_uri: bool = False,
    wall: Clock | None = None,
    previous: BearerAuthenticator | None = None,
) -> BearerAuthenticator:
    config = Bearer(
        issuer=server.issuer,
        audiences=("api://orders",),
        jwks_uri=server.jwks_uri if jwks_uri else None,
    )
    return BearerAuthenticator(
        [config],
        http,
        clock=wall or Clock(NOW),
        monotonic=monotonic,
        jwks_ttl=300,
        previous=previous,
    )


async def test_rotated_key_is_fetched_once(server: KeyServer, http: httpx.AsyncClient) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    await authn.authenticate(server.sign(server.claims(NOW)))
    assert server.jwks_fetches == 1
    rotated = new_key("EdDSA", "new")
    server.publish([rotated])
    monotonic.now += 11  # beyond the refetch interval, within the TTL
    tokens = [server.sign(server.claims(NOW, sub=f"u{i}"), rotated) for i in range(5)]
    for token in tokens:
        assert (await authn.authenticate(token)).subject.startswith("u")
    assert server.jwks_fetches == 2


async def test_idp_down_with_cached_keys_still_verifies(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    await authn.authenticate(server.sign(server.claims(NOW)))
    server.stop()
    monotonic.now += 301  # keys past their TTL; the refresh fails
    identity = await authn.authenticate(server.sign(server.claims(NOW, sub="later")))
    assert identity.subject == "later"
    assert authn.jwks[server.issuer].refreshes == {"success": 1, "error": 1}


async def test_idp_down_without_keys_is_jwks_unavailable(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    token = server.sign(server.claims(NOW))
    server.stop()
    authn = authenticator(server, http, Clock(0), jwks_uri=True)
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(token)
    assert exc.value.code == "jwks_unavailable"


# --- a cached token dies with its key --------------------------------------------------


async def cached(authn: BearerAuthenticator, token: str) -> None:
    """Verify ``token`` and check that a second call is answered from the cache."""
    first = await authn.authenticate(token)
    assert await authn.authenticate(token) is first


async def refused(authn: BearerAuthenticator, token: str) -> str:
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(token)
    return exc.value.code


async def test_cached_token_is_refused_once_its_key_is_dropped(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    old_token = server.sign(server.claims(NOW))
    await cached(authn, old_token)
    rotated = new_key("EdDSA", "new")
    server.publish([rotated])  # the IdP drops "old" (say it leaked)
    monotonic.now += 11
    # A token with the new kid makes the proxy refetch the key set.
    await authn.authenticate(server.sign(server.claims(NOW, sub="u1"), rotated))
    assert server.jwks_fetches == 2
    assert await refused(authn, old_token) == "unknown_kid"


async def test_cached_token_is_refused_after_a_ttl_refetch_drops_its_key(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    old_key = server.keys[0]
    old_token = server.sign(server.claims(NOW))
    await cached(authn, old_token)
    rotated = new_key("ES256", "new")
    server.publish([rotated, old_key])  # rotation starts: both published
    monotonic.now += 301
    await authn.authenticate(server.sign(server.claims(NOW, sub="u1"), rotated))
    await cached(authn, old_token)  # the key is still published: still cached
    server.publish([rotated])
    monotonic.now += 301  # the next TTL refetch, driven by any uncached token
    await authn.authenticate(server.sign(server.claims(NOW, sub="u2"), rotated))
    assert server.jwks_fetches == 3
    assert await refused(authn, old_token) == "unknown_kid"


async def test_cached_token_is_refused_when_its_kid_names_other_material(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    old_token = server.sign(server.claims(NOW))
    await cached(authn, old_token)
    impostor = new_key("ES256", "old")  # same kid, new key pair
    server.publish([impostor])
    monotonic.now += 301
    await authn.authenticate(server.sign(server.claims(NOW, sub="u1"), impostor))
    assert await refused(authn, old_token) == "bad_signature"


async def test_unchanged_refetch_keeps_cached_tokens(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    authn = authenticator(server, http, monotonic)
    token = server.sign(server.claims(NOW))
    first = await authn.authenticate(token)
    monotonic.now += 301  # TTL refetch of the very same key set
    await authn.authenticate(server.sign(server.claims(NOW, sub="u1")))
    assert server.jwks_fetches == 2
    assert await authn.authenticate(token) is first  # no second verification


async def test_cached_token_alone_is_refused_within_a_ttl_of_its_key_being_dropped(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    # No other token arrives to drive a refetch: the cached token itself is verified
    # again once the key set's TTL has passed, and that refetch finds its key gone.
    monotonic, wall = Clock(0), Clock(NOW)
    authn = authenticator(server, http, monotonic, wall=wall)
    token = server.sign(server.claims(NOW, exp=int(NOW) + 3600))
    await cached(authn, token)
    server.publish([new_key("EdDSA", "new")])
    monotonic.now += 200
    wall.now += 200
    await cached(authn, token)  # within the TTL: still the cached answer, no fetch
    assert server.jwks_fetches == 1
    monotonic.now += 101
    wall.now += 101
    assert await refused(authn, token) == "unknown_kid"
    assert server.jwks_fetches == 2


async def test_key_cache_kept_across_a_reload_prunes_the_new_token_cache(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    before = authenticator(server, http, monotonic)
    old_token = server.sign(server.claims(NOW))
    await cached(before, old_token)
    after = authenticator(server, http, monotonic, previous=before)  # a config reload
    await cached(after, old_token)
    after.take_over_key_caches()  # the reload swapped it in
    assert server.jwks_fetches == 1  # the reloaded authenticator kept the fetched keys
    rotated = new_key("EdDSA", "new")
    server.publish([rotated])
    monotonic.now += 11
    await after.authenticate(server.sign(server.claims(NOW, sub="u1"), rotated))
    assert server.jwks_fetches == 2
    assert await refused(after, old_token) == "unknown_kid"


async def test_a_reload_refused_half_way_leaves_the_running_token_cache_pruned(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    monotonic = Clock(0)
    running = authenticator(server, http, monotonic)
    old_token = server.sign(server.claims(NOW))
    await cached(running, old_token)
    # A reload builds a successor that shares the key cache, then fails later on
    # (say a signing key file is unreadable): the successor never serves.
    authenticator(server, http, monotonic, previous=running)
    rotated = new_key("EdDSA", "new")
    server.publish([rotated])
    monotonic.now += 11
    await running.authenticate(server.sign(server.claims(NOW, sub="u1"), rotated))
    assert await refused(running, old_token) == "unknown_kid"
