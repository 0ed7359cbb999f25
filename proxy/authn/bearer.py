"""Bearer JWT authentication (RFC 6750, RFC 8725): token in, ``Identity`` out.

Pipeline of ``BearerAuthenticator.authenticate``: size cap -> verified-token
cache -> parse and header pre-checks -> issuer by exact ``iss`` -> algorithm
from configuration and key type -> JWKS key by ``kid`` -> PyJWT (signature,
iss, aud, required claims) -> claims.
Only the ``Authorization`` header is read: tokens in the query string
(RFC 6750 §2.3) or a form body are ignored by design, since URLs end up in
logs, caches and Referer headers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import httpx

from proxy.authn.claims import ClaimRules, validate
from proxy.authn.decode import TokenDecoder
from proxy.authn.errors import (
    AlgorithmNotAllowed,
    InvalidRequest,
    MalformedToken,
    UnknownIssuer,
)
from proxy.authn.jwks import JwksCache, RefreshCallback
from proxy.authn.jws import MAX_TOKEN_BYTES, CompactJws, parse
from proxy.authn.keys import ALGORITHMS
from proxy.authn.token_cache import CachedToken, TokenCache
from proxy.config.schema import Bearer
from proxy.identity import Identity

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
# (a regex runs in C: a set check of every byte cost ~7 µs per request).
_B64TOKEN: Final = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")


def extract_bearer(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The bearer token from raw ASGI headers, or None when there is none.

    Exactly one ``Authorization`` header is accepted: two would let a
    front proxy and this one disagree about who is calling.
    """
    values = [v for k, v in headers if k.lower() == b"authorization"]
    if len(values) > 1:
        raise InvalidRequest(
            "more than one Authorization header", code="multiple_authorization_headers"
        )
    if not values:
        return None
    scheme, _, token = values[0].strip().partition(b" ")
    if scheme.lower() != b"bearer":  # another scheme is not ours to judge
        return None
    token = token.strip(b" ")
    if len(token) > MAX_TOKEN_BYTES or not _B64TOKEN.fullmatch(token):
        raise MalformedToken("Authorization header does not carry a bearer token")
    return token.decode("ascii")


class _Issuer:
    """One configured issuer, with the algorithms it may use and its keys."""

    def __init__(self, config: Bearer, jwks: JwksCache) -> None:
        unsupported = set(config.algorithms) - ALGORITHMS.keys()
        if unsupported:
            raise ValueError(
                f"bearer {config.issuer}: algorithms {sorted(unsupported)} are not supported "
                f"(choose from {sorted(ALGORITHMS)})"
            )
        self.algorithms = frozenset(config.algorithms)
        self.jwks = jwks
        self.rules = ClaimRules(
            config.issuer,
            frozenset(config.audiences),
            config.leeway,
            config.groups_claim,
            config.allow_unverified_email,
        )
        self.decoder = TokenDecoder(self.rules, config.algorithms)


