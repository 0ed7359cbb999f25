"""Route decisions: order (deny wins, public, login vs forbidden), reasons, rule paths, Allowed."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from proxy.config.schema import Route
from proxy.identity import Identity
from proxy.policy.compile import RuleError
from proxy.policy.decide import (
    Allowed,
    AuthenticationRequiredError,
    CompiledPolicy,
    Decision,
    ForbiddenError,
    NotAllowedError,
    RequestFacts,
    decide,
)

ALICE = Identity(subject="alice", auth="session", email="alice@example.com", groups=("staff",))
BOT = Identity(subject="ci-bot", auth="service_token", groups=("deployers",))


def facts(method: str = "GET", ip: str = "203.0.113.7") -> RequestFacts:
    return RequestFacts(method, "app.example.com", "/x", ipaddress.ip_address(ip))


def policy(rules: dict[str, Any], index: int = 3) -> CompiledPolicy:
    route = Route.model_validate({"name": "app", "to": "http://127.0.0.1:9000", **rules})
    return CompiledPolicy.for_route(route, index)


STAFF = {"allow": {"groups": ["staff"]}}
INTERNAL_ONLY = {"deny": {"not": {"ip_ranges": ["10.0.0.0/8"]}}}
NO_DELETE = {"deny": {"methods": ["DELETE"]}}

ROWS: list[
    tuple[str, dict[str, Any], RequestFacts, Identity | None, tuple[str, str, str | None]]
] = [
    ("public", {"public": True}, facts(), None, ("allow", "public_route", None)),
    ("public with identity", {"public": True}, facts(), ALICE, ("allow", "public_route", None)),
    (
        "deny wins on public",
        {"public": True, **INTERNAL_ONLY},
        facts(),
        None,
        ("deny", "deny_rule_matched", "routes[3].deny"),
    ),
    (
        "public, deny not matching",
        {"public": True, **INTERNAL_ONLY},
        facts(ip="10.0.0.1"),
        None,
        ("allow", "public_route", None),
    ),
    ("allow matches", STAFF, facts(), ALICE, ("allow", "allow_rule_matched", "routes[3].allow")),
    ("allow fails", STAFF, facts(), BOT, ("deny", "no_rule_allows", "routes[3].allow")),
    (
        "anonymous -> login",
        STAFF,
        facts(),
        None,
        ("unauthenticated", "authentication_required", None),
    ),
    ("no allow rule at all", {}, facts(), ALICE, ("deny", "no_rule_allows", None)),
    (
        "no rules, anonymous",
        {},
        facts(),
        None,
        ("unauthenticated", "authentication_required", None),
    ),
    (
        "deny wins over allow",
        {**STAFF, **NO_DELETE},
        facts("DELETE"),
        ALICE,
        ("deny", "deny_rule_matched", "routes[3].deny"),
    ),
    (
        "deny not matching",
        {**STAFF, **NO_DELETE},
        facts("GET"),
        ALICE,
        ("allow", "allow_rule_matched", "routes[3].allow"),
    ),
    (
        "deny without identity (ip) beats login",
        {**STAFF, **INTERNAL_ONLY},
        facts(),
        None,
        ("deny", "deny_rule_matched", "routes[3].deny"),
    ),
    (
        "deny on identity, anonymous -> login",
        {**STAFF, "deny": {"groups": ["banned"]}},
        facts(),
        None,
        ("unauthenticated", "authentication_required", None),
    ),
    (
        "allow any names branch",
        {"allow": {"any": [{"groups": ["admins"]}, {"auth": ["service_token"]}]}},
        facts(),
        BOT,
        ("allow", "allow_rule_matched", "routes[3].allow.any[1]"),
    ),
    (
        "allow any, first branch wins",
        {"allow": {"any": [{"groups": ["staff"]}, {"auth": ["session"]}]}},
        facts(),
        ALICE,
        ("allow", "allow_rule_matched", "routes[3].allow.any[0]"),
    ),
    (
        "deny any names branch",
        {**STAFF, "deny": {"any": [{"methods": ["DELETE"]}, {"ip_ranges": ["203.0.113.0/24"]}]}},
        facts(),
        ALICE,
        ("deny", "deny_rule_matched", "routes[3].deny.any[1]"),
    ),
    (
        "allow all is one rule",
        {"allow": {"all": [{"groups": ["staff"]}, {"methods": ["GET"]}]}},
        facts(),
        ALICE,
        ("allow", "allow_rule_matched", "routes[3].allow"),
    ),
    (
        "authenticated: true allows anyone signed in",
        {"allow": {"authenticated": True}},
        facts(),
        BOT,
        ("allow", "allow_rule_matched", "routes[3].allow"),
    ),
]


@pytest.mark.parametrize(
    ("route", "request_facts", "identity", "expected"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_decision_table(
    route: dict[str, Any],
    request_facts: RequestFacts,
    identity: Identity | None,
    expected: tuple[str, str, str | None],
) -> None:
    decision = decide(policy(route), request_facts, identity)
    assert (decision.outcome, decision.reason, decision.rule) == expected


def test_rule_paths_use_the_route_index() -> None:
    decision = decide(policy(STAFF, index=0), facts(), ALICE)
    assert decision.rule == "routes[0].allow"


def test_invalid_rule_is_refused_with_its_path() -> None:
    route = Route.model_validate(
        {"name": "app", "to": "http://127.0.0.1:9000", "allow": {"groups": None}}
    )
    with pytest.raises(RuleError) as caught:
        CompiledPolicy.for_route(route, 7)
    assert caught.value.path == "routes[7].allow"


def test_allowed_token_only_from_an_allow_decision() -> None:
    decision = decide(policy(STAFF), facts(), ALICE)
    token = decision.allowed()
    assert isinstance(token, Allowed)
    assert token.decision is decision


def test_forbidden_decision_raises_forbidden() -> None:
    decision = decide(policy(STAFF), facts(), BOT)
    with pytest.raises(ForbiddenError) as caught:
        decision.allowed()
    assert caught.value.decision is decision


def test_unauthenticated_decision_raises_authentication_required() -> None:
    decision = decide(policy(STAFF), facts(), None)
    with pytest.raises(AuthenticationRequiredError) as caught:
        decision.allowed()
    assert isinstance(caught.value, NotAllowedError)
    assert not isinstance(caught.value, ForbiddenError)


@pytest.mark.parametrize("outcome", ["allow", "deny"])
def test_allowed_cannot_be_made_by_hand(outcome: Any) -> None:
    forged = Decision(outcome, "allow_rule_matched", None)
    with pytest.raises(TypeError):
        Allowed(forged, object())


def test_decisions_are_immutable() -> None:
    decision = decide(policy(STAFF), facts(), ALICE)
    with pytest.raises(AttributeError):
        decision.outcome = "deny"  # type: ignore[misc]


def test_unverified_email_opens_nothing_and_is_still_denied() -> None:
    claimed = Identity(subject="m", auth="bearer", unverified_email="boss@example.com")
    by_domain = policy({"allow": {"email_domains": ["example.com"]}})
    assert decide(by_domain, facts(), claimed) == Decision(
        "deny", "no_rule_allows", "routes[3].allow"
    )
    blocked = policy({"allow": {"auth": ["bearer"]}, "deny": {"emails": ["boss@example.com"]}})
    decision = decide(blocked, facts(), claimed)
    assert (decision.outcome, decision.reason) == ("deny", "deny_rule_matched")
