"""Bearer tokens verified by PyJWT: one PyJWK per key and algorithm, its refusals in our codes.

Tokens are signed by keys a real JWKS server on loopback publishes
(tests.oidc_server.KeyServer); time comes from an injected clock.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from proxy.authn.bearer import BearerAuthenticator
from proxy.authn.errors import AuthError
from proxy.authn.keys import parse_jwk
from proxy.config.schema import Bearer
from tests.oidc_server import KeyServer, SigningKey, new_key

NOW = 1_700_000_000.0
AUDIENCE = "api://orders"


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return new_key("RS256", "rsa-any")


@pytest.fixture(scope="module")
def ed_key() -> SigningKey:
    return new_key("EdDSA", "ed")


@pytest.fixture(scope="module")
def server(rsa_key: SigningKey, ed_key: SigningKey) -> Iterator[KeyServer]:
    with KeyServer([rsa_key, ed_key]) as ks:
        yield ks


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2) as client:
        yield client


def authenticator(server: KeyServer, http: httpx.AsyncClient, *algs: str) -> BearerAuthenticator:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,), algorithms=algs, leeway=30)
    return BearerAuthenticator([config], http, clock=lambda: NOW)


async def refusal(authn: BearerAuthenticator, token: str) -> str:
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(token)
    return exc.value.code


async def test_one_rsa_key_verifies_every_configured_rsa_algorithm(
    server: KeyServer, http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    # The JWK names no alg, so the key may verify RS* and PS* (RFC 7517 §4.4);
    # PyJWT binds one algorithm per PyJWK, so each needs its own.
    authn = authenticator(server, http, "RS256", "PS256", "RS512")
    for alg in ("RS256", "PS256", "RS512"):
        token = jwt.encode(
            server.claims(NOW, jti=alg), rsa_key.private, algorithm=alg, headers={"kid": "rsa-any"}
        )
        assert (await authn.authenticate(token)).subject == "client-1", alg
    # Signed PS256 but labelled RS256: verified as RS256, so it fails.
    pss = jwt.encode(
        server.claims(NOW, jti="x"), rsa_key.private, algorithm="PS256", headers={"kid": "rsa-any"}
    )
    _, payload, signature = pss.split(".")
    relabelled = f"{b64({'alg': 'RS256', 'kid': 'rsa-any', 'typ': 'JWT'})}.{payload}.{signature}"
    assert await refusal(authn, relabelled) == "bad_signature"


async def test_fully_specified_ed25519_name(
    server: KeyServer, http: httpx.AsyncClient, ed_key: SigningKey
) -> None:
    # RFC 9864 "Ed25519": PyJWT knows the algorithm only as EdDSA.
    assert isinstance(ed_key.private, ed25519.Ed25519PrivateKey)
    signing_input = f"{b64({'alg': 'Ed25519', 'kid': 'ed'})}.{b64(server.claims(NOW))}"
    token = f"{signing_input}.{b64(ed_key.private.sign(signing_input.encode()))}"
    authn = authenticator(server, http, "Ed25519")
    assert (await authn.authenticate(token)).subject == "client-1"
    eddsa = server.sign(server.claims(NOW), ed_key)
    assert await refusal(authn, eddsa) == "alg_not_allowed"


@pytest.mark.parametrize(
    ("jti", "code"), [("token-1", None), (7, "invalid_claim"), (["a"], "invalid_claim")]
)
async def test_jti_must_be_a_string(
    server: KeyServer, http: httpx.AsyncClient, ed_key: SigningKey, jti: object, code: str | None
) -> None:
    # RFC 7519 §4.1.7: jti is a case-sensitive string; PyJWT refuses anything else.
    authn = authenticator(server, http, "EdDSA")
    token = server.sign(server.claims(NOW, jti=jti), ed_key)
    if code is None:
        assert (await authn.authenticate(token)).subject == "client-1"
    else:
        assert await refusal(authn, token) == code


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": None, "aud": "api://other"}, "bad_audience"),  # our order, not PyJWT's
        ({"exp": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        ({"aud": None}, "bad_audience"),
        ({"sub": 5}, "invalid_claim"),
    ],
)
async def test_pyjwt_claim_refusals_keep_our_codes(
    server: KeyServer,
    http: httpx.AsyncClient,
    ed_key: SigningKey,
    overrides: dict[str, Any],
    code: str,
) -> None:
    authn = authenticator(server, http, "EdDSA")
    assert await refusal(authn, server.sign(server.claims(NOW, **overrides), ed_key)) == code


def test_a_private_jwk_verifies_with_its_public_half_only(rsa_key: SigningKey) -> None:
    # A JWKS must not carry private members; if one does, PyJWT is never handed them.
    assert isinstance(rsa_key.private, rsa.RSAPrivateKey)
    private_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.private))
    assert "d" in private_jwk
    private_jwk.pop("key_ops")  # PyJWT marks it ["sign"]
    key = parse_jwk({**private_jwk, "kid": "leaked"})
    assert sorted(key.verifiers) == ["PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]
    assert all(isinstance(v.key, rsa.RSAPublicKey) for v in key.verifiers.values())


async def test_non_canonical_base64_signature_is_refused(
    server: KeyServer, http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    # A 256-byte RS256 signature ends in a character with 4 unused bits; setting
    # them spells the same bytes differently (RFC 4648 §3.5). PyJWT refuses the
    # non-canonical form, so a token has exactly one accepted spelling.
    authn = authenticator(server, http, "RS256")
    token = jwt.encode(
        server.claims(NOW), rsa_key.private, algorithm="RS256", headers={"kid": "rsa-any"}
    )
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    assert last & 0b1111 == 0  # canonical: the unused bits are zero
    respelled = token[:-1] + alphabet[last | 0b0001]
    assert base64.urlsafe_b64decode(respelled.rsplit(".", 1)[1] + "==") == (
        base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
    )
    assert await refusal(authn, respelled) == "malformed_token"
    assert (await authn.authenticate(token)).subject == "client-1"
