"""Registered and identity claims of a verified token, checked as a linear list.

Each check is a small function that raises one ``AuthError`` subclass; the
order is the order of ``validate``. Time checks use the configured leeway
(RFC 7519 §4.1.4-4.1.6) and refuse non-numeric dates (RFC 7519 §2 NumericDate).
An email becomes the identity's ``email`` only when verified (``split_email``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.authn.errors import (
    ExpiredToken,
    ImmatureToken,
    InvalidAudience,
    InvalidClaim,
    WrongTokenType,
)


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What one issuer's tokens must satisfy."""

    issuer: str
    audiences: frozenset[str]
    leeway: float
    groups_claim: str
    # The issuer's explicit opt-out: trust its emails without email_verified.
    allow_unverified_email: bool = False


@dataclass(frozen=True, slots=True)
class IdentityClaims:
    """The claims an ``Identity`` is built from, type-checked."""

    subject: str
    expires_at: float
    email: str | None  # verified, or from an issuer that opted out
    unverified_email: str | None  # claimed and not verified: never authorises
    groups: tuple[str, ...]
    name: str | None


def validate(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> IdentityClaims:
    """Check every rule in order; return the identity claims on success."""
    _check_not_security_event(claims)
    _check_issuer(claims, rules)
    _check_audience(claims, rules)
    exp = _check_times(claims, rules.leeway, now)
    email, unverified_email = split_email(claims, rules.allow_unverified_email)
    return IdentityClaims(
        subject=_subject(claims),
        expires_at=exp,
        email=email,
        unverified_email=unverified_email,
        groups=_groups(claims, rules.groups_claim),
        name=_optional_str(claims, "name"),
    )


def _check_not_security_event(claims: Mapping[str, Any]) -> None:
    # A Security Event Token carries "events" (RFC 8417 §2.2), and a back-channel
    # logout token is one (OIDC Back-Channel Logout 1.0 §2.4). Whatever its typ
    # says, such a token is not an access token and never authenticates a request
    # (RFC 8417 §4.3, RFC 8725 §3.12: mutually exclusive validation rules).
    if "events" in claims:
        raise WrongTokenType(
            "a security event token (logout token) is not a bearer token",
            code="security_event_token",
        )


def _check_issuer(claims: Mapping[str, Any], rules: ClaimRules) -> None:
    # Exact string comparison (RFC 7519 §4.1.1, OIDC Core §3.1.3.7 step 2):
    # "https://idp/" and "https://idp" are different issuers.
    if claims.get("iss") != rules.issuer:
        raise InvalidClaim("issuer does not match", code="bad_issuer")


def _check_audience(claims: Mapping[str, Any], rules: ClaimRules) -> None:
    aud = claims.get("aud")
    # RFC 7519 §4.1.3: a single string or an array of strings.
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidAudience("aud is missing or not a string or list of strings")
    if rules.audiences.isdisjoint(values):
        raise InvalidAudience("token is not meant for this audience")


def _check_times(claims: Mapping[str, Any], leeway: float, now: float) -> float:
    exp = _numeric_date(claims, "exp", required=True)
    assert exp is not None
    if exp + leeway <= now:
        raise ExpiredToken("token has expired")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and nbf - leeway > now:
        raise ImmatureToken("token is not valid yet (nbf)")
    iat = _numeric_date(claims, "iat")
    if iat is not None and iat - leeway > now:
        raise ImmatureToken("token was issued in the future", code="token_issued_in_future")
    return exp


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidClaim(f"claim {name!r} is required", code="missing_claim")
        return None
    # bool is an int in Python but not a NumericDate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClaim(f"claim {name!r} is not a number")
    return float(value)


def _subject(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if sub is None:
        raise InvalidClaim("claim 'sub' is required", code="missing_claim")
    if not isinstance(sub, str) or not sub:
        raise InvalidClaim("claim 'sub' is not a non-empty string")
    return sub


def split_email(claims: Mapping[str, Any], allow_unverified: bool) -> tuple[str | None, str | None]:
    """``(email, unverified_email)``: the address policy and backends may rely on,
    and an address the claims name but that is not verified. One of them is None.

    An unverified address is whatever the user typed at the IdP, so a rule such as
    ``email_domains: [example.com]`` must not trust it; an issuer whose tokens never
    carry ``email_verified`` can opt out with ``allow_unverified_email: true``.
    Raises ``InvalidClaim`` for an address that is not a single-@ string.
    """
    email = _email(claims)
    if email is None or allow_unverified or email_verified(claims.get("email_verified")):
        return email, None
    return None, email


def email_verified(value: object) -> bool:
    """True for the JSON boolean true, and for the string "true".

    OIDC Core §5.1 defines a boolean, but some IdPs send the string. It is as much
    the issuer's signed statement as the boolean, and refusing it would push an
    operator to ``allow_unverified_email``, which also trusts addresses that are
    really unverified. Any other value ("True", "1", 1, "yes", absent) is false.
    """
    return value is True or value == "true"


def _email(claims: Mapping[str, Any]) -> str | None:
    email = _optional_str(claims, "email")
    if email is None:
        return None
    local, at, domain = email.rpartition("@")
    # Exactly one "@" with something on each side: "a@b@c" is refused because
    # parsers disagree on which domain it names (a policy-bypass trick).
    if not at or not local or not domain or "@" in local:
        raise InvalidClaim("claim 'email' is not a single-@ address")
    return email


def _groups(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None:
        return ()
    if isinstance(value, str):  # some IdPs send a single group as a string
        return (value,)
    if isinstance(value, list) and all(isinstance(g, str) for g in value):
        return tuple(value)
    raise InvalidClaim(f"claim {name!r} is not a string or list of strings")


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClaim(f"claim {name!r} is not a string")
    return value
