"""Fuzz target: bearer JWT parsing and verification with a fixed key set.

Drives the real entry points: ``extract_bearer`` on an ``Authorization`` value
and ``BearerAuthenticator.authenticate`` (parse, header checks, issuer, algorithm
from configuration and key type, key by ``kid``, signature, claims), with one
issuer whose JWKS (Ed25519, P-256, RSA) was fetched once through an in-memory
HTTP transport. Input, by its first line:

- ``header`` + the ``Authorization`` value; ``token`` + the token text;
- ``sign KID`` + a header JSON line + a payload JSON line: the harness encodes
  and signs them with that key (``ed``, ``es``, ``rs``), so the claim checks
  behind the signature are reached too.

Checks: only ``proxy.authn.errors`` types escape, with status 400/401, a
snake_case ``code`` and a printable challenge; an unsigned input is never
accepted; an accepted token yields a well-formed identity, again from the cache.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from fuzz._support import instrumented, run_sync

with instrumented("proxy"):
    from proxy.authn.bearer import BearerAuthenticator, extract_bearer
    from proxy.authn.errors import AuthError
    from proxy.config.schema import Bearer
    from proxy.identity import Identity

# Properties current code is known to break (none found): see fuzz/paths.py.
KNOWN_BUGS: dict[str, str] = {}
MAX_LEN = 4096
NOW = 1_700_000_000.0
ISSUER = "https://idp.example"
AUDIENCE = "api://orders"
DICTIONARY = (
    b"header\nBearer ",
    b"token\n",
    b"sign ed\n",
    b"sign es\n",
    b"sign rs\n",
    b'"alg":"EdDSA"',
    b'"alg":"ES256"',
    b'"alg":"RS256"',
    b'"alg":"PS256"',
    b'"alg":"none"',
    b'"alg":"HS256"',
    b'"kid":"ed"',
    b'"kid":"es"',
    b'"kid":"rs"',
    b'"crit":["b64"]',
    b'"b64":false',
    b'"typ":"JWT"',
    b'"jku":"https://evil"',
    b'"iss":"https://idp.example"',
    b'"aud":"api://orders"',
    b'"aud":["x","api://orders"]',
    b'"sub":"alice"',
    b'"exp":1700000100',
    b'"nbf":1700000000',
    b'"iat":1.7e9',
    b'"email":"a@b.c"',
    b'"groups":["admins"]',
    b"eyJhbGciOiJFZERTQSJ9",
    b".",
)

# Fixed keys: signatures made here verify; nothing else can.
_ED = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
_ES = ec.derive_private_key(0x5EED_CAFE_F00D, ec.SECP256R1())
_RS = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()
_CODE = re.compile(r"[a-z][a-z0-9_]*\Z")  # b64_not_critical has a digit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int64(value: int, size: int) -> str:
    return _b64(value.to_bytes(size, "big"))


def _jwks() -> dict[str, Any]:
    raw = _ED.public_key().public_bytes_raw()
    es, rs = _ES.public_key().public_numbers(), _RS.public_key().public_numbers()
    return {
        "keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": _b64(raw)},
            {
                "kty": "EC",
                "crv": "P-256",
                "kid": "es",
                "x": _int64(es.x, 32),
                "y": _int64(es.y, 32),
            },
            {"kty": "RSA", "kid": "rs", "n": _int64(rs.n, 256), "e": _int64(rs.e, 3)},
        ]
    }


async def _authenticator() -> BearerAuthenticator:
    document = orjson.dumps(_jwks())
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=document))
    config = Bearer(
        issuer=ISSUER,
        audiences=(AUDIENCE,),
        jwks_uri=f"{ISSUER}/keys",
        algorithms=("EdDSA", "ES256", "RS256", "PS256"),
        leeway=30.0,
    )
    async with httpx.AsyncClient(transport=transport) as http:
        # Never expire and never refetch: every later lookup is answered from memory.
        auth = BearerAuthenticator(
            [config],
            http,
            clock=lambda: NOW,
            monotonic=lambda: 1000.0,
            cache_size=64,
            jwks_ttl=1e12,
            jwks_min_refetch_interval=1e12,
        )
        await auth.jwks[ISSUER].refresh()
    return auth


AUTH = asyncio.run(_authenticator())


def sign(kid: str, header: bytes, payload: bytes) -> str:
    """A compact JWS over the given parts, signed with the fixed key ``kid``."""
    signing_input = f"{_b64(header)}.{_b64(payload)}".encode("ascii")
    try:
        alg = orjson.loads(header).get("alg")
    except (orjson.JSONDecodeError, AttributeError):
        alg = None
    if kid == "es":
        r, s = decode_dss_signature(_ES.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif kid == "rs":
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(hashes.SHA256()), salt_length=32)
            if alg == "PS256"
            else padding.PKCS1v15()
        )
        signature = _RS.sign(signing_input, pad, hashes.SHA256())
    else:
        signature = _ED.sign(signing_input)
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def TestOneInput(data: bytes) -> None:
    mode, _, rest = data.partition(b"\n")
    words = mode.split()
    signed = bool(words) and words[0] == b"sign"
    try:
        if signed:
            header, _, payload = rest.partition(b"\n")
            kid = words[1].decode("latin-1") if len(words) > 1 else "ed"
            token: str | None = sign(kid, header, payload)
        elif mode == b"token":
            token = rest.decode("latin-1")
        else:
            token = extract_bearer([(b"authorization", rest)])
        if token is None:
            return
        identity = run_sync(AUTH.authenticate(token))
    except AuthError as exc:
        check_refusal(exc)
        OUTCOMES[exc.code] += 1
        return
    OUTCOMES["accepted"] += 1
    assert signed, f"an unsigned token was accepted: {data!r}"
    check_identity(identity)
    assert run_sync(AUTH.authenticate(token)) == identity, "the cache answered differently"


def check_refusal(exc: AuthError) -> None:
    assert type(exc).__module__ == "proxy.authn.errors", repr(exc)
    assert exc.status in (400, 401), repr(exc)
    assert _CODE.match(exc.code), repr(exc)
    challenge = exc.www_authenticate("edgeward")
    assert all(" " <= c <= "~" for c in challenge), repr(challenge)


def check_identity(identity: Identity) -> None:
    assert identity.auth == "bearer" and identity.issuer == ISSUER
    assert isinstance(identity.subject, str) and identity.subject
    assert identity.expires_at is not None and identity.expires_at + 30 > NOW
    assert all(isinstance(g, str) for g in identity.groups)
    email = identity.email
    assert email is None or (email.count("@") == 1 and not email.startswith("@"))
