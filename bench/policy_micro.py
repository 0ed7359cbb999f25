"""Micro-benchmark of one access decision: ``decide`` on a typical compiled route policy.

Run: ``.venv/bin/python bench/policy_micro.py``. Prints microseconds per decision
(best of several timeit repeats) for a few common shapes of route policy.
"""

from __future__ import annotations

import ipaddress
import timeit
from dataclasses import dataclass

from proxy.config.schema import Route
from proxy.identity import Identity
from proxy.policy.decide import CompiledPolicy, RequestFacts, decide

ALICE = Identity(
    subject="alice",
    auth="session",
    email="alice@example.com",
    groups=("staff", "admins"),
    claims={"email_verified": True, "tier": "gold"},
)
FACTS = RequestFacts("GET", "api.example.com", "/orders/42", ipaddress.ip_address("203.0.113.7"))


@dataclass(frozen=True)
class Case:
    name: str
    route: dict[str, object]
    identity: Identity | None = ALICE


CASES = (
    Case("allow groups", {"allow": {"groups": ["admins"]}}),
    Case(
        "allow domain+auth, deny ip",
        {
            "allow": {"email_domains": ["example.com"], "auth": ["session", "bearer"]},
            "deny": {"ip_ranges": ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]},
        },
    ),
    Case(
        "allow any[3] (last matches)",
        {
            "allow": {
                "any": [
                    {"groups": ["ops"]},
                    {"emails": ["bob@example.com"]},
                    {"claims": {"tier": ["gold", "platinum"]}, "methods": ["GET"]},
                ]
            }
        },
    ),
    Case("anonymous -> login", {"allow": {"groups": ["admins"]}}, identity=None),
    Case("public", {"public": True}),
)


def per_decision_us(case: Case, number: int = 200_000, repeat: int = 5) -> float:
    route = Route.model_validate({"name": "r", "to": "http://127.0.0.1:9000", **case.route})
    policy = CompiledPolicy.for_route(route, 0)
    identity = case.identity
    best = min(timeit.repeat(lambda: decide(policy, FACTS, identity), number=number, repeat=repeat))
    return best / number * 1e6


def main() -> None:
    for case in CASES:
        print(f"{case.name:32s} {per_decision_us(case):6.3f} us/decision")


if __name__ == "__main__":
    main()
