"""The audit line of one access decision: who asked for what, the outcome, and why.

``audit_event`` only shapes the record; counting it in metrics is the caller's
job, and nothing here is global. ``write_audit`` is the small default writer:
one orjson line per event, which also escapes any control character an untrusted
path or email might carry, so one event can never look like two lines.
"""

from __future__ import annotations

import sys
from typing import IO, TypeAlias

import orjson

from proxy.identity import Identity
from proxy.policy.decide import Decision
from proxy.policy.facts import RequestFacts

# Every value is a string or null; keys are listed in ``audit_event``.
AuditEvent: TypeAlias = dict[str, str | None]


def audit_event(
    decision: Decision,
    facts: RequestFacts,
    identity: Identity | None,
    route_name: str,
    request_id: str,
) -> AuditEvent:
    """The audit record of ``decision`` for one request."""
    return {
        "type": "audit",
        "request_id": request_id,
        "route": route_name,
        "method": facts.method,
        "path": facts.path,
        "subject": identity.subject if identity else None,
        "email": identity.email if identity else None,
        # Says why an emails / email_domains allow did not match this caller.
        "unverified_email": identity.unverified_email if identity else None,
        "auth": identity.auth if identity else None,
        "decision": decision.outcome,
        "rule": decision.rule,
        "reason": decision.reason,
    }


def write_audit(event: AuditEvent, stream: IO[bytes] | None = None) -> None:
    """Write ``event`` as one JSON line to ``stream`` (default: stdout) and flush it."""
    out = stream if stream is not None else sys.stdout.buffer
    out.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()
