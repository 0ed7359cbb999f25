"""Bearer tokens across key rotation and IdP outages (real JWKS server, restarted)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

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


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2) as client:
        yield client


def authenticator(
    server: KeyServer, http: httpx.AsyncClient, monotonic: Clock, *, jwks_uri: bool = False
) -> BearerAuthenticator:
    config = Bearer(
        issuer=server.issuer,
        audiences=("api://orders",),
        jwks_uri=server.jwks_uri if jwks_uri else None,
    )
    return BearerAuthenticator([config], http, clock=Clock(NOW), monotonic=monotonic, jwks_ttl=300)


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
