"""The access decision: a pure function from route policy, request and caller to a reason.

Order (fail closed): a matching ``deny`` wins, even on public routes and even
without an identity (``ip_ranges`` need none); then ``public: true`` allows; then
an anonymous caller must log in ("unauthenticated" is not "forbidden"); then a
matching ``allow`` allows; anything else is denied. Forwarding takes an
``Allowed``, which only ``Decision.allowed()`` of an allow decision can make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, final

from proxy.config.schema import Route
from proxy.identity import Identity
from proxy.policy.compile import CompiledRule, compile_tree
from proxy.policy.facts import RequestFacts

__all__ = [
    "Allowed",
    "AuthenticationRequiredError",
    "CompiledPolicy",
    "Decision",
    "ForbiddenError",
    "NotAllowedError",
    "RequestFacts",
    "decide",
]

Outcome = Literal["allow", "deny", "unauthenticated"]
Reason = Literal[
    "public_route",
    "allow_rule_matched",
    "deny_rule_matched",
    "no_rule_allows",
    "authentication_required",
]


class NotAllowedError(Exception):
    """Forwarding was asked for without an allow decision; carries the decision."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.outcome}: {decision.reason}")
        self.decision = decision


class AuthenticationRequiredError(NotAllowedError):
    """The caller must sign in (browser: login redirect; API: 401)."""


class ForbiddenError(NotAllowedError):
    """The caller is known and not allowed (403)."""


_MINT = object()  # private: only this module can make an Allowed


@final
class Allowed:
    """Proof that the policy allowed this request; the forwarder requires one."""

    __slots__ = ("_decision",)

    def __init__(self, decision: Decision, mint: object) -> None:
        if mint is not _MINT or decision.outcome != "allow":
            raise TypeError("an Allowed comes only from Decision.allowed()")
        self._decision = decision

    @property
    def decision(self) -> Decision:
        return self._decision


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided, why (a stable code) and which rule (YAML path)."""

    outcome: Outcome
    reason: Reason
    rule: str | None

    def allowed(self) -> Allowed:
        """The ``Allowed`` token; raises a ``NotAllowedError`` for any other outcome."""
        if self.outcome == "allow":
            return Allowed(self, _MINT)
        if self.outcome == "unauthenticated":
            raise AuthenticationRequiredError(self)
        raise ForbiddenError(self)


_PUBLIC = Decision("allow", "public_route", None)
_LOGIN = Decision("unauthenticated", "authentication_required", None)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """One route's rules, compiled once per config load."""

    route: str
    public: bool
    allow: CompiledRule | None
    deny: CompiledRule | None
    # Decisions are immutable, so each possible one is built here, not per request.
    _decisions: dict[tuple[str, str], Decision] = field(repr=False, compare=False)
    _no_rule: Decision = field(repr=False, compare=False)

    @classmethod
    def for_route(cls, route: Route, index: int) -> CompiledPolicy:
        """Compile ``route`` (at ``routes[index]``); raises ``RuleError`` naming the path."""
        base = f"routes[{index}]"
        allow = None if route.allow is None else compile_tree(route.allow, f"{base}.allow")
        deny = (
            None
            if route.deny is None
            else compile_tree(route.deny, f"{base}.deny", against_caller=True)
        )
        decisions = {
            **_decisions_for(allow, "allow", "allow_rule_matched"),
            **_decisions_for(deny, "deny", "deny_rule_matched"),
        }
        no_rule = Decision("deny", "no_rule_allows", allow.path if allow else None)
        return cls(route.name, route.public, allow, deny, decisions, no_rule)


def _decisions_for(
    rule: CompiledRule | None, outcome: Outcome, reason: Reason
) -> dict[tuple[str, str], Decision]:
    if rule is None:
        return {}
    return {(outcome, n.path): Decision(outcome, reason, n.path) for n in rule.walk()}


def decide(policy: CompiledPolicy, facts: RequestFacts, identity: Identity | None) -> Decision:
    """Decide one request; pure, no I/O, never raises for a well-formed policy."""
    denied = policy.deny.find(facts, identity) if policy.deny is not None else None
    if denied is not None:
        return policy._decisions["deny", denied.path]
    if policy.public:
        return _PUBLIC
    if identity is None:
        return _LOGIN
    allowed = policy.allow.find(facts, identity) if policy.allow is not None else None
    if allowed is not None:
        return policy._decisions["allow", allowed.path]
    return policy._no_rule
