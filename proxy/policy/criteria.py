"""One builder per rule criterion: configured values in, a precomputed predicate out.

Everything that can be done once (lowercasing, sets, network bounds as integers)
is done here at config load, so the returned predicates only do set lookups and
integer compares per request. Criteria about the caller are false without an
identity: an anonymous request never satisfies ``groups: [...]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from proxy.identity import Identity
from proxy.policy.facts import ClientIP, Predicate, RequestFacts

ClaimValue: TypeAlias = str | int | bool
ClaimSpec: TypeAlias = ClaimValue | list[ClaimValue]
Span: TypeAlias = tuple[int, int]

# IPv4-mapped IPv6 addresses (RFC 4291 section 2.5.5.2): a dual-stack socket
# reports IPv4 peers in this form, so they are tested against IPv4 ranges.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_MAPPED_BASE = int(_MAPPED.network_address)
_MISSING = object()


def authenticated(expected: bool) -> Predicate:
    """``true``: an identity is present; ``false``: the request is anonymous."""

    def signed_in(facts: RequestFacts, identity: Identity | None) -> bool:
        return identity is not None

    def anonymous(facts: RequestFacts, identity: Identity | None) -> bool:
        return identity is None

    return signed_in if expected else anonymous


def email_domain(email: str) -> str | None:
    """The lowercased domain of a well-formed address, else None.

    An address with more than one ``@`` is refused outright: parsers disagree on
    which ``@`` splits it, which is how ``a@evil.com@corp.com`` gets past checks.
    """
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    return domain.lower()


def emails(values: Iterable[str], *, unverified: bool = False) -> Predicate:
    """The caller's email is one of these, compared case-insensitively.

    Only a verified email counts (``Identity.email``); with ``unverified`` the
    address a credential merely claims counts too, which ``compile`` asks for
    where a match can only count against the caller (a deny rule).
    """
    # Only well-formed entries are kept, so an address with two `@` can never be
    # found in the set and needs no check per request.
    wanted = frozenset(v.lower() for v in values if email_domain(v) is not None)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        if identity is None or identity.email is None:
            return False
        return identity.email.lower() in wanted

    def check_claimed(facts: RequestFacts, identity: Identity | None) -> bool:
        email = _claimed_email(identity)
        return email is not None and email.lower() in wanted

    return check_claimed if unverified else check


def email_domains(values: Iterable[str], *, unverified: bool = False) -> Predicate:
    """The caller's email domain is exactly one of these (no suffix matching).

    Verified emails only, unless ``unverified`` (as for ``emails``).
    """
    wanted = frozenset(v.lower() for v in values)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        if identity is None or identity.email is None:
            return False
        return email_domain(identity.email) in wanted

    def check_claimed(facts: RequestFacts, identity: Identity | None) -> bool:
        email = _claimed_email(identity)
        return email is not None and email_domain(email) in wanted

    return check_claimed if unverified else check


def _claimed_email(identity: Identity | None) -> str | None:
    if identity is None:
        return None
    return identity.email if identity.email is not None else identity.unverified_email


def groups(values: Iterable[str]) -> Predicate:
    """The caller is in at least one of these groups (exact, case-sensitive)."""
    wanted = frozenset(values)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        return identity is not None and not wanted.isdisjoint(identity.groups)

    return check


def auth(values: Iterable[str]) -> Predicate:
    """The caller authenticated with one of these methods."""
    wanted = frozenset(values)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        return identity is not None and identity.auth in wanted

    return check


def methods(values: Iterable[str]) -> Predicate:
    """The request method is one of these.

    Methods are case-sensitive tokens (RFC 9110 section 9.1), but backends often
    fold them; folding here too means ``delete`` cannot slip past a deny on DELETE.
    """
    wanted = frozenset(v.upper() for v in values)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        return facts.method.upper() in wanted

    return check


def ip_ranges(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> Predicate:
    """The client address is inside one of these networks."""
    v4, v6 = _spans(networks)

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        ip = facts.client_ip
        if ip is None:
            return False
        value, spans = _address_key(ip, v4, v6)
        for low, high in spans:  # noqa: SIM110 - a generator costs more than the compares
            if low <= value <= high:
                return True
        return False

    return check


def _spans(
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    v4: list[Span] = []
    v6: list[Span] = []
    for net in networks:
        span = (int(net.network_address), int(net.broadcast_address))
        if isinstance(net, ipaddress.IPv4Network):
            v4.append(span)
        elif net.subnet_of(_MAPPED):
            v4.append((span[0] - _MAPPED_BASE, span[1] - _MAPPED_BASE))
        else:
            v6.append(span)
    return tuple(v4), tuple(v6)


def _address_key(
    ip: ClientIP, v4: tuple[Span, ...], v6: tuple[Span, ...]
) -> tuple[int, tuple[Span, ...]]:
    if isinstance(ip, ipaddress.IPv4Address):
        return int(ip), v4
    mapped = ip.ipv4_mapped
    if mapped is not None:
        return int(mapped), v4
    return int(ip), v6


def claims(spec: Mapping[str, ClaimSpec]) -> Predicate:
    """Every listed claim equals its value; a list value means "any of these"."""
    checks = tuple((name, _claim_check(value)) for name, value in spec.items())

    def check(facts: RequestFacts, identity: Identity | None) -> bool:
        if identity is None:
            return False
        present = identity.claims
        for name, ok in checks:  # noqa: SIM110 - a generator costs more than the checks
            if not ok(present.get(name, _MISSING)):
                return False
        return True

    return check


def _by_type(values: Iterable[ClaimValue]) -> dict[type, frozenset[object]]:
    """Expected values grouped by exact type, so ``true`` never equals ``1`` or ``"true"``.

    Unhashable claim values (objects, arrays inside arrays) have no entry here and
    are never hashed; a JSON number may arrive as a float, so ints are also kept
    as floats.
    """
    groups: dict[type, set[object]] = {}
    for v in values:
        groups.setdefault(type(v), set()).add(v)
        if type(v) is int:
            groups.setdefault(float, set()).add(float(v))
    return {t: frozenset(vs) for t, vs in groups.items()}


def _claim_check(expected: ClaimSpec) -> Callable[[Any], bool]:
    if not isinstance(expected, list):
        wanted = _by_type((expected,))
        return lambda actual: actual in wanted.get(type(actual), ())
    wanted = _by_type(expected)

    def intersects(actual: Any) -> bool:
        if type(actual) is list:
            return any(item in wanted.get(type(item), ()) for item in actual)
        return actual in wanted.get(type(actual), ())

    return intersects
