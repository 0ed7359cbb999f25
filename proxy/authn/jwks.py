"""The JWKS cache: an issuer's signing keys, fetched rarely and shared.

Keys are cached for ``ttl``; a token naming an unknown ``kid`` triggers one
refetch (key rotation), at most once per ``min_refetch_interval``, and
concurrent callers share a single in-flight fetch. When the IdP cannot be
reached the last good keys keep working (stale-if-error, up to ``max_stale``);
with no good keys every token is refused (fail closed). ``on_change`` is told
when a fetch brings a different key set, so caches of verified tokens can drop
what a dropped key verified.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import httpx
import orjson

from proxy.authn.errors import JwksUnavailable, UnknownKey
from proxy.authn.keys import UnusableKey, VerificationKey, parse_jwk

log = logging.getLogger("edgeward.authn.jwks")

# Discovery documents and key sets are small; anything bigger is refused.
MAX_DOCUMENT_BYTES: Final = 512 * 1024

RefreshCallback = Callable[[str, str], None]  # (issuer, result: "success" | "error")
ChangeCallback = Callable[["JwksCache"], None]  # the cache whose key set changed


class FetchError(Exception):
    """Why a discovery or JWKS fetch failed (logged, never shown to clients)."""


class JwksCache:
    """Signing keys of one issuer. One instance per issuer and event loop."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        issuer: str,
        jwks_uri: str | None,
        ttl: float = 300,
        min_refetch_interval: float = 10,
        max_stale: float = 86400,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: RefreshCallback | None = None,
        on_change: ChangeCallback | None = None,
    ) -> None:
        self._http = http
        self.issuer = issuer
        self._jwks_uri = jwks_uri
        self._ttl = ttl
        self._min_refetch = min_refetch_interval
        self._max_stale = max_stale
        self._clock = clock
        self._on_refresh = on_refresh
        self.on_change = on_change  # replaced when a reloaded authenticator takes it over
        self._keys: Sequence[VerificationKey] = ()
        # The same keys as a set, to tell a changed key set (a key added, dropped
        # or replaced) from a routine refetch of the same one.
        self._key_set: frozenset[VerificationKey] = frozenset()
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._inflight: asyncio.Task[None] | None = None
        # Observed by metrics as edgeward_jwks_refresh_total{issuer,result}.
        self.refreshes: Counter[str] = Counter()

    async def get(self, kid: str | None, alg: str) -> VerificationKey:
        """The key for ``kid`` usable with ``alg``; refetches once on a miss."""
        if self._clock() - self._fetched_at >= self._ttl:
            await self._refresh_if_allowed()
        key = self._find(kid, alg)
        if key is None and await self._refresh_if_allowed():
            key = self._find(kid, alg)
        if key is None:
            raise UnknownKey(f"no signing key {kid!r} for {alg} from {self.issuer}")
        return key

    async def refresh(self) -> None:
        """Fetch now (sharing any fetch in flight); raise if no keys are usable."""
        await self._shared_fetch()
        self._usable_keys()

    def holds(self, key: VerificationKey) -> bool:
        """True while ``key`` (kid and material) is in the current key set."""
        return key in self._key_set

    @property
    def has_keys(self) -> bool:
        """True while keys are held and not older than ttl + max_stale."""
        return self._clock() - self._fetched_at < self._ttl + self._max_stale and bool(self._keys)

    def _find(self, kid: str | None, alg: str) -> VerificationKey | None:
        # kid is only ever a dictionary-style lookup key, never a path or URL.
        usable = [k for k in self._usable_keys() if k.allows(alg)]
        if kid is None:
            # Without a kid the choice must be unambiguous.
            return usable[0] if len(usable) == 1 else None
        return next((k for k in usable if k.kid == kid), None)

    def _usable_keys(self) -> Sequence[VerificationKey]:
        if not self.has_keys:
            raise JwksUnavailable(f"no signing keys available for {self.issuer}")
        return self._keys

    async def _refresh_if_allowed(self) -> bool:
        """Refetch unless one ran within min_refetch_interval; True if it ran."""
        if self._inflight is None and self._clock() - self._attempted_at < self._min_refetch:
            return False
        await self._shared_fetch()
        return True

    async def _shared_fetch(self) -> None:
        # Single flight: concurrent callers await one task; shield() keeps a
        # cancelled caller from cancelling the fetch the others wait on.
        if self._inflight is None:
            self._attempted_at = self._clock()
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(self._clear_inflight)
        await asyncio.shield(self._inflight)

    def _clear_inflight(self, task: asyncio.Task[None]) -> None:
        self._inflight = None

    async def _fetch(self) -> None:
        try:
            keys = _parse_jwks(await self._get_json(await self._resolve_jwks_uri()))
        except Exception as exc:  # any failure, typed or not, keeps the old keys
            # Stale-if-error: keep the last good keys; the log says why.
            log.warning("JWKS refresh for %s failed: %s", self.issuer, exc)
            self._count("error")
            return
        key_set = frozenset(keys)
        changed = key_set != self._key_set
        self._keys, self._key_set, self._fetched_at = keys, key_set, self._clock()
        self._count("success")
        if changed and self.on_change is not None:
            self.on_change(self)

    def _count(self, result: str) -> None:
        self.refreshes[result] += 1
        if self._on_refresh is not None:
            self._on_refresh(self.issuer, result)

    async def _resolve_jwks_uri(self) -> str:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover()
        return self._jwks_uri

    async def _discover(self) -> str:
        # OpenID Connect Discovery 1.0 §4: the document lives under the issuer.
        doc = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        # §4.3: the issuer in the document MUST be identical to the one used.
        if doc.get("issuer") != self.issuer:
            raise FetchError(f"discovery issuer {doc.get('issuer')!r} != {self.issuer!r}")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise FetchError("discovery document has no usable jwks_uri")
        return uri

    async def _get_json(self, url: str) -> Mapping[str, Any]:
        try:
            async with self._http.stream("GET", url, headers={"accept": "application/json"}) as r:
                if r.status_code != 200:
                    raise FetchError(f"GET {url} answered {r.status_code}")
                body = await _read_capped(r)
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url} failed: {type(exc).__name__}") from exc
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FetchError(f"GET {url} did not return JSON") from exc
        if not isinstance(value, dict):
            raise FetchError(f"GET {url} did not return a JSON object")
        return value


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise FetchError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    return bytes(body)


def _parse_jwks(doc: Mapping[str, Any]) -> tuple[VerificationKey, ...]:
    raw = doc.get("keys")
    if not isinstance(raw, list):
        raise FetchError("JWKS has no 'keys' list")
    keys = []
    for jwk in raw:
        try:
            keys.append(parse_jwk(jwk if isinstance(jwk, dict) else {}))
        except UnusableKey as exc:  # RFC 7517 §5: ignore keys we do not understand
            log.info("skipping JWK %r: %s", jwk.get("kid") if isinstance(jwk, dict) else None, exc)
    if not keys:
        # Treat an empty set as a failed fetch so the last good keys survive.
        raise FetchError("JWKS contains no usable signing key")
    return tuple(keys)
