"""Only verified emails authorise, end to end: bearer tokens from two real issuers
through a real proxy to a backend that verifies what it receives with ``proxy.verify``.

One issuer is strict (the default); the other sets ``allow_unverified_email: true``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.harness import Proxy, free_port, run_backend, run_proxy
from tests.oidc_server import KeyServer, new_key

TIMEOUT = httpx.Timeout(10.0)


@dataclass
class Stack:
    proxy: Proxy
    strict: KeyServer
    lenient: KeyServer

    def get(
        self, path: str, idp: KeyServer, host: str | None = None, **claims: Any
    ) -> httpx.Response:
        token = idp.sign(idp.claims(time.time(), **claims))
        headers = {"authorization": f"Bearer {token}"}
        if host is not None:
            headers["host"] = host
        return httpx.get(f"{self.proxy.url}{path}", headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("email")
    proxy_port, backend_port = free_port(), free_port()
    public_url, backend = f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{backend_port}"
    verify = ("--jwks-url", f"{public_url}/.edgeward/jwks.json", "--issuer", public_url)
    with (
        KeyServer([new_key("ES256")]) as strict,
        KeyServer([new_key("ES256")]) as lenient,
        run_backend(*verify, "--audience", backend, port=backend_port),
    ):
        config = {
            "bearer": [
                {"issuer": strict.issuer, "audiences": ["api://orders"]},
                {
                    "issuer": lenient.issuer,
                    "audiences": ["api://orders"],
                    "allow_unverified_email": True,
                },
            ],
            "routes": [
                {
                    "name": "echo",
                    "match": {"path": "/api/echo"},
                    "to": backend,
                    "allow": {"groups": ["deployers"]},
                    "deny": {"emails": ["blocked@example.com"]},
                    "identity_headers": True,
                },
                {
                    "name": "by-claim",
                    "match": {"host": "claims.example", "path": "/api/"},
                    "to": backend,
                    "allow": {"claims": {"email": "ceo@example.com"}},
                },
                {
                    "name": "staff",
                    "match": {"path": "/api/"},
                    "to": backend,
                    "allow": {"email_domains": ["example.com"]},
                },
            ],
        }
        with run_proxy(tmp, config, port=proxy_port) as proxy:
            yield Stack(proxy, strict, lenient)


def test_verified_email_is_allowed(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.strict, email="ceo@example.com", email_verified=True)
    assert r.status_code == 200, r.text
    assert r.json()["caller"]["email"] == "ceo@example.com"


def test_unverified_email_is_403_and_the_audit_line_says_why(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.strict, email="ceo@example.com", email_verified=False)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "no_rule_allows"
    rid = r.headers["x-request-id"]
    audit = stack.proxy.wait_for_line(
        lambda line: line.get("type") == "audit" and line.get("request_id") == rid
    )
    assert (audit["email"], audit["unverified_email"]) == (None, "ceo@example.com")
    assert (audit["reason"], audit["rule"]) == ("no_rule_allows", "routes[2].allow")


def test_email_without_email_verified_is_403(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.strict, email="ceo@example.com", email_verified=None)
    assert r.status_code == 403, r.text


def test_email_verified_as_the_string_true_is_allowed(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.strict, email="ceo@example.com", email_verified="true")
    assert r.status_code == 200, r.text


def test_issuer_that_opts_out_is_allowed(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.lenient, email="ceo@example.com", email_verified=False)
    assert r.status_code == 200, r.text
    assert r.json()["caller"]["email"] == "ceo@example.com"


def test_unverified_email_still_counts_for_a_deny(stack: Stack) -> None:
    r = stack.get("/api/echo", stack.strict, email="blocked@example.com", email_verified=False)
    assert r.status_code == 403 and r.json()["code"] == "deny_rule_matched"


def test_unverified_email_is_never_forwarded(stack: Stack) -> None:
    r = stack.get("/api/echo", stack.strict, email="ceo@example.com", email_verified=False)
    assert r.status_code == 200, r.text  # allowed by group; the backend verified the request
    names = [name for name, _ in r.json()["headers"]]
    assert "edgeward-user" in names and "edgeward-email" not in names
    assert r.json()["caller"]["email"] is None  # nor in the signed assertion


def test_a_claims_rule_on_email_sees_verified_emails_only(stack: Stack) -> None:
    ceo = {"email": "ceo@example.com"}
    r = stack.get("/api/hello", stack.strict, **ceo, email_verified=True, host="claims.example")
    assert r.status_code == 200, r.text
    r = stack.get("/api/hello", stack.strict, **ceo, email_verified=False, host="claims.example")
    assert r.status_code == 403, r.text
