"""Access policy: rules compiled to pure predicates, decisions with reasons, audit, reload.

``compile`` turns a configured ``Rule`` into a fast predicate once per config load;
``decide`` applies a route's compiled policy to one request and returns a
``Decision`` (the only source of the ``Allowed`` token that forwarding requires);
``audit`` shapes the audit line of a decision; ``reload`` re-reads the config file
on change or SIGHUP and keeps the old one when the new one is invalid.
"""

from __future__ import annotations

from proxy.policy.audit import AuditEvent, audit_event, write_audit
from proxy.policy.compile import CompiledRule, compile_rule, compile_tree
from proxy.policy.decide import (
    Allowed,
    AuthenticationRequiredError,
    CompiledPolicy,
    Decision,
    ForbiddenError,
    NotAllowedError,
    decide,
)
from proxy.policy.facts import Predicate, RequestFacts
from proxy.policy.reload import Reloader

__all__ = [
    "Allowed",
    "AuditEvent",
    "AuthenticationRequiredError",
    "CompiledPolicy",
    "CompiledRule",
    "Decision",
    "ForbiddenError",
    "NotAllowedError",
    "Predicate",
    "Reloader",
    "RequestFacts",
    "audit_event",
    "compile_rule",
    "compile_tree",
    "decide",
    "write_audit",
]
