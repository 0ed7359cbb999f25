"""The Edgeward-Assertion JWT on the receiving side: check it, yield an Identity.

Claims are validated as a linear list of small steps after the JWS signature:
the algorithm comes from the key type only (RFC 8725 §3.1: never trust the
``alg`` header alone), ``iss`` must match exactly, ``aud`` must contain ours,
``iat``/``exp`` are checked against the injected clock with a small leeway, and
the lifetime may not exceed ``wire.ASSERTION_MAX_TTL``.

The proxy reuses one assertion for many requests of the same user (see
``proxy.signing.assertion``), so verified assertions are cached by their exact
token text, together with the identity headers that must accompany them;
time claims are re-checked on every use.

The resulting ``Identity.issuer`` is who issued the IDENTITY (the ``idp``
claim: the bearer token's issuer, or the proxy for service tokens), not the
assertion's ``iss``, which is always the proxy the verifier is configured for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import jwt

from proxy import wire
from proxy.identity import AuthMethod, Identity
from proxy.verify.errors import VerificationError
from proxy.verify.jwk import VerifyKey

# Headers that would let a token choose its own key (RFC 8725 §3.10).
_FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
_REQUIRED = (
    wire.CLAIM_ISSUER,
    wire.CLAIM_AUDIENCE,
    wire.CLAIM_SUBJECT,
    wire.CLAIM_AUTH,
    wire.CLAIM_ISSUED_AT,
    wire.CLAIM_EXPIRES,
    wire.CLAIM_JWT_ID,
)


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    identity: Identity
    issued_at: float
    expires: float
    request_id: str | None
    # What the identity headers say when a route sends them (wire encoding).
    identity_headers: Mapping[str, str]


class AssertionChecker:
    """Verifies assertions for one issuer/audience, caching verified tokens."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        key_for: Callable[[str], Awaitable[VerifyKey]],
        clock: Callable[[], float],
        leeway: float,
        cache_size: int = 10_000,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._key_for = key_for
        self._clock = clock
        self._leeway = leeway
        self._cache_size = cache_size
        self._cache: OrderedDict[str, VerifiedAssertion] = OrderedDict()

    async def check(self, token: str) -> VerifiedAssertion:
        verified = self._cache.get(token)
        if verified is None:
            verified = await self._verify(token)
            self._cache[token] = verified
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(token)
        self._check_times(verified)
        return verified

    async def _verify(self, token: str) -> VerifiedAssertion:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise VerificationError("bad_assertion") from exc
        kid = header.get("kid")
        if not isinstance(kid, str) or _FORBIDDEN_HEADERS & header.keys():
            raise VerificationError("bad_assertion")
        key = await self._key_for(kid)
        claims = self._decode(token, key)
        self._check_claims(claims)
        identity = _identity(claims)
        return VerifiedAssertion(
            identity=identity,
            issued_at=float(claims[wire.CLAIM_ISSUED_AT]),
            expires=float(claims[wire.CLAIM_EXPIRES]),
            request_id=claims.get(wire.CLAIM_REQUEST_ID),
            identity_headers=MappingProxyType(
                wire.identity_header_values(
                    identity.subject,
                    identity.auth,
                    identity.email,
                    identity.groups,
                    identity.issuer,
                )
            ),
        )

    def _decode(self, token: str, key: VerifyKey) -> dict[str, Any]:
        try:
            # Signature and the audience here; times are checked against our clock.
            return dict(
                jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.jose_alg],
                    audience=self._audience,
                    options={
                        "require": list(_REQUIRED),
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                ),
            )
        except jwt.PyJWTError as exc:
            raise VerificationError("bad_assertion") from exc

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if claims[wire.CLAIM_ISSUER] != self._issuer:
            raise VerificationError("bad_assertion")
        if claims[wire.CLAIM_AUTH] not in wire.AUTH_METHODS:
            raise VerificationError("bad_assertion")
        if not isinstance(claims[wire.CLAIM_SUBJECT], str) or not claims[wire.CLAIM_SUBJECT]:
            raise VerificationError("bad_assertion")
        for name in (wire.CLAIM_ISSUED_AT, wire.CLAIM_EXPIRES):
            if not isinstance(claims[name], int | float) or isinstance(claims[name], bool):
                raise VerificationError("bad_assertion")
        if claims[wire.CLAIM_EXPIRES] - claims[wire.CLAIM_ISSUED_AT] > wire.ASSERTION_MAX_TTL:
            raise VerificationError("bad_assertion")
        rid = claims.get(wire.CLAIM_REQUEST_ID)
        if rid is not None and not isinstance(rid, str):
            raise VerificationError("bad_assertion")

    def _check_times(self, verified: VerifiedAssertion) -> None:
        now = self._clock()
        if now > verified.expires + self._leeway:
            raise VerificationError("expired")
        if verified.issued_at > now + self._leeway:
            raise VerificationError("not_yet_valid")


def _identity(claims: Mapping[str, Any]) -> Identity:
    groups = claims.get(wire.CLAIM_GROUPS) or ()
    if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
        raise VerificationError("bad_assertion")
    email, name = claims.get(wire.CLAIM_EMAIL), claims.get(wire.CLAIM_NAME)
    idp = claims.get(wire.CLAIM_IDENTITY_ISSUER)
    if not all(isinstance(v, str | None) for v in (email, name, idp)):
        raise VerificationError("bad_assertion")
    return Identity(
        subject=claims[wire.CLAIM_SUBJECT],
        auth=cast(AuthMethod, claims[wire.CLAIM_AUTH]),
        email=email,
        groups=tuple(groups),
        name=name,
        issuer=idp,
        expires_at=float(claims[wire.CLAIM_EXPIRES]),
        claims=MappingProxyType(dict(claims)),
    )
