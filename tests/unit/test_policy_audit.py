"""Audit events: their fields, and the one-JSON-line writer."""

from __future__ import annotations

import io
import ipaddress

import orjson
import pytest

from proxy.config.schema import Route
from proxy.identity import Identity
from proxy.policy.audit import audit_event, write_audit
from proxy.policy.decide import CompiledPolicy, RequestFacts, decide

ALICE = Identity(subject="alice", auth="bearer", email="alice@example.com", groups=("staff",))
ROUTE = Route.model_validate(
    {
        "name": "admin",
        "to": "http://127.0.0.1:9000",
        "allow": {"any": [{"groups": ["admins"]}, {"groups": ["staff"]}]},
    }
)
POLICY = CompiledPolicy.for_route(ROUTE, 1)
FACTS = RequestFacts("POST", "app.example.com", "/admin/users", ipaddress.ip_address("10.0.0.1"))


def test_event_of_an_allow() -> None:
    event = audit_event(decide(POLICY, FACTS, ALICE), FACTS, ALICE, "admin", "rid-1")
    assert event == {
        "type": "audit",
        "request_id": "rid-1",
        "route": "admin",
        "method": "POST",
        "path": "/admin/users",
        "subject": "alice",
        "email": "alice@example.com",
        "unverified_email": None,
        "auth": "bearer",
        "decision": "allow",
        "rule": "routes[1].allow.any[1]",
        "reason": "allow_rule_matched",
    }


def test_event_of_an_anonymous_request() -> None:
    event = audit_event(decide(POLICY, FACTS, None), FACTS, None, "admin", "rid-2")
    assert (event["subject"], event["email"], event["auth"]) == (None, None, None)
    assert (event["decision"], event["reason"], event["rule"]) == (
        "unauthenticated",
        "authentication_required",
        None,
    )


def test_writer_emits_one_json_line_per_event() -> None:
    stream = io.BytesIO()
    tricky = RequestFacts("GET", "h", '/a\n{"type":"audit"}\r', None)
    write_audit(audit_event(decide(POLICY, tricky, ALICE), tricky, ALICE, "admin", "r1"), stream)
    write_audit(audit_event(decide(POLICY, FACTS, None), FACTS, None, "admin", "r2"), stream)
    lines = stream.getvalue().split(b"\n")
    assert lines[-1] == b""
    records = [orjson.loads(line) for line in lines[:-1]]
    assert [r["request_id"] for r in records] == ["r1", "r2"]
    assert records[0]["path"] == tricky.path


def test_writer_defaults_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    write_audit(audit_event(decide(POLICY, FACTS, ALICE), FACTS, ALICE, "admin", "r3"))
    out, _ = capsysbinary.readouterr()
    assert orjson.loads(out)["request_id"] == "r3"
