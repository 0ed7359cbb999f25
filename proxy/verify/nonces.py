"""Replay protection: remember each signature nonce until its signature expires.

``NonceStore.add`` is atomic "insert if absent"; it answers False for a nonce
seen before. ``MemoryNonceStore`` serves one process (bounded, entries expire);
``RedisNonceStore`` shares the memory between backend replicas with
``SET key 1 NX EX ttl``. RFC 9421 §7.2.2 leaves replay protection to the
application; the proxy puts a 128-bit random ``nonce`` in every signature.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from proxy.verify.errors import VerificationError


class NonceStore(Protocol):
    async def add(self, nonce: str, ttl: float) -> bool:
        """Record ``nonce`` for ``ttl`` seconds; False if it was already recorded."""
        ...


class MemoryNonceStore:
    """In-process nonce memory, at most ``max_entries`` (oldest dropped first).

    Dropping the oldest entry early only matters if more than ``max_entries``
    signed requests arrive within one signature lifetime (30 s); size it above
    the backend's peak rate times 30 s.
    """

    def __init__(self, max_entries: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    async def add(self, nonce: str, ttl: float) -> bool:
        now = self._clock()
        self._expire(now)
        expires = self._seen.get(nonce)
        if expires is not None and expires > now:
            return False
        self._seen[nonce] = now + ttl
        self._seen.move_to_end(nonce)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        # Entries are nearly in expiry order (ttl is about the same for all), so
        # popping from the front is bounded by the number of expired entries.
        while self._seen:
            nonce, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[nonce]


class _AsyncRedis(Protocol):
    """The one ``redis.asyncio.Redis`` method used (keeps ``redis`` optional here)."""

    async def set(self, name: str, value: bytes, *, ex: int, nx: bool) -> Any: ...


class RedisNonceStore:
    """Nonces in Redis, shared by every backend replica using the same server."""

    def __init__(self, redis: Any, prefix: str = "edgeward:nonce:") -> None:
        self._redis: _AsyncRedis = redis
        self._prefix = prefix

    async def add(self, nonce: str, ttl: float) -> bool:
        try:
            stored = await self._redis.set(
                self._prefix + nonce, b"1", ex=max(1, int(ttl) + 1), nx=True
            )
        except Exception as exc:  # any client error: fail closed, never allow
            raise VerificationError("nonce_store_unavailable") from exc
        return bool(stored)
