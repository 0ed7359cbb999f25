"""Compact JWS: parse a token without trusting it, and verify its signature.

This is the lean path: base64url + orjson for the two JSON parts and one
direct call into ``cryptography`` for the signature, with every RFC 8725 check
kept. Nothing here looks at claims; that is ``proxy.authn.claims``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from proxy.authn.errors import BadSignature, ForbiddenHeader, MalformedToken, WrongTokenType
from proxy.authn.keys import PublicKey, VerificationKey, b64url_decode

# Tokens longer than this are refused before any parsing (a cheap DoS guard;
# real access tokens are a few KiB at most).
MAX_TOKEN_BYTES: Final = 16 * 1024

# Header parameters that would let the token choose its own verification key
# (RFC 8725 §3.10); a key comes from the issuer's JWKS or not at all.
FORBIDDEN_HEADERS: Final = frozenset({"jwk", "jku", "x5u", "x5c"})

# The token types a bearer may declare, as full media types (RFC 7515 §4.1.9):
# a plain JWT (RFC 7519 §5.1) or a JWT access token (RFC 9068 §2.1). Anything
# else names another kind of JWT (logout+jwt, secevent+jwt, dpop+jwt, ...)
# that must never be replayed as an access token (RFC 8725 §3.11).
BEARER_TYPES: Final = frozenset({"application/jwt", "application/at+jwt"})

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A parsed, not yet verified, token."""

    alg: str
    kid: str | None
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> CompactJws:
    """Split and decode a compact JWS (RFC 7515 §7.1) and check its header."""
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedToken(f"token longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:  # five parts would be a JWE, which bearer tokens are not
        raise MalformedToken("a token has exactly three dot-separated parts")
    header = _json_object(parts[0], "header")
    payload = _json_object(parts[1], "payload")
    try:
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise MalformedToken("signature is not base64url") from exc
    alg, kid = check_header(header)
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    return CompactJws(alg, kid, header, payload, signing_input, signature)


def check_header(header: dict[str, Any]) -> tuple[str, str | None]:
    """Refuse header parameters we will not honour; return (alg, kid)."""
    embedded = FORBIDDEN_HEADERS.intersection(header)
    if embedded:
        raise ForbiddenHeader(f"header parameter {sorted(embedded)[0]!r} is not accepted")
    # RFC 7515 §4.1.11: a recipient that does not understand every listed
    # extension must reject; this proxy understands none.
    if "crit" in header:
        raise ForbiddenHeader(
            "critical header extensions are not supported", code="unsupported_crit"
        )
    # RFC 7797 §6: "b64" must be listed in "crit", so that a recipient that does
    # not know it refuses the token instead of misreading its payload. With
    # "crit" the token was refused above; without it, "b64" is refused here
    # whatever its value (ignoring it is exactly the misreading §6 prevents).
    if "b64" in header:
        raise ForbiddenHeader(
            "header 'b64' is not listed in 'crit' (RFC 7797 §6)", code="b64_not_critical"
        )
    _check_typ(header.get("typ"))
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        raise MalformedToken("header 'alg' is missing or not a string")
    if kid is not None and not isinstance(kid, str):
        raise MalformedToken("header 'kid' is not a string")
    return alg, kid


def _check_typ(typ: object) -> None:
    if typ is None:  # typ is optional (RFC 7519 §5.1); most IdPs leave it out
        return
    if not isinstance(typ, str):
        raise WrongTokenType("header 'typ' is not a string")
    # RFC 7515 §4.1.9: compared case-insensitively, with "application/" implied
    # when the value has no "/" ("JWT" is "application/jwt").
    media = typ.lower()
    if "/" not in media:
        media = "application/" + media
    if media not in BEARER_TYPES:
        # The value is not echoed: it is the client's, and up to 16 KiB long.
        raise WrongTokenType("header 'typ' names a kind of token that is not an access token")


def verify(jws: CompactJws, key: VerificationKey) -> None:
    """Check the signature with ``key``; the caller has matched alg to key."""
    if not key.allows(jws.alg):  # a second guard: never trust the caller alone
        raise BadSignature(f"key {key.kid!r} cannot verify {jws.alg}")
    try:
        _verify(jws.alg, key.key, jws.signature, jws.signing_input)
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc


def _verify(alg: str, key: PublicKey, signature: bytes, data: bytes) -> None:
    family, bits = alg[:2], alg[2:]
    if isinstance(key, rsa.RSAPublicKey) and family in ("RS", "PS"):
        digest = _HASHES[bits]()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            # RFC 7518 §3.5: the PSS salt is as long as the hash output.
            if family == "RS"
            else padding.PSS(padding.MGF1(digest), salt_length=digest.digest_size)
        )
        key.verify(signature, data, pad, digest)
    elif isinstance(key, ec.EllipticCurvePublicKey) and family == "ES":
        key.verify(_ecdsa_der(signature, key.curve.key_size), data, ec.ECDSA(_HASHES[bits]()))
    elif isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InvalidSignature
    else:  # Ed25519 / Ed448: the alg was checked against the key's curve
        key.verify(signature, data)


def _ecdsa_der(signature: bytes, curve_bits: int) -> bytes:
    # RFC 7518 §3.4: JWS carries R || S, each exactly the curve's octet length.
    # r = 0 or s = 0 encodes fine here and is then refused by the verifier.
    size = (curve_bits + 7) // 8
    if len(signature) != 2 * size:
        raise InvalidSignature
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(b64url_decode(segment))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise MalformedToken(f"token {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"token {what} is not a JSON object")
    return value
