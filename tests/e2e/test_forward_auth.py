"""Forward-auth (``/.edgeward/auth``) on a real proxy process, asked the way a front
proxy asks: the original method, URI and host in ``X-Forwarded-Method`` / ``-Uri`` /
``-Host``, the caller's credentials as they came. Believed only from ``trusted_proxies``;
each of the three is required."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Proxy, run_proxy
from tests.oidc_server import KeyServer, new_key

TIMEOUT = httpx.Timeout(10.0)
UNUSED_UPSTREAM = "http://127.0.0.1:1"  # forward-auth never forwards


def forward_auth_routes(upstream: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "admin",
            "match": {"path": "/admin/"},
            "to": upstream,
            "allow": {"groups": ["admins"]},
        },
        {
            "name": "reports",
            "match": {"path": "/reports/"},
            "to": upstream,
            "allow": {"all": [{"authenticated": True}, {"methods": ["GET", "HEAD"]}]},
        },
        {
            "name": "hosted",
            "match": {"host": "app.example.com", "path": "/hosted/"},
            "to": upstream,
            "allow": {"authenticated": True},
        },
        {
            "name": "office",
            "match": {"path": "/office/"},
            "to": upstream,
            "allow": {"all": [{"authenticated": True}, {"ip_ranges": ["203.0.113.0/24"]}]},
        },
        {"name": "docs", "match": {"path": "/docs/"}, "to": upstream, "public": True},
    ]


def forward_auth_config(idp: KeyServer, upstream: str, trusted: bool) -> dict[str, Any]:
    return {
        "trusted_proxies": ["127.0.0.1/32"] if trusted else [],
        "bearer": [{"issuer": idp.issuer, "audiences": ["api://orders"]}],
        "routes": forward_auth_routes(upstream),
    }


@dataclass
class Stack:
    idp: KeyServer
    trusted: Proxy
    untrusted: Proxy

    def token(self, **claims: object) -> str:
        return self.idp.sign(self.idp.claims(time.time(), **claims))

    def ask(
        self,
        uri: str | None,
        *,
        token: str | None = None,
        method: str | None = "GET",
        host: str | None = "front.example",
        client: str | None = "203.0.113.7",
        proxy: Proxy | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {}
        if uri is not None:
            headers["x-forwarded-uri"] = uri
        if method is not None:
            headers["x-forwarded-method"] = method
        if host is not None:
            headers["x-forwarded-host"] = host
        if client is not None:
            headers["x-forwarded-for"] = client
        headers.update(extra or {})
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        base = (proxy or self.trusted).url
        return httpx.get(f"{base}/.edgeward/auth", headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("forward-auth")
    (tmp / "trusted").mkdir()
    (tmp / "untrusted").mkdir()
    with (
        KeyServer([new_key("ES256")]) as idp,
        run_proxy(tmp / "trusted", forward_auth_config(idp, UNUSED_UPSTREAM, True)) as trusted,
        run_proxy(tmp / "untrusted", forward_auth_config(idp, UNUSED_UPSTREAM, False)) as other,
    ):
        yield Stack(idp, trusted, other)


def test_allowed_caller_gets_200_with_identity_headers(stack: Stack) -> None:
    token = stack.token(groups=["admins", "staff"])
    r = stack.ask("/admin/x", token=token)
    assert r.status_code == 200, r.text
    assert r.headers["edgeward-user"] == "client-1"
    assert r.headers["edgeward-email"] == "ci@example.com"
    assert r.headers["edgeward-groups"] == '"admins", "staff"'  # an RFC 8941 List of Strings
    assert r.headers["edgeward-auth"] == "bearer"
    assert r.headers["edgeward-issuer"] == stack.idp.issuer
    assert r.headers["cache-control"] == "no-store"


def test_no_credentials_is_401_with_a_bearer_challenge(stack: Stack) -> None:
    r = stack.ask("/admin/x")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "edgeward-user" not in r.headers


def test_caller_not_allowed_is_403(stack: Stack) -> None:
    r = stack.ask("/admin/x", token=stack.token(groups=["staff"]))
    assert r.status_code == 403
    assert r.json()["code"] == "no_rule_allows"
    assert "edgeward-user" not in r.headers


def test_invalid_token_is_401(stack: Stack) -> None:
    r = stack.ask("/admin/x", token=stack.token(groups=["admins"], exp=1))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_the_forwarded_method_is_what_is_decided(stack: Stack) -> None:
    token = stack.token()
    assert stack.ask("/reports/q1", token=token, method="GET").status_code == 200
    assert stack.ask("/reports/q1", token=token, method="DELETE").status_code == 403
    assert stack.ask("/reports/q1", token=token, method="G E T").status_code == 400


def test_public_route_passes_without_identity(stack: Stack) -> None:
    r = stack.ask("/docs/index.html")
    assert r.status_code == 200
    assert "edgeward-user" not in r.headers


def test_untrusted_peer_forwarded_uri_is_ignored(stack: Stack) -> None:
    token = stack.token(groups=["admins"])
    r = stack.ask("/admin/x", token=token, proxy=stack.untrusted)
    assert r.status_code == 400
    assert r.json()["code"] == "forward_auth_untrusted"
    assert "edgeward-user" not in r.headers


ORIGINAL = {
    "X-Forwarded-Uri": "/docs/x",
    "X-Forwarded-Method": "GET",
    "X-Forwarded-Host": "front.example",
    "X-Forwarded-For": "203.0.113.7",
}


@pytest.mark.parametrize("header", sorted(ORIGINAL))
def test_missing_original_request_header_is_400_naming_it(stack: Stack, header: str) -> None:
    # /docs/ is public on any host: a guessed GET or Host would have answered 200.
    headers = {k: v for k, v in ORIGINAL.items() if k != header}
    r = httpx.get(f"{stack.trusted.url}/.edgeward/auth", headers=headers, timeout=TIMEOUT)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "forward_auth_header_missing"
    assert r.json()["detail"].startswith(f"{header} is required")


def test_the_original_client_address_is_what_ip_rules_judge(stack: Stack) -> None:
    # The subrequest comes from the front proxy (127.0.0.1); the rule must see the
    # client that X-Forwarded-For names, never the front proxy's own address.
    token = stack.token()
    assert stack.ask("/office/a", token=token, client="203.0.113.7").status_code == 200
    assert stack.ask("/office/a", token=token, client="198.51.100.1").status_code == 403


def test_the_subrequest_host_never_stands_in_for_the_original(stack: Stack) -> None:
    # The subrequest's own Host names the "hosted" route; without X-Forwarded-Host it
    # must not be taken for the original request's host.
    extra = {"host": "app.example.com"}
    r = stack.ask("/hosted/a", token=stack.token(), host=None, extra=extra)
    assert r.status_code == 400 and "X-Forwarded-Host" in r.json()["detail"]


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("/docs/../admin/x", 401),  # dot segments resolved before matching
        ("/%61dmin/x", 401),  # unreserved escapes decoded before matching
        ("//admin/x", 401),  # an authority to a URI parser, a path to the backend
        ("/docs/x?/admin/", 200),  # the query never takes part in matching
        ("/admin%2fx", 400),
        ("/docs/#/../admin/x", 400),
        ("/docs;/../admin/x", 400),
        ("http://evil.example/admin/x", 400),
        ("admin/x", 400),
    ],
)
def test_forwarded_uri_is_normalised_like_a_request_target(
    stack: Stack, uri: str, status: int
) -> None:
    assert stack.ask(uri).status_code == status


def test_repeated_forwarded_uri_is_refused(stack: Stack) -> None:
    headers = [
        ("x-forwarded-uri", "/docs/"),
        ("x-forwarded-uri", "/admin/x"),
        ("x-forwarded-method", "GET"),
    ]
    r = httpx.get(f"{stack.trusted.url}/.edgeward/auth", headers=headers, timeout=TIMEOUT)
    assert r.status_code == 400


def test_forwarded_host_is_canonicalised_before_matching(stack: Stack) -> None:
    token = stack.token()
    host = {"x-forwarded-host": "APP.Example.com.:443", "x-forwarded-proto": "https"}
    assert stack.ask("/hosted/a", token=token, extra=host).status_code == 200
    other = {"x-forwarded-host": "other.example.com"}
    # No route for the original request: the front proxy must refuse it (403, not 404).
    r = stack.ask("/hosted/a", token=token, extra=other)
    assert r.status_code == 403 and r.json()["code"] == "no_route"


def test_decision_is_audited_and_answer_logged(stack: Stack) -> None:
    r = stack.ask("/admin/y", token=stack.token(groups=["staff"]))
    rid = r.headers["x-request-id"]
    audit = stack.trusted.wait_for_line(
        lambda x: x.get("type") == "audit" and x.get("request_id") == rid
    )
    assert audit["decision"] == "deny"
    access = stack.trusted.wait_for_line(
        lambda x: x.get("type") == "access" and x.get("request_id") == rid
    )
    assert (access["route"], access["status"]) == ("admin", 403)
