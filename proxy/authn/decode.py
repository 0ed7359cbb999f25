"""Signature and registered claims by PyJWT, and the one map of its exceptions.

``TokenDecoder.decode`` hands a token that passed ``proxy.authn.jws``'s
pre-checks to ``jwt.decode_complete`` with the issuer's configured algorithms,
the key's ``PyJWK`` for the token's algorithm, ``iss``, ``aud`` and the
required claims pinned. ``refusal`` is the only place a PyJWT exception
becomes a ``proxy.authn.errors`` one.

Time claims (``exp``/``nbf``/``iat`` with leeway, RFC 7519 §4.1.4-4.1.6) stay
with ``proxy.authn.claims``: PyJWT reads the wall clock, the authenticator
takes its clock as a parameter (fixed in tests and in the fuzz target), and
PyJWT accepts numeric strings and booleans where RFC 7519 §2 wants a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import jwt
from jwt import exceptions as jwt_errors

from proxy.authn.claims import ClaimRules, validate
from proxy.authn.errors import AuthError, BadSignature, InvalidClaim, MalformedToken
from proxy.authn.keys import VerificationKey

# Claims a bearer token must carry (RFC 9068 §2.2 lists these and more; the
# others are optional here). Absent, PyJWT raises before anything else.
REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "sub")

_OPTIONS: Final[jwt.types.Options] = {
    "verify_signature": True,
    "verify_aud": True,
    "verify_iss": True,
    "verify_sub": True,
    "verify_jti": True,
    # See the module docstring: the time checks are claims.validate's.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "require": list(REQUIRED_CLAIMS),
    "strict_aud": False,
    # keys.MIN_RSA_BITS refuses short keys at JWKS time; this refuses them again.
    "enforce_minimum_key_length": True,
}

# PyJWT's claim errors: raised after the signature verified, so the payload is
# the issuer's and claims.validate may name the rule in our own order and codes.
_CLAIM_ERRORS: Final = (
    jwt_errors.MissingRequiredClaimError,
    jwt_errors.InvalidAudienceError,
    jwt_errors.InvalidIssuerError,
    jwt_errors.InvalidSubjectError,
    jwt_errors.InvalidJTIError,
    jwt_errors.ExpiredSignatureError,
    jwt_errors.ImmatureSignatureError,
    jwt_errors.InvalidIssuedAtError,
)


class TokenDecoder:
    """One issuer's PyJWT call, with everything but the token fixed at config time."""

    def __init__(self, rules: ClaimRules, algorithms: Sequence[str]) -> None:
        self._rules = rules
        # Pinned from configuration, never from the token (RFC 8725 §3.1).
        self._algorithms = tuple(sorted(algorithms))
        self._audience = tuple(sorted(rules.audiences))
        # An own instance: module-level PyJWT options of other code do not apply.
        self._jwt = jwt.PyJWT(_OPTIONS)

    def decode(
        self, token: str, alg: str, key: VerificationKey, unverified: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        """The verified payload of ``token``; raise ``AuthError`` otherwise.

        ``alg`` is the header's (already checked against configuration) and
        selects which of the key's PyJWKs verifies; ``unverified`` is the
        payload as pre-parsed, used only to name a claim refusal.
        """
        verifier = key.verifiers.get(alg)
        if verifier is None:  # a second guard: never trust the key lookup alone
            raise BadSignature(f"key {key.kid!r} cannot verify {alg}")
        try:
            decoded = self._jwt.decode_complete(
                token,
                verifier,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._rules.issuer,
            )
        except jwt_errors.PyJWTError as exc:
            raise refusal(exc, unverified, self._rules, now) from exc
        payload: dict[str, Any] = decoded["payload"]
        return payload


def refusal(
    exc: jwt_errors.PyJWTError, payload: Mapping[str, Any], rules: ClaimRules, now: float
) -> AuthError:
    """The ``AuthError`` for a PyJWT exception (the only such mapping)."""
    if isinstance(exc, jwt_errors.InvalidSignatureError):
        return BadSignature("signature does not verify")
    if isinstance(exc, jwt_errors.InvalidAlgorithmError | jwt_errors.InvalidKeyError):
        # The alg was matched to configuration and key before the call; PyJWT
        # seeing another one means its parse and ours disagree: refuse.
        return BadSignature("the key cannot verify this token")
    if isinstance(exc, _CLAIM_ERRORS):
        try:
            validate(payload, rules, now)
        except AuthError as named:
            return named
        # Stricter than claims.validate (e.g. a non-string jti): still refused.
        return InvalidClaim(f"claims refused: {exc}")
    # DecodeError and any other: PyJWT could not read what the pre-checks accepted.
    return MalformedToken("token is not a readable JWS")
