"""The Edgeward-Assertion JWT: who the caller is, signed by the proxy for one audience.

Claims: ``iss`` (public_url), ``aud``, ``sub``, ``email``, ``groups``, ``name``,
``auth``, ``idp`` (who issued the identity, when known), ``iat``, ``exp`` (at
most ``wire.ASSERTION_MAX_TTL`` after ``iat``), ``jti``; signed with the key
set's signing key (EdDSA or ES256, by key type).

Contract clarification (deliberate): signing a JWT for every request would put
an asymmetric signature on the hot path twice (assertion + request signature).
So assertions are cached per (subject, auth, issuer, email, groups, name,
audience) and reused for up to ``reuse_for`` seconds (bounded LRU). A reused assertion spans
requests, so by default it carries NO ``rid`` claim: the binding to one request
comes from the RFC 9421 signature, which covers both ``edgeward-assertion`` and
``x-request-id`` (and carries a single-use nonce). With ``per_request=True``
every request gets a fresh assertion with ``rid`` = its request id and nothing
is cached; the verifier checks ``rid == X-Request-Id`` whenever ``rid`` is there.
Because ``reuse_for < ttl``, a reused assertion still has at least
``ttl - reuse_for`` seconds to live when it is sent.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt

from proxy import wire
from proxy.identity import Identity
from proxy.signing.keys import KeySet

_CacheKey = tuple[str, str, str | None, str | None, tuple[str, ...], str | None, str]


class AssertionMinter:
    """Mints (and, unless ``per_request``, reuses) assertions for forwarded requests."""

    def __init__(
        self,
        keyset: KeySet,
        issuer: str,
        clock: Callable[[], float] = time.time,
        ttl: int = 60,
        reuse_for: int = 30,
        *,
        per_request: bool = False,
        max_entries: int = 10_000,
    ) -> None:
        if not 0 < ttl <= wire.ASSERTION_MAX_TTL:
            raise ValueError(f"ttl must be in (0, {wire.ASSERTION_MAX_TTL}]")
        if not 0 <= reuse_for < ttl:
            raise ValueError("reuse_for must be shorter than ttl")
        self._key = keyset.signing
        self._headers = {"kid": self._key.kid, "typ": "JWT"}
        self._issuer = issuer
        self._clock = clock
        self._ttl = ttl
        self._reuse_for = reuse_for
        self._per_request = per_request
        self._max_entries = max_entries
        self._cache: OrderedDict[_CacheKey, tuple[str, float]] = OrderedDict()

    def mint(self, identity: Identity, audience: str, request_id: str) -> str:
        """The assertion for this identity and audience (reused when allowed)."""
        now = self._clock()
        if self._per_request:
            return self._sign(identity, audience, now, request_id)
        key = (
            identity.subject,
            identity.auth,
            identity.issuer,  # the same sub from two issuers is two callers
            identity.email,
            identity.groups,
            identity.name,
            audience,
        )
        cached = self._cache.get(key)
        if cached is not None and 0 <= now - cached[1] <= self._reuse_for:
            self._cache.move_to_end(key)
            return cached[0]
        token = self._sign(identity, audience, now, None)
        self._cache[key] = (token, now)
        self._cache.move_to_end(key)
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return token

    def _sign(self, identity: Identity, audience: str, now: float, rid: str | None) -> str:
        issued = int(now)
        claims: dict[str, Any] = {
            wire.CLAIM_ISSUER: self._issuer,
            wire.CLAIM_AUDIENCE: audience,
            wire.CLAIM_SUBJECT: identity.subject,
            wire.CLAIM_EMAIL: identity.email,
            wire.CLAIM_GROUPS: list(identity.groups),
            wire.CLAIM_NAME: identity.name,
            wire.CLAIM_AUTH: identity.auth,
            wire.CLAIM_IDENTITY_ISSUER: identity.issuer,
            wire.CLAIM_ISSUED_AT: issued,
            wire.CLAIM_EXPIRES: issued + self._ttl,
            wire.CLAIM_JWT_ID: secrets.token_urlsafe(16),
        }
        if rid is not None:
            claims[wire.CLAIM_REQUEST_ID] = rid
        return jwt.encode(
            claims, self._key.private, algorithm=self._key.jose_alg, headers=self._headers
        )