class BearerAuthenticator:
    """Verifies JWT bearer tokens from the configured issuers.

    The token's unverified ``iss`` picks the issuer; its ``alg`` must be one the issuer
    allows and agree with the key from the issuer's ``JwksCache``; then signature,
    type and claims (``iss``, ``aud``, ``exp``, ``nbf``, ``iat`` with leeway) are
    checked. Verified tokens are cached (``TokenCache``) until they expire, at most
    one JWKS TTL, and dropped when their key leaves the issuer's key set.
    """

    def __init__(
        self,
        issuers: Sequence[Bearer],
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10000,
        monotonic: Callable[[], float] = time.monotonic,
        jwks_ttl: float = 300,
        jwks_min_refetch_interval: float = 10,
        on_jwks_refresh: RefreshCallback | None = None,
        previous: BearerAuthenticator | None = None,
    ) -> None:
        """``previous``: the authenticator this one replaces on a config reload; the key
        cache of an issuer whose ``issuer`` and ``jwks_uri`` are unchanged is taken over
        (no refetch), nothing else is (its verified tokens met the old rules)."""
        self._clock = clock
        # A cached token is verified again at least this often, and the key lookup of
        # that verification refetches a key set older than its TTL: so a key the IdP
        # dropped stops a cached token within one TTL even if no other token arrives.
        self._recheck_after = jwks_ttl
        self._cache = TokenCache(cache_size)
        self._issuers: dict[str, _Issuer] = {}
        self._sources: dict[tuple[str, str | None], JwksCache] = {}
        kept = previous._sources if previous is not None else {}
        for config in issuers:
            if config.issuer in self._issuers:
                raise ValueError(f"bearer issuer {config.issuer!r} is configured twice")
            source = (config.issuer, config.jwks_uri)
            jwks = kept.get(source)
            if jwks is None:
                jwks = JwksCache(
                    http,
                    issuer=config.issuer,
                    jwks_uri=config.jwks_uri,
                    ttl=jwks_ttl,
                    min_refetch_interval=jwks_min_refetch_interval,
                    clock=monotonic,
                    on_refresh=on_jwks_refresh,
                    on_change=self._keys_changed,
                )
            self._sources[source] = jwks
            self._issuers[config.issuer] = _Issuer(config, jwks)

    def take_over_key_caches(self) -> None:
        """Make key-set changes of every key cache prune this authenticator's tokens.

        Called once this authenticator serves (a reload swapped its snapshot in): a
        key cache taken over from the previous authenticator still reports to that
        one until then, so a reload refused half-way leaves the running one intact.
        """
        for jwks in self._sources.values():
            jwks.on_change = self._keys_changed

    @property
    def jwks(self) -> Mapping[str, JwksCache]:
        """Key caches by issuer (for readiness checks and metrics)."""
        return {iss: issuer.jwks for iss, issuer in self._issuers.items()}

    async def authenticate(self, token: str) -> Identity:
        """Verify ``token`` and return who it names; raise ``AuthError`` otherwise."""
        if len(token) > MAX_TOKEN_BYTES:
            raise MalformedToken(f"token longer than {MAX_TOKEN_BYTES} bytes")
        now = self._clock()
        cached = self._cache.get(token, now)
        if cached is not None:
            return cached.identity
        jws = parse(token)
        issuer = self._issuer_of(jws)
        if jws.alg not in issuer.algorithms:
            raise AlgorithmNotAllowed(f"algorithm {jws.alg!r} is not allowed for this issuer")
        # No await from here to put(): `key` is still in the current key set when
        # the entry is stored, and a later change of that set discards it.
        key = await issuer.jwks.get(jws.kid, jws.alg)
        now = self._clock()
        payload = issuer.decoder.decode(token, jws.alg, key, jws.payload, now)
        identity = _identity(payload, issuer.rules, now)
        expires_at = (identity.expires_at or 0.0) + issuer.rules.leeway
        valid_until = min(expires_at, self._clock() + self._recheck_after)
        self._cache.put(token, CachedToken(identity, valid_until, issuer.jwks, key))
        return identity

    def _keys_changed(self, jwks: JwksCache) -> None:
        # A cached token is valid only while the key that verified it is still
        # published: after a rotation drops a key, its tokens verify afresh (and fail).
        self._cache.discard(lambda entry: entry.jwks is jwks and not jwks.holds(entry.key))

    def _issuer_of(self, jws: CompactJws) -> _Issuer:
        # Unverified iss only selects which keys to try; the signature then
        # proves it, and claims.validate compares it again.
        iss = jws.payload.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise UnknownIssuer("token issuer is not configured")
        return issuer


def _identity(payload: dict[str, Any], rules: ClaimRules, now: float) -> Identity:
    # The payload PyJWT verified, not the pre-parsed one: what was signed is
    # what the identity is made of, whatever two JSON parsers might disagree on.
    checked = validate(payload, rules, now)
    claims = payload
    if checked.unverified_email is not None:
        # `claims: {email: ...}` rules read these: an unverified address must not
        # authorise through them either (only `emails` rules knew about verification).
        claims = {k: v for k, v in claims.items() if k != "email"}
    return Identity(
        subject=checked.subject,
        auth="bearer",
        email=checked.email,
        unverified_email=checked.unverified_email,
        groups=checked.groups,
        name=checked.name,
        issuer=rules.issuer,
        expires_at=checked.expires_at,
        claims=MappingProxyType(claims),
    )
