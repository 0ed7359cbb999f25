"""Who made a request: the one identity type every stage agrees on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AuthMethod = Literal["session", "bearer", "service_token"]


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller, produced by exactly one authenticator."""

    subject: str
    auth: AuthMethod
    email: str | None = None
    groups: tuple[str, ...] = ()
    name: str | None = None
    issuer: str | None = None
    # Unix time after which this identity must be re-established (token exp,
    # session end); None for credentials that do not expire (service tokens).
    expires_at: float | None = None
    # All verified claims, for `claims:` policy rules; never trusted unverified.
    claims: Mapping[str, Any] = field(default_factory=dict)
