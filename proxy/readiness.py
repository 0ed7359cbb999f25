"""Readiness checks of this process's dependencies, for the admin ``/readyz``.

An identity provider whose keys cannot be had makes every bearer request
fail (closed), so the process reports itself not ready rather than taking
traffic it can only refuse. Checks are cheap when keys are already held.
"""

from __future__ import annotations

from proxy.admin import ReadinessCheck
from proxy.authn import JwksCache
from proxy.runtime import Services


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


def checks(services: Services) -> dict[str, ReadinessCheck]:
    bearer = services.admission.bearer
    if bearer is None:
        return {}
    return {f"jwks {issuer}": _jwks_check(jwks) for issuer, jwks in bearer.jwks.items()}
