"""Verified-token cache: a bounded LRU so a repeated token skips the signature.

Keyed by the exact token string, so any change to the token (even one that a
lenient base64 decoder would ignore) is a different key and verifies afresh.
An entry never outlives its token: ``exp`` is checked against the clock on
every hit and expired entries are dropped. Nor does it outlive the key that
verified it: each entry names its issuer's key cache and the key, and when
that key set changes the owner calls ``discard`` to drop the entries of keys
no longer in it (a key the IdP dropped, or a kid reused for other material).
Doing that once per key-set change keeps the hit path free of any key check.
Only tokens that passed every check are stored, so an attacker cannot fill the
cache with junk; the memory bound is ``max_entries`` times the size of a real
token (16 KiB at most).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from proxy.authn.jwks import JwksCache
from proxy.authn.keys import VerificationKey
from proxy.identity import Identity


@dataclass(frozen=True, slots=True)
class CachedToken:
    identity: Identity
    valid_until: float  # token exp + leeway, or sooner (see BearerAuthenticator)
    jwks: JwksCache  # the issuer's keys
    key: VerificationKey  # the key that verified the token


class TokenCache:
    """Least-recently-used map of token -> verified identity."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()

    def get(self, token: str, now: float) -> CachedToken | None:
        """The cached entry while ``now`` is before its ``valid_until``; else evicted."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry.valid_until <= now:
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

    def discard(self, stale: Callable[[CachedToken], bool]) -> None:
        """Drop every entry ``stale`` is true for (one pass; key sets change rarely)."""
        for token in [t for t, entry in self._entries.items() if stale(entry)]:
            del self._entries[token]

    def __len__(self) -> int:
        return len(self._entries)
