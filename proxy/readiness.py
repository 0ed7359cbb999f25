"""Readiness checks of this process's dependencies, for the admin ``/readyz``.

An identity provider whose keys cannot be had makes every bearer request
fail (closed), so the process reports itself not ready rather than taking
traffic it can only refuse. Checks are cheap when keys are already held. The
issuers checked are those of the current config snapshot, so a reload that
adds or removes an issuer changes what readiness waits for.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping
from typing import Protocol

from proxy.admin import ReadinessCheck
from proxy.authn import JwksCache
from proxy.snapshot import Snapshot


class Live(Protocol):
    snapshot: Snapshot


def _jwks_check(jwks: JwksCache) -> ReadinessCheck:
    async def check() -> str | None:
        if jwks.has_keys:
            return None
        try:
            await jwks.refresh()
        except Exception as exc:  # any failure means "not ready", never a crash
            return f"no signing keys from {jwks.issuer}: {type(exc).__name__}"
        return None

    return check


class JwksChecks(Mapping[str, ReadinessCheck]):
    """One check per bearer issuer of the snapshot current when ``/readyz`` asks."""

    def __init__(self, live: Live) -> None:
        self._live = live

    def _current(self) -> dict[str, ReadinessCheck]:
        bearer = self._live.snapshot.admission.bearer
        if bearer is None:
            return {}
        return {f"jwks {issuer}": _jwks_check(jwks) for issuer, jwks in bearer.jwks.items()}

    def __getitem__(self, name: str) -> ReadinessCheck:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def items(self) -> ItemsView[str, ReadinessCheck]:
        return self._current().items()  # one snapshot for the whole walk


def checks(live: Live) -> Mapping[str, ReadinessCheck]:
    return JwksChecks(live)
