"""Identity end to end: bearer JWTs and service tokens through a real proxy, policies,
signed forwarding verified by the demo backend with ``proxy.verify``, and reload."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx
import jwt
import pytest
import yaml
from http_sfv import List
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.harness import Proxy, edgeward, free_port, run_backend, run_proxy
from tests.oidc_server import KeyServer, new_key

TIMEOUT = httpx.Timeout(10.0)
SECRET = "s3cret-token-for-ci"


@dataclass
class Stack:
    proxy: Proxy
    backend: str
    idp: KeyServer

    def token(self, **claims: object) -> str:
        return self.idp.sign(self.idp.claims(time.time(), **claims))

    def get(self, path: str, token: str | None = None, **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if token:
            headers["authorization"] = f"Bearer {token}"
        return httpx.get(f"{self.proxy.url}{path}", headers=headers, timeout=TIMEOUT)


def routes(backend: str, admins: str = "admins") -> list[dict[str, object]]:
    return [
        {"name": "items", "match": {"path": "/api/items/"}, "to": backend, "public": True},
        {"name": "ws", "match": {"path": "/ws"}, "to": backend, "public": True},
        {
            "name": "upstream-host",
            "match": {"path": "/api/echo", "methods": ["PUT"]},
            "to": backend,
            "allow": {"authenticated": True},
            "preserve_host": False,
        },
        {
            "name": "other-audience",
            "match": {"path": "/api/status/"},
            "to": backend,
            "allow": {"authenticated": True},
            "audience": "api://someone-else",
        },
        {
            "name": "admin",
            "match": {"path": "/admin/"},
            "to": backend,
            "allow": {"groups": [admins]},
        },
        {
            "name": "api",
            "match": {"path": "/api/"},
            "to": backend,
            "allow": {"groups": ["deployers"], "auth": ["bearer", "service_token"]},
            "deny": {"emails": ["blocked@example.com"]},
            "identity_headers": True,
        },
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("identity")
    key = tmp / "signing.jwk"
    assert edgeward("keys", "generate", "--out", str(key)).returncode == 0
    proxy_port, backend_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{proxy_port}"
    backend_url = f"http://127.0.0.1:{backend_port}"
    verify = [
        "--jwks-url",
        f"{public_url}/.edgeward/jwks.json",
        "--issuer",
        public_url,
        "--audience",
        backend_url,
    ]
    with KeyServer([new_key("RS256")]) as idp, run_backend(*verify, port=backend_port):
        config = {
            "bearer": [{"issuer": idp.issuer, "audiences": ["api://orders"]}],
            "service_tokens": [
                {
                    "id": "ci-bot",
                    "secret_sha256": hashlib.sha256(SECRET.encode()).hexdigest(),
                    "groups": ["deployers"],
                }
            ],
            "signing": {"key_files": [str(key)]},
            "routes": routes(backend_url),
        }
        with run_proxy(tmp, config, port=proxy_port) as proxy:
            yield Stack(proxy, backend_url, idp)


def test_no_credentials_is_401_with_bearer_challenge(stack: Stack) -> None:
    r = stack.get("/api/hello")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="edgeward"')
    assert r.headers["content-type"] == "application/problem+json"


def test_valid_bearer_reaches_verified_backend_with_identity(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.token())
    assert r.status_code == 200, r.text
    caller = r.json()["caller"]
    assert caller["subject"] == "client-1" and caller["auth"] == "bearer"
    assert "deployers" in caller["groups"]


def test_backend_refuses_requests_that_bypass_the_proxy(stack: Stack) -> None:
    r = httpx.get(f"{stack.backend}/api/hello", timeout=TIMEOUT)
    assert r.status_code == 401
    forged = {
        "edgeward-assertion": "x.y.z",
        "signature-input": 'edgeward=("@method")',
        "signature": "edgeward=:AA==:",
    }
    assert (
        httpx.get(f"{stack.backend}/api/hello", headers=forged, timeout=TIMEOUT).status_code == 401
    )


def test_signed_body_is_verified_by_backend(stack: Stack) -> None:
    r = httpx.post(
        f"{stack.proxy.url}/api/echo",
        content=b'{"order": 1}',
        headers={"authorization": f"Bearer {stack.token()}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    names = [name for name, _ in r.json()["headers"]]
    assert "content-digest" in names and "edgeward-assertion" in names
    assert ["edgeward-user", "client-1"] in r.json()["headers"]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": 1}, "token_expired"),
        ({"aud": "api://other"}, "bad_audience"),
        ({"iss": "http://127.0.0.1:1"}, None),
        ({"email": "a@b@example.com"}, None),
    ],
)
def test_invalid_tokens_are_401_invalid_token(
    stack: Stack, claims: dict[str, object], code: str | None
) -> None:
    r = stack.get("/api/hello", stack.token(**claims))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    if code:
        assert r.json()["code"] == code


def test_alg_none_and_garbage_are_refused(stack: Stack) -> None:
    def b64(d: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64(stack.idp.claims(time.time()))}."
    assert stack.get("/api/hello", unsigned).status_code == 401
    assert stack.get("/api/hello", "not-a-jwt").status_code == 401
    two = stack.get("/api/hello", headers={"authorization": "Bearer a"}).status_code
    assert two == 401


def test_service_token(stack: Stack) -> None:
    good = {"edgeward-client-id": "ci-bot", "edgeward-client-secret": SECRET}
    r = stack.get("/api/hello", headers=good)
    assert r.status_code == 200 and r.json()["caller"]["subject"] == "service:ci-bot"
    bad = {"edgeward-client-id": "ci-bot", "edgeward-client-secret": "wrong"}
    assert stack.get("/api/hello", headers=bad).status_code == 401
    unknown = {"edgeward-client-id": "nobody", "edgeward-client-secret": SECRET}
    assert stack.get("/api/hello", headers=unknown).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/admin/stats",
        "//admin/stats",
        "/api/../admin/stats",
        "/%61dmin/stats",
        "/ADMIN/../admin/stats",
    ],
)
def test_admin_paths_need_the_admin_group(stack: Stack, path: str) -> None:
    r = stack.get(path, stack.token())  # a deployer, not an admin
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "no_rule_allows"


def test_admin_group_reaches_admin(stack: Stack) -> None:
    assert stack.get("/admin/stats", stack.token(groups=["admins"])).status_code == 200


def test_deny_wins(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.token(email="blocked@example.com"))
    assert r.status_code == 403 and r.json()["code"] == "deny_rule_matched"


def test_public_route_is_signed_without_assertion(stack: Stack) -> None:
    r = stack.get("/api/items/7")
    assert r.status_code == 200  # the verifying backend accepted the public signature


def test_jwks_and_whoami(stack: Stack) -> None:
    keys = httpx.get(f"{stack.proxy.url}/.edgeward/jwks.json", timeout=TIMEOUT).json()["keys"]
    assert keys and all("d" not in k for k in keys)
    who = stack.get("/.edgeward/whoami", stack.token())
    assert who.json()["sub"] == "client-1" and who.json()["auth"] == "bearer"
    anonymous = stack.get("/.edgeward/whoami")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer ")


def test_audit_line_and_decision_metric(stack: Stack) -> None:
    r = stack.get("/api/hello", stack.token(email="blocked@example.com"))
    rid = r.headers["x-request-id"]
    audit = stack.proxy.wait_for_line(
        lambda line: line.get("type") == "audit" and line.get("request_id") == rid
    )
    assert audit["decision"] == "deny" and audit["reason"] == "deny_rule_matched"
    assert audit["subject"] == "client-1" and audit["rule"].startswith("routes[5].deny")
    metrics = httpx.get(f"{stack.proxy.admin}/metrics", timeout=TIMEOUT).text
    assert (
        'edgeward_auth_decisions_total{decision="deny",reason="deny_rule_matched",route="api"}'
        in metrics
    )


def test_policy_reload_and_broken_file_keeps_policy(stack: Stack) -> None:
    path = stack.proxy.config_path
    original = path.read_text()
    admin_token = stack.token(groups=["admins"])
    try:
        config = yaml.safe_load(original)
        config["routes"] = routes(stack.backend, admins="superadmins")
        path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 10
        while stack.get("/admin/stats", admin_token).status_code != 403:
            assert time.monotonic() < deadline, "new policy not applied"
            time.sleep(0.1)
        path.write_text(original.replace("routes:", "routes:\n- {name: broken, alow: {}}\n", 1))
        stack.proxy.wait_for_line(lambda line: "reload refused" in str(line.get("message", "")))
        assert stack.get("/admin/stats", admin_token).status_code == 403  # still the last good one
        metrics = httpx.get(f"{stack.proxy.admin}/metrics", timeout=TIMEOUT).text
        assert "edgeward_config_reload_errors_total 1.0" in metrics
    finally:
        path.write_text(original)
    deadline = time.monotonic() + 10
    while stack.get("/admin/stats", admin_token).status_code != 200:
        assert time.monotonic() < deadline, "original policy not restored"
        time.sleep(0.1)


def test_key_file_is_private(tmp_path: Path) -> None:
    out = tmp_path / "k.jwk"
    assert edgeward("keys", "generate", "--out", str(out), "--alg", "ES256").returncode == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert edgeward("keys", "generate", "--out", str(out)).returncode == 1  # never overwrites


def test_websocket_through_the_proxy_passes_backend_verification(stack: Stack) -> None:
    uri = stack.proxy.url.replace("http://", "ws://") + "/ws"
    with ws_connect(uri, open_timeout=10) as ws:
        ws.send("signed hello")
        assert ws.recv(timeout=5) == "signed hello"
    with pytest.raises(InvalidStatus):  # straight to the backend: not signed
        ws_connect(stack.backend.replace("http://", "ws://") + "/ws", open_timeout=10)


def test_preserve_host_false_sends_and_signs_the_upstream_authority(stack: Stack) -> None:
    r = httpx.put(
        f"{stack.proxy.url}/api/echo",
        headers={"authorization": f"Bearer {stack.token()}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text  # the backend verified @authority as it received it
    host = stack.backend.removeprefix("http://")
    assert ["host", host] in r.json()["headers"]
    kept = stack.get("/api/echo", stack.token()).json()["headers"]  # default: client's Host
    assert ["host", stack.proxy.url.removeprefix("http://")] in kept


def test_route_audience_goes_into_the_assertion(stack: Stack) -> None:
    # The backend expects its own origin as audience, so this route's assertion is refused.
    r = stack.get("/api/status/200", stack.token())
    assert r.status_code == 401 and r.json()["code"] == "bad_assertion"


# --- the wire contract end to end: @authority and identity headers ----------------------


@pytest.mark.parametrize(
    ("host", "forwarded"),
    [
        ("EXAMPLE.test:80", "example.test"),
        ("Example.Test:", "example.test"),
        ("example.test:443", "example.test:443"),  # not the default port of http
        ("example.test:8080", "example.test:8080"),
        ("[::1]:80", "[::1]"),
    ],
)
def test_client_host_spellings_verify_at_the_backend(
    stack: Stack, host: str, forwarded: str
) -> None:
    # preserve_host: the backend normalises the Host it receives as RFC 9421 §2.2.3
    # says (lowercase, its scheme's default port dropped); the signer must agree.
    r = stack.get("/api/echo", stack.token(), headers={"host": host})
    assert r.status_code == 200, r.text
    assert ["host", forwarded] in r.json()["headers"]


def _received(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {k: v for k, v in r.json()["headers"] if k.startswith("edgeward-")}


def test_tricky_identity_values_round_trip_to_the_backend(stack: Stack) -> None:
    groups = ["deployers", "users,admins", 'say "hi"', "back\\slash", "café", "100%"]
    r = stack.get("/api/echo", stack.token(sub="a%41 b", email="jü@example.com", groups=groups))
    headers = _received(r)
    parsed = List()
    parsed.parse(headers["edgeward-groups"].encode("ascii"))  # an RFC 8941 List of Strings
    assert [unquote(item.value, errors="strict") for item in parsed] == groups
    assert unquote(headers["edgeward-user"], errors="strict") == "a%41 b"
    assert unquote(headers["edgeward-email"], errors="strict") == "jü@example.com"
    caller = r.json()["caller"]  # proxy.verify's Identity, as the demo backend shows it
    assert (caller["subject"], caller["groups"]) == ("a%41 b", groups)
    assert (caller["auth"], caller["issuer"]) == ("bearer", stack.idp.issuer)


def test_bearer_sub_service_ci_bot_is_not_the_service_token_ci_bot(stack: Stack) -> None:
    bearer = stack.get("/api/echo", stack.token(sub="service:ci-bot"))
    service = stack.get(
        "/api/echo", headers={"edgeward-client-id": "ci-bot", "edgeward-client-secret": SECRET}
    )
    as_bearer, as_service = _received(bearer), _received(service)
    assert as_bearer["edgeward-user"] == as_service["edgeward-user"] == "service:ci-bot"
    assert (as_bearer["edgeward-auth"], as_bearer["edgeward-issuer"]) == (
        "bearer",
        stack.idp.issuer,
    )
    assert (as_service["edgeward-auth"], as_service["edgeward-issuer"]) == (
        "service_token",
        stack.proxy.url,  # the proxy's public_url issued the service token
    )
    for response, auth, idp in (
        (bearer, "bearer", stack.idp.issuer),
        (service, "service_token", stack.proxy.url),
    ):
        claims = jwt.decode(
            _received(response)["edgeward-assertion"], options={"verify_signature": False}
        )
        assert (claims["sub"], claims["auth"], claims["idp"]) == ("service:ci-bot", auth, idp)
        caller = response.json()["caller"]
        assert (caller["auth"], caller["issuer"]) == (auth, idp)
