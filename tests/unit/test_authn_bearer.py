"""Bearer JWT authentication: the valid and forged-token corpus, one row each.

Tokens are signed by keys a real JWKS server on loopback publishes
(tests.oidc_server.KeyServer); time comes from an injected clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from proxy.authn.bearer import BearerAuthenticator
from proxy.authn.errors import AuthError
from proxy.config.schema import Bearer
from tests.oidc_server import KeyServer, SigningKey, new_key

NOW = 1_700_000_000.0
AUDIENCE = "api://orders"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes | str | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def es256(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """A token signed exactly over ``header`` (PyJWT rewrites a "b64" header)."""
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    signing_input = f"{b64({'alg': 'ES256', 'kid': key.kid, **header})}.{b64(claims)}"
    der = key.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {alg: new_key(alg, f"{alg}-key") for alg in ("RS256", "ES256", "EdDSA", "PS256")}


@pytest.fixture(scope="module")
def server(keys: dict[str, SigningKey]) -> Iterator[KeyServer]:
    with KeyServer(list(keys.values())) as ks:
        yield ks


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authn(server: KeyServer, http: httpx.AsyncClient, clock: Clock) -> BearerAuthenticator:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,), leeway=30)
    return BearerAuthenticator([config], http, clock=clock)


async def rejected(authn: BearerAuthenticator, token: str) -> str:
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(token)
    return exc.value.code


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "PS256"])
async def test_valid_token(
    authn: BearerAuthenticator, server: KeyServer, keys: dict[str, SigningKey], alg: str
) -> None:
    claims = server.claims(NOW, name="CI", groups=["a", "b"])
    identity = await authn.authenticate(server.sign(claims, keys[alg]))
    assert identity.subject == "client-1" and identity.auth == "bearer"
    assert identity.email == "ci@example.com" and identity.name == "CI"
    assert identity.groups == ("a", "b") and identity.issuer == server.issuer
    assert identity.expires_at == NOW + 300 and identity.claims["aud"] == AUDIENCE


async def test_alg_none(authn: BearerAuthenticator, server: KeyServer) -> None:
    token = forge({"alg": "none", "typ": "JWT"}, server.claims(NOW))
    assert await rejected(authn, token) == "alg_not_allowed"


def _rsa_public_forms(key: SigningKey) -> dict[str, bytes]:
    public = key.private.public_key()
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(key.public_jwk()).encode(),
    }


@pytest.mark.parametrize("form", ["pem", "der", "jwk"])
async def test_hs256_signed_with_rsa_public_key(
    authn: BearerAuthenticator, server: KeyServer, keys: dict[str, SigningKey], form: str
) -> None:
    secret = _rsa_public_forms(keys["RS256"])[form]
    token = hs256({"alg": "HS256", "kid": "RS256-key"}, server.claims(NOW), secret)
    assert await rejected(authn, token) == "alg_not_allowed"


def test_hs_algorithms_cannot_be_configured(http: httpx.AsyncClient) -> None:
    config = Bearer(issuer="https://idp", audiences=("a",), algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="HS256"):
        BearerAuthenticator([config], http)


async def test_alg_not_configured_for_issuer(
    server: KeyServer, http: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,), algorithms=("ES256",))
    authn = BearerAuthenticator([config], http, clock=Clock())
    token = server.sign(server.claims(NOW), keys["RS256"])
    assert await rejected(authn, token) == "alg_not_allowed"


async def test_alg_of_another_key_type(
    authn: BearerAuthenticator, server: KeyServer, keys: dict[str, SigningKey]
) -> None:
    # An ES256 header naming the RSA key's kid: the key type decides, not the header.
    token = server.sign(server.claims(NOW), keys["ES256"], {"kid": "RS256-key"})
    assert await rejected(authn, token) == "unknown_kid"


@pytest.mark.parametrize(
    "extra",
    [
        {"jwk": {"kty": "oct", "k": "c2VjcmV0"}},
        {"jku": "https://attacker.example/jwks"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIB"]},
    ],
    ids=["jwk", "jku", "x5u", "x5c"],
)
async def test_embedded_key_headers(
    authn: BearerAuthenticator, server: KeyServer, extra: dict[str, Any]
) -> None:
    token = server.sign(server.claims(NOW), headers=extra)
    assert await rejected(authn, token) == "forbidden_header_parameter"


async def test_crit(authn: BearerAuthenticator, server: KeyServer) -> None:
    token = server.sign(server.claims(NOW), headers={"crit": ["exp"], "exp": 1})
    assert await rejected(authn, token) == "unsupported_crit"


async def test_kid_path_traversal(authn: BearerAuthenticator, server: KeyServer) -> None:
    before = server.jwks_fetches
    token = server.sign(server.claims(NOW), headers={"kid": "../../etc/passwd"})
    assert await rejected(authn, token) == "unknown_kid"
    assert server.jwks_fetches - before <= 2  # initial fetch + the one refetch, same URL


async def test_issuer_with_trailing_slash(authn: BearerAuthenticator, server: KeyServer) -> None:
    token = server.sign(server.claims(NOW, iss=server.issuer + "/"))
    assert await rejected(authn, token) == "unknown_issuer"


@pytest.mark.parametrize(
    ("aud", "code"),
    [
        ("api://other", "bad_audience"),
        (["api://other", "api://more"], "bad_audience"),
        (None, "bad_audience"),
        (7, "bad_audience"),
        (["api://other", AUDIENCE], None),
    ],
)
async def test_audience(
    authn: BearerAuthenticator, server: KeyServer, aud: object, code: str | None
) -> None:
    token = server.sign(server.claims(NOW, aud=aud))
    if code is None:
        assert (await authn.authenticate(token)).claims["aud"] == aud
    else:
        assert await rejected(authn, token) == code


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"exp": int(NOW) - 31}, "token_expired"),
        ({"exp": int(NOW) - 29}, None),  # within the 30 s leeway
        ({"nbf": int(NOW) + 60}, "token_not_yet_valid"),
        ({"nbf": int(NOW) + 20}, None),
        ({"iat": int(NOW) + 60}, "token_issued_in_future"),
        ({"exp": str(int(NOW) + 300)}, "invalid_claim"),
        ({"exp": True}, "invalid_claim"),
        ({"exp": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        ({"sub": 42}, "invalid_claim"),
        ({"email": "a@b@c"}, "invalid_claim"),
        ({"email": "@example.com"}, "invalid_claim"),
        ({"groups": 5}, "invalid_claim"),
        ({"groups": ["ok", 5]}, "invalid_claim"),
        ({"name": ["x"]}, "invalid_claim"),
    ],
)
async def test_claims(
    authn: BearerAuthenticator, server: KeyServer, overrides: dict[str, Any], code: str | None
) -> None:
    token = server.sign(server.claims(NOW, **overrides))
    if code is None:
        assert (await authn.authenticate(token)).subject == "client-1"
    else:
        assert await rejected(authn, token) == code


async def test_groups_string_is_one_group(authn: BearerAuthenticator, server: KeyServer) -> None:
    identity = await authn.authenticate(server.sign(server.claims(NOW, groups="admins")))
    assert identity.groups == ("admins",)


async def test_configured_groups_claim(server: KeyServer, http: httpx.AsyncClient) -> None:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,), groups_claim="roles")
    authn = BearerAuthenticator([config], http, clock=Clock())
    identity = await authn.authenticate(server.sign(server.claims(NOW, roles=["r1"])))
    assert identity.groups == ("r1",)


async def test_huge_token_is_never_parsed(authn: BearerAuthenticator, server: KeyServer) -> None:
    before = server.jwks_fetches
    token = server.sign(server.claims(NOW, pad="x" * 64 * 1024))
    assert len(token) > 64 * 1024
    assert await rejected(authn, token) == "malformed_token"
    assert server.jwks_fetches == before


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d.e", "!!.e30.", "e30.W10.", "e30.e30.%%"]
)
async def test_malformed(authn: BearerAuthenticator, token: str) -> None:
    assert await rejected(authn, token) == "malformed_token"


async def test_tampered_payload(authn: BearerAuthenticator, server: KeyServer) -> None:
    header, _, signature = server.sign(server.claims(NOW)).split(".")
    evil = b64(server.claims(NOW, groups=["admins"]))
    assert await rejected(authn, f"{header}.{evil}.{signature}") == "bad_signature"


async def test_es256_zero_signature(authn: BearerAuthenticator, server: KeyServer) -> None:
    token = forge({"alg": "ES256", "kid": "ES256-key"}, server.claims(NOW), bytes(64))
    assert await rejected(authn, token) == "bad_signature"


def test_cryptography_refuses_r_s_zero(keys: dict[str, SigningKey]) -> None:
    # The "psychic signature" class of bug: r = s = 0 must never verify.
    public = keys["ES256"].private.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        public.verify(encode_dss_signature(0, 0), b"anything", ec.ECDSA(hashes.SHA256()))


async def test_unknown_issuer_among_several(server: KeyServer, http: httpx.AsyncClient) -> None:
    configs = [
        Bearer(issuer="https://idp.example.com", audiences=(AUDIENCE,)),
        Bearer(issuer=server.issuer, audiences=(AUDIENCE,)),
    ]
    authn = BearerAuthenticator(configs, http, clock=Clock())
    assert (await authn.authenticate(server.sign(server.claims(NOW)))).issuer == server.issuer
    token = server.sign(server.claims(NOW, iss="https://evil.example.com"))
    assert await rejected(authn, token) == "unknown_issuer"


async def test_repeated_token_is_served_from_cache(
    authn: BearerAuthenticator, server: KeyServer, clock: Clock
) -> None:
    token = server.sign(server.claims(NOW))
    first = await authn.authenticate(token)
    assert await authn.authenticate(token) is first  # no second verification
    clock.now = NOW + 300 + 31  # past exp + leeway: the hit is refused
    assert await rejected(authn, token) == "token_expired"


async def test_token_cache_is_bounded(server: KeyServer, http: httpx.AsyncClient) -> None:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,))
    authn = BearerAuthenticator([config], http, clock=Clock(), cache_size=2)
    tokens = [server.sign(server.claims(NOW, sub=f"s{i}")) for i in range(3)]
    first = [await authn.authenticate(t) for t in tokens]
    assert await authn.authenticate(tokens[2]) is first[2]
    assert await authn.authenticate(tokens[0]) is not first[0]  # evicted, verified again


async def test_rejected_token_is_not_cached(authn: BearerAuthenticator, server: KeyServer) -> None:
    token = server.sign(server.claims(NOW, aud="api://other"))
    assert await rejected(authn, token) == "bad_audience"
    assert await rejected(authn, token) == "bad_audience"


# --- only a verified email authorises ------------------------------------------------


@pytest.mark.parametrize(
    ("verified", "trusted"),
    [
        (True, True),
        ("true", True),  # some IdPs send the string; it is still the issuer's statement
        (False, False),
        ("false", False),
        ("True", False),
        (1, False),
        ("yes", False),
        (None, False),  # absent
    ],
)
async def test_email_is_trusted_only_when_verified(
    authn: BearerAuthenticator, server: KeyServer, verified: object, trusted: bool
) -> None:
    token = server.sign(server.claims(NOW, email="ceo@example.com", email_verified=verified))
    identity = await authn.authenticate(token)
    expected = ("ceo@example.com", None) if trusted else (None, "ceo@example.com")
    assert (identity.email, identity.unverified_email) == expected


async def test_issuer_may_opt_out_of_email_verified(
    server: KeyServer, http: httpx.AsyncClient
) -> None:
    config = Bearer(issuer=server.issuer, audiences=(AUDIENCE,), allow_unverified_email=True)
    authn = BearerAuthenticator([config], http, clock=Clock())
    token = server.sign(server.claims(NOW, email="ceo@example.com", email_verified=False))
    identity = await authn.authenticate(token)
    assert (identity.email, identity.unverified_email) == ("ceo@example.com", None)


async def test_no_email_is_neither(authn: BearerAuthenticator, server: KeyServer) -> None:
    identity = await authn.authenticate(server.sign(server.claims(NOW, email=None)))
    assert (identity.email, identity.unverified_email) == (None, None)


# --- only access tokens are bearer tokens (RFC 8725 §3.11, RFC 9068 §4) ---------------


@pytest.mark.parametrize(
    "typ", [None, "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/JWT"]
)
async def test_access_token_types_are_accepted(
    authn: BearerAuthenticator, server: KeyServer, typ: str | None
) -> None:
    token = server.sign(server.claims(NOW), headers={"typ": typ})
    assert (await authn.authenticate(token)).subject == "client-1"


@pytest.mark.parametrize(
    "typ",
    [
        "logout+jwt",
        "Logout+JWT",
        "application/logout+jwt",
        "secevent+jwt",
        "dpop+jwt",
        "id_token+jwt",
        "JOSE",
        "application/jwt; x=1",
        "",
        7,
        ["JWT"],
    ],
)
async def test_other_token_types_are_refused(
    authn: BearerAuthenticator, server: KeyServer, keys: dict[str, SigningKey], typ: object
) -> None:
    before = server.jwks_fetches
    # Validly signed by the issuer's key: the kind of token alone decides.
    token = es256({"typ": typ}, server.claims(NOW), keys["ES256"])
    assert await rejected(authn, token) == "bad_token_type"
    assert server.jwks_fetches == before  # refused before any key is looked up


LOGOUT_EVENTS = {"http://schemas.openid.net/event/backchannel-logout": {}}


@pytest.mark.parametrize("typ", [None, "JWT", "at+jwt"])
async def test_logout_token_is_refused_whatever_its_typ(
    authn: BearerAuthenticator, server: KeyServer, typ: str | None
) -> None:
    # OIDC Back-Channel Logout §2.4: a logout token, signed by the issuer's own key.
    claims = server.claims(NOW, events=LOGOUT_EVENTS, sid="s-1", jti="j-1")
    assert await rejected(authn, server.sign(claims, headers={"typ": typ})) == (
        "security_event_token"
    )


async def test_logout_typ_is_refused_before_its_events(
    authn: BearerAuthenticator, server: KeyServer
) -> None:
    claims = server.claims(NOW, events=LOGOUT_EVENTS)
    token = server.sign(claims, headers={"typ": "logout+jwt"})
    assert await rejected(authn, token) == "bad_token_type"


async def test_es256_helper_signs_a_valid_token(
    authn: BearerAuthenticator, server: KeyServer, keys: dict[str, SigningKey]
) -> None:
    token = es256({"typ": "JWT"}, server.claims(NOW), keys["ES256"])
    assert (await authn.authenticate(token)).subject == "client-1"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"b64": True}, "b64_not_critical"),
        ({"b64": False}, "b64_not_critical"),
        ({"b64": "false"}, "b64_not_critical"),
        ({"b64": False, "crit": ["b64"]}, "unsupported_crit"),
    ],
)
async def test_b64_header_must_be_critical(
    authn: BearerAuthenticator,
    server: KeyServer,
    keys: dict[str, SigningKey],
    extra: dict[str, Any],
    code: str,
) -> None:
    # RFC 7797 §6: "b64" outside "crit" would be honoured by some libraries and
    # ignored by others; the token is refused instead of being guessed at.
    token = es256(extra, server.claims(NOW), keys["ES256"])
    assert await rejected(authn, token) == code


async def test_refusals_carry_the_rfc_6750_shape(
    authn: BearerAuthenticator, server: KeyServer
) -> None:
    token = server.sign(server.claims(NOW), headers={"typ": "dpop+jwt"})
    with pytest.raises(AuthError) as exc:
        await authn.authenticate(token)
    assert exc.value.status == 401 and exc.value.error == "invalid_token"
    assert exc.value.www_authenticate("edgeward").startswith(
        'Bearer realm="edgeward", error="invalid_token", error_description="'
    )
