"""Verified-token cache: a bounded LRU so a repeated token skips the signature.

Keyed by the exact token string, so any change to the token (even one that a
lenient base64 decoder would ignore) is a different key and verifies afresh.
An entry never outlives its token: ``exp`` is checked against the clock on
every hit and expired entries are dropped. Only tokens that passed every
check are stored, so an attacker cannot fill the cache with junk; the memory
bound is ``max_entries`` times the size of a real token (16 KiB at most).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from proxy.identity import Identity


@dataclass(frozen=True, slots=True)
class CachedToken:
    identity: Identity
    expires_at: float
    leeway: float


class TokenCache:
    """Least-recently-used map of token -> verified identity."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()

    def get(self, token: str, now: float) -> CachedToken | None:
        """The cached entry if still within exp + leeway; expired ones are evicted."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.expires_at + entry.leeway <= now:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry

    def put(self, token: str, entry: CachedToken) -> None:
        if self._max <= 0:
            return
        self._entries[token] = entry
        self._entries.move_to_end(token)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
