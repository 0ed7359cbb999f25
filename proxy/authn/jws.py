"""Compact JWS: parse a token without trusting it, and refuse headers we never honour.

The pre-checks PyJWT lacks run here, on strict base64url + orjson, BEFORE any
key is looked up or PyJWT sees the token: embedded keys, ``crit``, ``b64``,
``typ``. The unverified payload only selects the issuer (and feeds
``edgeward explain``); the signature is ``proxy.authn.decode``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from proxy.authn.errors import ForbiddenHeader, MalformedToken, WrongTokenType
from proxy.authn.keys import b64url_decode

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


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A parsed, not yet verified, token."""

    alg: str
    kid: str | None
    header: dict[str, Any]
    payload: dict[str, Any]


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
        # Strict here so that PyJWT's laxer segment decoding (it accepts "="
        # padding) never decides what a token is.
        b64url_decode(parts[2])
    except ValueError as exc:
        raise MalformedToken("signature is not base64url") from exc
    alg, kid = check_header(header)
    return CompactJws(alg, kid, header, payload)


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


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(b64url_decode(segment))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise MalformedToken(f"token {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"token {what} is not a JSON object")
    return value
