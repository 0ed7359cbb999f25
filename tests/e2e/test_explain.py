"""`edgeward explain` as a real process: route, rule, decision and exit status per row."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from proxy.config.loader import load_config
from proxy.explain import ExplainError, Question, build_question, explain
from tests.harness import edgeward

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://idp.example.com"

CONFIG = """\
public_url: https://edge.example.com
oidc: [{name: corp, issuer: https://idp.example.com, client_id: edgeward}]
bearer:
  - {issuer: "https://idp.example.com", audiences: ["api://orders"], groups_claim: roles}
  - {issuer: "https://lax.example.com", audiences: ["api://orders"], allow_unverified_email: true}
routes:
  - name: public
    match: {path: /public/}
    to: http://127.0.0.1:9000
    public: true
  - name: admin
    match: {path: /admin/, methods: [GET, POST]}
    to: http://127.0.0.1:9000
    allow: {groups: [admins]}
    deny: {emails: [mallory@example.com]}
  - name: api
    match: {host: api.example.com, path: /}
    to: http://127.0.0.1:9000
    allow:
      auth: [bearer]
      any: [{groups: [api-users]}, {email_domains: [example.com]}]
  - name: office
    match: {path: /office/}
    to: http://127.0.0.1:9000
    allow: {authenticated: true, ip_ranges: [10.0.0.0/8]}
"""

ADMIN = '{"sub": "alice", "email": "alice@example.com", "groups": ["admins"], "auth": "session"}'
MALLORY = (
    '{"sub": "mallory", "email": "mallory@example.com", "email_verified": true, '
    '"groups": ["admins"]}'
)
STAFF = '{"sub": "bob", "email": "bob@example.com", "email_verified": true, "groups": ["staff"]}'
STAFF_SESSION = STAFF.replace("}", ', "auth": "session"}')


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explain") / "edgeward.yaml"
    path.write_text(CONFIG)
    return path


def explain_cli(config_file: Path, *args: str) -> tuple[int, dict[str, str]]:
    """Exit status and the ``label: value`` rows of the text output."""
    result = edgeward("explain", "--config", str(config_file), *args)
    rows: dict[str, str] = {}
    for line in result.stdout.splitlines():
        label, _, value = line.partition(":")
        rows.setdefault(label, value.strip())  # "note" may repeat; the first is kept
    return result.returncode, rows


# (args, exit status, route, decision, reason, rule)
ROWS = [
    pytest.param(
        ["--url", "/admin/users", "--claims", ADMIN],
        0, "admin (routes[1])", "allow", "allow_rule_matched", "routes[1].allow",
        id="allow",
    ),
    pytest.param(
        ["--url", "/admin/users", "--claims", MALLORY],
        2, "admin (routes[1])", "deny (403)", "deny_rule_matched", "routes[1].deny",
        id="deny-rule",
    ),
    pytest.param(
        ["--url", "/admin/users", "--claims", STAFF],
        2, "admin (routes[1])", "deny (403)", "no_rule_allows", "routes[1].allow",
        id="no-rule-allows",
    ),
    pytest.param(
        ["--url", "/admin/users"],
        3, "admin (routes[1])", "login (401)", "authentication_required", "-",
        id="login",
    ),
    pytest.param(
        ["--url", "/admin/users", "--method", "delete", "--claims", ADMIN],
        2, "no route (404)", "deny (404)", "no_route", "-",
        id="method-not-routed",
    ),
    pytest.param(
        ["--url", "https://edge.example.com/nowhere"],
        2, "no route (404)", "deny (404)", "no_route", "-",
        id="404",
    ),
    pytest.param(
        ["--url", "/public/%2fadmin/"],
        2, "not matched (URL refused)", "deny (400)", "bad_request_target", "-",
        id="400-encoded-slash",
    ),
    pytest.param(
        ["--url", "/public/../admin/"],
        3, "admin (routes[1])", "login (401)", "authentication_required", "-",
        id="dot-segments-reach-admin",
    ),
    pytest.param(
        ["--url", "/public/hello"],
        0, "public (routes[0])", "allow", "public_route", "-",
        id="public",
    ),
    pytest.param(
        ["--url", "https://API.Example.com.:443/v1?x=1", "--claims", STAFF],
        0, "api (routes[2])", "allow", "allow_rule_matched", "routes[2].allow.any[1]",
        id="host-canonical-any-branch",
    ),
    pytest.param(
        ["--url", "https://api.example.com/v1", "--claims", STAFF_SESSION],
        2, "api (routes[2])", "deny (403)", "no_rule_allows", "routes[2].allow",
        id="auth-criterion",
    ),
    pytest.param(
        ["--url", "/office/", "--claims", STAFF, "--client-ip", "10.1.2.3"],
        0, "office (routes[3])", "allow", "allow_rule_matched", "routes[3].allow",
        id="ip-inside",
    ),
    pytest.param(
        ["--url", "/office/", "--claims", STAFF, "--client-ip", "192.0.2.1"],
        2, "office (routes[3])", "deny (403)", "no_rule_allows", "routes[3].allow",
        id="ip-outside",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "route", "decision", "reason", "rule"), ROWS)
def test_rows(
    config_file: Path,
    args: list[str],
    code: int,
    route: str,
    decision: str,
    reason: str,
    rule: str,
) -> None:
    status, rows = explain_cli(config_file, *args)
    assert (status, rows["route"], rows["decision"]) == (code, route, decision)
    assert (rows["reason"], rows["rule"]) == (reason, rule)
    assert rows["why"]


def test_path_and_host_are_shown_normalised(config_file: Path) -> None:
    _, rows = explain_cli(config_file, "--url", "/public/./..//admin/%7Ex")
    assert (rows["host"], rows["path"]) == ("edge.example.com", "/admin/~x")
    _, rows = explain_cli(config_file, "--url", "https://edge.example.com/a%2e%2e/")
    assert (rows["host"], rows["path"]) == ("edge.example.com", "-")
    assert "ambiguous percent-encoded" in rows["why"]


def _token(key: ec.EllipticCurvePrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "api://orders", "sub": "svc", "iat": now, "exp": now + 600}
    return jwt.encode({**body, **claims}, key, algorithm="ES256")


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_token_claims_map_like_the_bearer_authenticator(
    config_file: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    token = _token(key, roles=["api-users"], groups=["admins"])
    result = edgeward(
        "explain", "--config", str(config_file), "--url", "https://api.example.com/x",
        "--token", token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # groups come from the issuer's groups_claim (roles), not from "groups"
    assert "identity: svc via bearer, groups [api-users]" in lines
    assert "rule:     routes[2].allow.any[0]" in lines
    assert lines[-1] == (
        "note:     token signature NOT verified: explain is a review tool, not an authenticator"
    )


def test_token_the_proxy_would_refuse_is_noted(
    config_file: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    expired = _token(key, roles=["api-users"], exp=int(time.time()) - 3600)
    result = edgeward("explain", "--config", str(config_file), "--url", "https://api.example.com/",
                      "--token", expired, "--json")  # fmt: skip
    answer = json.loads(result.stdout)
    assert (result.returncode, answer["decision"], answer["exit_code"]) == (0, "allow", 0)
    assert answer["notes"][0].startswith("token signature NOT verified")
    assert answer["notes"][1] == "token has expired (token_expired): the proxy answers 401"


def test_unknown_issuer_uses_the_groups_claim(
    config_file: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    token = _token(key, iss="https://other.example.com", groups=["admins"])
    result = edgeward(
        "explain", "--config", str(config_file), "--url", "/admin/", "--token", token, "--json"
    )
    answer = json.loads(result.stdout)
    assert answer["identity"]["groups"] == ["admins"]
    assert answer["notes"][1] == (
        "issuer 'https://other.example.com' is not a bearer issuer here: the proxy answers 401"
    )


def test_json_output(config_file: Path) -> None:
    result = edgeward(
        "explain", "--config", str(config_file), "--url", "/admin/x", "--method", "POST",
        "--claims", MALLORY, "--json",
    )  # fmt: skip
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "method": "POST",
        "url": "/admin/x",
        "host": "edge.example.com",
        "path": "/admin/x",
        "route": {"name": "admin", "index": 1},
        "decision": "deny",
        "status": 403,
        "reason": "deny_rule_matched",
        "rule": "routes[1].deny",
        "why": "routes[1].deny matches this request; a matching deny wins over every allow (403)",
        "identity": {
            "sub": "mallory",
            "auth": "bearer",
            "email": "mallory@example.com",
            "unverified_email": None,
            "groups": ["admins"],
            "issuer": None,
        },
        "notes": [],
        "exit_code": 2,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--claims", "{not json"], "--claims: not JSON"),
        (["--claims", '["a"]'], "--claims: expected a JSON object"),
        (["--claims", '{"email": "a@x.com"}'], "--claims: 'sub' must be a non-empty string"),
        (["--claims", '{"sub": "a", "email": "a@b@x.com"}'], "single @"),
        (["--claims", '{"sub": "a", "auth": "magic"}'], "auth must be one of"),
        (["--claims", '{"sub": "a", "groups": [1]}'], "'groups' must be a string or a list"),
        (["--token", "not.a.jwt"], "--token: the proxy would refuse this token"),
        (["--client-ip", "10.0.0.300"], "--client-ip: not an IP address"),
        (["--claims", "{}", "--token", "x.y.z"], "not allowed with argument"),
        (["--url", "ftp://edge.example.com/"], "--url: expected an http(s) URL or a path"),
    ],
)
def test_usage_errors_exit_1(config_file: Path, args: list[str], message: str) -> None:
    url = [] if "--url" in args else ["--url", "/admin/"]
    result = edgeward("explain", "--config", str(config_file), *url, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_alg_none_token_is_refused(config_file: Path) -> None:
    token = jwt.encode({"iss": ISSUER, "sub": "x"}, "", algorithm="none")
    result = edgeward("explain", "--config", str(config_file), "--url", "/", "--token", token)
    # The payload is readable, but the notes must say the proxy refuses "none".
    assert result.returncode == 2, result.stderr
    assert "algorithm none is not allowed for this issuer: the proxy answers 401" in result.stdout


def test_invalid_config_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [{name: a, to: http://127.0.0.1:9000, allow: {any: []}}]\n")
    result = edgeward("explain", "--config", str(bad), "--url", "/")
    assert result.returncode == 1
    assert "routes[0].allow.any: an empty list cannot decide anything" in result.stderr


def test_help_documents_exit_codes() -> None:
    result = edgeward("explain", "--help")
    assert result.returncode == 0
    for line in ("0  allow", "1  usage or configuration error", "2  deny", "3  login"):
        assert line in result.stdout
    assert "WITHOUT verifying" in result.stdout


def test_proxy_endpoints_are_not_routed(config_file: Path) -> None:
    answer = explain(load_config(config_file), Question("/.edgeward/whoami"))
    assert (answer.reason, answer.route, answer.verdict) == ("proxy_endpoint", None, "allow")


def test_build_question_takes_one_identity(config_file: Path) -> None:
    config = load_config(config_file)
    question = build_question(config, "/x", claims='{"sub": "a", "roles": ["r"]}', now=0)
    # No "iss": the bearer issuer's groups_claim does not apply; "groups" is read.
    assert question.identity is not None and question.identity.groups == ()
    with pytest.raises(ExplainError):
        build_question(config, "/x", client_ip="::g", now=0)


UNVERIFIED = '{"sub": "eve", "email": "ceo@example.com", "email_verified": false}'


def test_unverified_email_does_not_allow_and_says_why(config_file: Path) -> None:
    status, rows = explain_cli(
        config_file, "--url", "https://api.example.com/v1", "--claims", UNVERIFIED
    )
    assert (status, rows["decision"], rows["reason"]) == (2, "deny (403)", "no_rule_allows")
    assert rows["identity"] == "eve via bearer, email ceo@example.com (not verified), groups []"
    assert rows["why"].endswith(
        "; email not verified, so no emails / email_domains allow can match it"
    )
    assert rows["note"].startswith("email ceo@example.com not verified (email_verified is not")


def test_unverified_email_still_matches_a_deny(config_file: Path) -> None:
    claims = '{"sub": "m", "email": "mallory@example.com", "groups": ["admins"]}'
    status, rows = explain_cli(config_file, "--url", "/admin/", "--claims", claims)
    assert (status, rows["reason"], rows["rule"]) == (2, "deny_rule_matched", "routes[1].deny")


def test_issuer_that_opts_out_allows_unverified_email(config_file: Path) -> None:
    claims = UNVERIFIED.replace("}", ', "iss": "https://lax.example.com"}')
    result = edgeward(
        "explain", "--config", str(config_file), "--url", "https://api.example.com/v1",
        "--claims", claims, "--json",
    )  # fmt: skip
    answer = json.loads(result.stdout)
    assert (result.returncode, answer["rule"]) == (0, "routes[2].allow.any[1]")
    assert answer["identity"]["email"] == "ceo@example.com"
    assert answer["identity"]["unverified_email"] is None and answer["notes"] == []


def test_unverified_email_in_json(config_file: Path) -> None:
    result = edgeward(
        "explain", "--config", str(config_file), "--url", "https://api.example.com/v1",
        "--claims", UNVERIFIED, "--json",
    )  # fmt: skip
    identity = json.loads(result.stdout)["identity"]
    assert (identity["email"], identity["unverified_email"]) == (None, "ceo@example.com")


def test_logout_token_is_noted(config_file: Path, key: ec.EllipticCurvePrivateKey) -> None:
    events = {"http://schemas.openid.net/event/backchannel-logout": {}}
    token = _token(key, roles=["api-users"], events=events)
    result = edgeward("explain", "--config", str(config_file), "--url", "https://api.example.com/",
                      "--token", token, "--json")  # fmt: skip
    assert json.loads(result.stdout)["notes"][1] == (
        "a security event token (logout token) is not a bearer token (security_event_token): "
        "the proxy answers 401"
    )


def test_token_of_another_type_is_refused(
    config_file: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    token = jwt.encode(
        {"iss": ISSUER, "sub": "x"}, key, algorithm="ES256", headers={"typ": "dpop+jwt"}
    )
    result = edgeward("explain", "--config", str(config_file), "--url", "/", "--token", token)
    assert result.returncode == 1
    assert "--token: the proxy would refuse this token: header 'typ' names a kind" in result.stderr
