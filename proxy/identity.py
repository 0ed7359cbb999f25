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
    # An address the proxy vouches for: verified by the IdP (``email_verified``),
    # or from an issuer configured with ``allow_unverified_email``. Policies,
    # the assertion and the identity headers only ever see this one.
    email: str | None = None
    groups: tuple[str, ...] = ()
    name: str | None = None
    issuer: str | None = None
    # Unix time after which this identity must be re-established (token exp,
    # session end); None for credentials that do not expire (service tokens).
    expires_at: float | None = None
    # An address the credential claims but the IdP did not verify. It never
    # authorises and is never forwarded; audit lines and explain show it, and a
    # deny rule still counts it (it can only ever count against its caller).
    unverified_email: str | None = None
    # All verified claims, for `claims:` policy rules; never trusted unverified.
    claims: Mapping[str, Any] = field(default_factory=dict)
