"""Rule compilation: every criterion and composition, as a table of rows."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from proxy.config.schema import Rule
from proxy.identity import Identity
from proxy.policy.compile import RuleError, compile_rule, compile_tree
from proxy.policy.facts import RequestFacts


def ident(
    email: str | None = "alice@example.com",
    groups: tuple[str, ...] = ("staff",),
    auth: Any = "session",
    **claims: Any,
) -> Identity:
    return Identity(subject="sub-1", auth=auth, email=email, groups=groups, claims=claims)


def req(method: str = "GET", ip: str | None = "203.0.113.7") -> RequestFacts:
    client = ipaddress.ip_address(ip) if ip is not None else None
    return RequestFacts(method=method, host="app.example.com", path="/x", client_ip=client)


ALICE = ident()
ANON = None

ROWS: list[tuple[str, dict[str, Any], RequestFacts, Identity | None, bool]] = [
    # authenticated
    ("authenticated true, signed in", {"authenticated": True}, req(), ALICE, True),
    ("authenticated true, anonymous", {"authenticated": True}, req(), ANON, False),
    ("authenticated false, anonymous", {"authenticated": False}, req(), ANON, True),
    ("authenticated false, signed in", {"authenticated": False}, req(), ALICE, False),
    # emails
    ("email exact", {"emails": ["alice@example.com"]}, req(), ALICE, True),
    ("email case-insensitive", {"emails": ["Alice@Example.COM"]}, req(), ALICE, True),
    (
        "email identity upper",
        {"emails": ["alice@example.com"]},
        req(),
        ident("ALICE@example.com"),
        True,
    ),
    ("email other", {"emails": ["bob@example.com"]}, req(), ALICE, False),
    ("email none on identity", {"emails": ["alice@example.com"]}, req(), ident(None), False),
    ("email anonymous", {"emails": ["alice@example.com"]}, req(), ANON, False),
    ("email with two @", {"emails": ["a@b@example.com"]}, req(), ident("a@b@example.com"), False),
    (
        "email prefix is not a match",
        {"emails": ["alice@example.com"]},
        req(),
        ident("alice@example.com.evil"),
        False,
    ),
    # email_domains
    ("domain exact", {"email_domains": ["example.com"]}, req(), ALICE, True),
    (
        "domain case-insensitive",
        {"email_domains": ["EXAMPLE.com"]},
        req(),
        ident("a@Example.Com"),
        True,
    ),
    (
        "domain suffix trick",
        {"email_domains": ["example.com"]},
        req(),
        ident("a@evil-example.com"),
        False,
    ),
    (
        "domain subdomain",
        {"email_domains": ["example.com"]},
        req(),
        ident("a@sub.example.com"),
        False,
    ),
    ("domain parent", {"email_domains": ["sub.example.com"]}, req(), ident("a@example.com"), False),
    (
        "domain two @ last part",
        {"email_domains": ["example.com"]},
        req(),
        ident("a@evil.com@example.com"),
        False,
    ),
    (
        "domain two @ first part",
        {"email_domains": ["evil.com"]},
        req(),
        ident("a@evil.com@example.com"),
        False,
    ),
    ("domain no @", {"email_domains": ["example.com"]}, req(), ident("example.com"), False),
    ("domain empty local", {"email_domains": ["example.com"]}, req(), ident("@example.com"), False),
    ("domain anonymous", {"email_domains": ["example.com"]}, req(), ANON, False),
    # groups
    ("groups overlap", {"groups": ["admins", "staff"]}, req(), ALICE, True),
    ("groups none", {"groups": ["admins"]}, req(), ALICE, False),
    ("groups case-sensitive", {"groups": ["Staff"]}, req(), ALICE, False),
    ("groups empty identity", {"groups": ["staff"]}, req(), ident(groups=()), False),
    ("groups anonymous", {"groups": ["staff"]}, req(), ANON, False),
    # claims
    ("claim scalar equal", {"claims": {"tier": "gold"}}, req(), ident(tier="gold"), True),
    ("claim scalar differs", {"claims": {"tier": "gold"}}, req(), ident(tier="silver"), False),
    ("claim missing", {"claims": {"tier": "gold"}}, req(), ALICE, False),
    (
        "claim scalar vs list claim",
        {"claims": {"tier": "gold"}},
        req(),
        ident(tier=["gold"]),
        False,
    ),
    (
        "claim list vs scalar claim",
        {"claims": {"tier": ["gold", "x"]}},
        req(),
        ident(tier="gold"),
        True,
    ),
    (
        "claim list vs list claim",
        {"claims": {"roles": ["a", "b"]}},
        req(),
        ident(roles=["c", "b"]),
        True,
    ),
    ("claim list disjoint", {"claims": {"roles": ["a", "b"]}}, req(), ident(roles=["c"]), False),
    (
        "claim bool true",
        {"claims": {"email_verified": True}},
        req(),
        ident(email_verified=True),
        True,
    ),
    (
        "claim bool is not 1",
        {"claims": {"email_verified": True}},
        req(),
        ident(email_verified=1),
        False,
    ),
    ("claim 1 is not true", {"claims": {"level": 1}}, req(), ident(level=True), False),
    (
        "claim bool is not string",
        {"claims": {"email_verified": True}},
        req(),
        ident(email_verified="true"),
        False,
    ),
    ("claim int equal", {"claims": {"level": 3}}, req(), ident(level=3), True),
    ("claim int as float", {"claims": {"level": 3}}, req(), ident(level=3.0), True),
    ("claim object never equal", {"claims": {"org": ["x"]}}, req(), ident(org={"x": 1}), False),
    ("claim list of objects", {"claims": {"org": ["x"]}}, req(), ident(org=[{"x": 1}, "x"]), True),
    ("claims all must hold", {"claims": {"a": "1", "b": "2"}}, req(), ident(a="1", b="3"), False),
    ("claims all hold", {"claims": {"a": "1", "b": "2"}}, req(), ident(a="1", b="2"), True),
    ("claims anonymous", {"claims": {"a": "1"}}, req(), ANON, False),
    # methods
    ("method listed", {"methods": ["GET", "HEAD"]}, req("GET"), ANON, True),
    ("method not listed", {"methods": ["GET"]}, req("POST"), ALICE, False),
    ("method config lowercase", {"methods": ["delete"]}, req("DELETE"), ALICE, True),
    ("method request lowercase", {"methods": ["DELETE"]}, req("delete"), ALICE, True),
    # ip_ranges
    ("ip v4 inside", {"ip_ranges": ["203.0.113.0/24"]}, req(), ANON, True),
    ("ip v4 outside", {"ip_ranges": ["198.51.100.0/24"]}, req(), ANON, False),
    ("ip v4 edges", {"ip_ranges": ["203.0.113.7/32"]}, req(), ANON, True),
    ("ip v4 broadcast", {"ip_ranges": ["10.0.0.0/8"]}, req(ip="10.255.255.255"), ANON, True),
    ("ip v4 one past", {"ip_ranges": ["10.0.0.0/8"]}, req(ip="11.0.0.0"), ANON, False),
    ("ip v6 inside", {"ip_ranges": ["2001:db8::/32"]}, req(ip="2001:db8::1"), ANON, True),
    ("ip v6 outside", {"ip_ranges": ["2001:db8::/32"]}, req(ip="2001:db9::1"), ANON, False),
    ("ip v6 range, v4 client", {"ip_ranges": ["::/0"]}, req(), ANON, False),
    ("ip v4 range, v6 client", {"ip_ranges": ["0.0.0.0/0"]}, req(ip="2001:db8::1"), ANON, False),
    ("ip v4-mapped client", {"ip_ranges": ["10.0.0.0/8"]}, req(ip="::ffff:10.1.2.3"), ANON, True),
    ("ip v4-mapped range", {"ip_ranges": ["::ffff:10.0.0.0/104"]}, req(ip="10.1.2.3"), ANON, True),
    (
        "ip mixed list",
        {"ip_ranges": ["10.0.0.0/8", "2001:db8::/32"]},
        req(ip="2001:db8::5"),
        ANON,
        True,
    ),
    ("ip unknown client", {"ip_ranges": ["0.0.0.0/0", "::/0"]}, req(ip=None), ANON, False),
    # auth
    ("auth listed", {"auth": ["session", "bearer"]}, req(), ALICE, True),
    ("auth not listed", {"auth": ["bearer"]}, req(), ALICE, False),
    ("auth anonymous", {"auth": ["session"]}, req(), ANON, False),
    # criteria in one rule are ANDed
    ("and: both hold", {"groups": ["staff"], "methods": ["GET"]}, req("GET"), ALICE, True),
    ("and: one fails", {"groups": ["staff"], "methods": ["GET"]}, req("POST"), ALICE, False),
    (
        "and: three hold",
        {"groups": ["staff"], "methods": ["GET"], "auth": ["session"]},
        req(),
        ALICE,
        True,
    ),
    (
        "and: third fails",
        {"groups": ["staff"], "methods": ["GET"], "auth": ["bearer"]},
        req(),
        ALICE,
        False,
    ),
    # any / all / not
    (
        "any: second",
        {"any": [{"groups": ["x"]}, {"emails": ["alice@example.com"]}]},
        req(),
        ALICE,
        True,
    ),
    ("any: none", {"any": [{"groups": ["x"]}, {"emails": ["b@example.com"]}]}, req(), ALICE, False),
    (
        "any: of three",
        {"any": [{"groups": ["x"]}, {"groups": ["y"]}, {"groups": ["staff"]}]},
        req(),
        ALICE,
        True,
    ),
    (
        "any: none of three",
        {"any": [{"groups": ["x"]}, {"groups": ["y"]}, {"groups": ["z"]}]},
        req(),
        ALICE,
        False,
    ),
    ("any: single", {"any": [{"groups": ["staff"]}]}, req(), ALICE, True),
    (
        "any and criterion",
        {"methods": ["POST"], "any": [{"groups": ["staff"]}]},
        req("GET"),
        ALICE,
        False,
    ),
    ("all: both", {"all": [{"groups": ["staff"]}, {"auth": ["session"]}]}, req(), ALICE, True),
    ("all: one fails", {"all": [{"groups": ["staff"]}, {"auth": ["bearer"]}]}, req(), ALICE, False),
    (
        "all: three",
        {"all": [{"groups": ["staff"]}, {"auth": ["session"]}, {"methods": ["GET"]}]},
        req(),
        ALICE,
        True,
    ),
    ("not: negates", {"not": {"groups": ["staff"]}}, req(), ALICE, False),
    ("not: negates false", {"not": {"groups": ["admins"]}}, req(), ALICE, True),
    ("not: anonymous inner false", {"not": {"groups": ["staff"]}}, req(), ANON, True),
    ("not: ip outside range", {"not": {"ip_ranges": ["10.0.0.0/8"]}}, req(), ANON, True),
    (
        "nested",
        {
            "all": [
                {"any": [{"groups": ["x"]}, {"email_domains": ["example.com"]}]},
                {"not": {"methods": ["DELETE"]}},
            ]
        },
        req("GET"),
        ALICE,
        True,
    ),
    (
        "nested, inner not fails",
        {
            "all": [
                {"any": [{"groups": ["x"]}, {"email_domains": ["example.com"]}]},
                {"not": {"methods": ["DELETE"]}},
            ]
        },
        req("DELETE"),
        ALICE,
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "facts", "identity", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_rule_table(
    rule: dict[str, Any], facts: RequestFacts, identity: Identity | None, expected: bool
) -> None:
    predicate = compile_rule(Rule.model_validate(rule))
    assert predicate(facts, identity) is expected


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"groups": None}, ""),
        ({"any": []}, "any"),
        ({"all": []}, "all"),
        ({"any": [{"groups": ["a"]}, {"emails": None}]}, "any[1]"),
        ({"not": {"all": []}}, "not.all"),
    ],
)
def test_rules_that_say_nothing_are_refused(rule: dict[str, Any], path: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_tree(Rule.model_validate(rule), "")
    assert caught.value.path == path


def test_refused_rule_names_its_yaml_path() -> None:
    with pytest.raises(RuleError) as caught:
        compile_tree(
            Rule.model_validate({"any": [{"groups": ["a"]}, {"all": []}]}), "routes[2].allow"
        )
    assert caught.value.path == "routes[2].allow.any[1].all"
    assert "routes[2].allow.any[1].all:" in str(caught.value)


def test_find_names_the_innermost_matching_any_branch() -> None:
    rule = Rule.model_validate(
        {
            "any": [
                {"groups": ["x"]},
                {"any": [{"groups": ["y"]}, {"emails": ["alice@example.com"]}]},
            ]
        }
    )
    tree = compile_tree(rule, "routes[0].allow")
    hit = tree.find(req(), ALICE)
    assert hit is not None
    assert hit.path == "routes[0].allow.any[1].any[1]"
    assert tree.find(req(), ident("bob@example.com")) is None


def test_find_checks_the_rest_of_a_rule_with_any() -> None:
    rule = Rule.model_validate({"methods": ["GET"], "any": [{"groups": ["staff"]}]})
    tree = compile_tree(rule, "r")
    found = tree.find(req("GET"), ALICE)
    assert found is not None and found.path == "r.any[0]"
    assert tree.find(req("POST"), ALICE) is None


# An unverified email only ever counts against its caller: (rule, judged as a deny?, expected).
CLAIMED = Identity(subject="m", auth="bearer", unverified_email="ceo@example.com")
VERIFIED = Identity(subject="m", auth="bearer", email="ceo@example.com")
UNVERIFIED_ROWS: list[tuple[str, dict[str, Any], bool, bool]] = [
    ("allow emails", {"emails": ["ceo@example.com"]}, False, False),
    ("allow email_domains", {"email_domains": ["example.com"]}, False, False),
    (
        "allow any branch",
        {"any": [{"groups": ["x"]}, {"email_domains": ["example.com"]}]},
        False,
        False,
    ),
    ("allow all", {"all": [{"auth": ["bearer"]}, {"emails": ["ceo@example.com"]}]}, False, False),
    ("deny emails", {"emails": ["ceo@example.com"]}, True, True),
    ("deny email_domains", {"email_domains": ["example.com"]}, True, True),
    ("deny all", {"all": [{"auth": ["bearer"]}, {"emails": ["ceo@example.com"]}]}, True, True),
    # `not` swaps the side. In an allow, the inner rule counts the claim, so leaving
    # email_verified false gains nothing; in a deny, the inner rule needs a verified
    # address, so "deny anyone not at example.com" denies a mere claim of it.
    ("allow not email_domains", {"not": {"email_domains": ["example.com"]}}, False, False),
    ("deny not email_domains", {"not": {"email_domains": ["example.com"]}}, True, True),
    ("allow not not", {"not": {"not": {"email_domains": ["example.com"]}}}, False, False),
]


@pytest.mark.parametrize(
    ("rule", "against_caller", "expected"),
    [r[1:] for r in UNVERIFIED_ROWS],
    ids=[r[0] for r in UNVERIFIED_ROWS],
)
def test_unverified_email_only_counts_against_its_caller(
    rule: dict[str, Any], against_caller: bool, expected: bool
) -> None:
    predicate = compile_rule(Rule.model_validate(rule), against_caller=against_caller)
    assert predicate(req(), CLAIMED) is expected
    # A verified address is judged the same on either side.
    plain = compile_rule(Rule.model_validate(rule))
    assert predicate(req(), VERIFIED) is plain(req(), VERIFIED)
