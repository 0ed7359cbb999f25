"""Trusted public keys: from a JWKS URL (cached) or a key file.

``KeySource.get(kid)`` answers the key for a ``kid``. A JWKS URL is fetched on
first use, kept for ``max_age`` seconds, and fetched again when an unknown kid
arrives (the proxy rotated its key) -- but at most once per ``refresh_interval``
so a stream of bogus kids cannot make the backend hammer the proxy. Fetch
errors never turn into an allow: without a cached key the request is refused
with ``jwks_unavailable`` (fail closed); with cached keys they keep serving.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization

from proxy.verify.errors import VerificationError
from proxy.verify.jwk import JwkError, VerifyKey, public_jwk, verify_key

_MAX_JWKS_BYTES = 256 * 1024


def parse_jwks(document: bytes) -> dict[str, VerifyKey]:
    """Keys of a JWKS (RFC 7517 §5) or of a single JWK, by kid.

    Keys of other types (RSA, other curves) or marked for encryption are
    skipped: they can never verify an Edgeward signature.
    """
    data = json.loads(document)
    if not isinstance(data, dict):
        raise JwkError("a JWK or JWKS must be a JSON object")
    entries = data.get("keys", [data]) if "keys" in data else [data]
    if not isinstance(entries, list):
        raise JwkError("'keys' must be a list")
    keys: dict[str, VerifyKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = verify_key(entry)
        except JwkError:
            continue
        keys[key.kid] = key
    return keys


def load_key_file(path: str) -> dict[str, VerifyKey]:
    """Public keys from a JWK / JWKS file or a PEM public (or private) key."""
    raw = Path(path).read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        return _load_pem(raw)
    return parse_jwks(raw)


def _load_pem(raw: bytes) -> dict[str, VerifyKey]:
    key: Any
    if b"PRIVATE KEY" in raw:
        key = serialization.load_pem_private_key(raw, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(raw)
    found = verify_key(public_jwk(key))
    return {found.kid: found}


class KeySource:
    """Answers ``get(kid)`` from a fixed key set or a cached, refreshed JWKS URL."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        keys: Mapping[str, VerifyKey] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = 5.0,
        max_age: float = 300.0,
    ) -> None:
        self._url = jwks_url
        self._keys: dict[str, VerifyKey] = dict(keys or {})
        self._http = http
        self._owns_http = http is None and jwks_url is not None
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._fetched_at = -float("inf")  # last successful fetch
        self._attempted_at = -float("inf")  # last attempt, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0  # observable for metrics and tests

    async def get(self, kid: str) -> VerifyKey:
        key = self._keys.get(kid)
        if self._url is not None and (key is None or self._stale()):
            await self._refresh()
            key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys and self._url is not None:
            raise VerificationError("jwks_unavailable")
        raise VerificationError("unknown_key")

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    def _stale(self) -> bool:
        return self._clock() - self._fetched_at > self._max_age

    async def _refresh(self) -> None:
        async with self._lock:  # one fetch at a time; waiters reuse its result
            if self._clock() - self._attempted_at < self._refresh_interval:
                return
            self._attempted_at = self._clock()
            try:
                fetched = await self._fetch()
            except (httpx.HTTPError, ValueError):
                return  # keep serving cached keys; get() fails closed without them
            self._keys = fetched
            self._fetched_at = self._clock()

    async def _fetch(self) -> dict[str, VerifyKey]:
        assert self._url is not None
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0)
        self.fetches += 1
        response = await self._http.get(self._url, headers={"accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        return parse_jwks(response.content)
