"""Bearer authentication of real ID tokens from a real OpenID provider process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from proxy.authn.bearer import BearerAuthenticator, extract_bearer
from proxy.authn.errors import AuthError
from proxy.config.schema import Bearer
from tests.oidc_server import OidcProvider, oidc_provider


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def test_real_id_token_via_discovery(idp: OidcProvider, http: httpx.AsyncClient) -> None:
    authn = BearerAuthenticator([Bearer(issuer=idp.issuer, audiences=("edgeward",))], http)
    token = idp.id_token("alice")
    header = [(b"authorization", f"Bearer {token}".encode())]
    identity = await authn.authenticate(extract_bearer(header) or "")
    assert identity.subject == "alice" and identity.email == "alice@example.com"
    assert identity.groups == ("admins", "staff") and identity.name == "Alice"
    assert identity.issuer == idp.issuer
    assert authn.jwks[idp.issuer].refreshes == {"success": 1}


async def test_real_token_for_another_client(idp: OidcProvider, http: httpx.AsyncClient) -> None:
    authn = BearerAuthenticator([Bearer(issuer=idp.issuer, audiences=("edgeward",))], http)
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(idp.id_token("bob", client_id="someone-else"))
    assert exc.value.code == "bad_audience"


async def test_real_token_with_explicit_jwks_uri_and_wrong_issuer_slash(
    idp: OidcProvider, http: httpx.AsyncClient
) -> None:
    config = Bearer(issuer=idp.issuer + "/", audiences=("edgeward",), jwks_uri=idp.jwks_uri)
    authn = BearerAuthenticator([config], http)
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(idp.id_token("alice"))
    assert exc.value.code == "unknown_issuer"
