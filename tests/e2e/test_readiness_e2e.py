"""/readyz follows the identity provider's keys; start-up names what is not enforced."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.harness import public_route, run_proxy
from tests.oidc_server import KeyServer, new_key

TIMEOUT = httpx.Timeout(10.0)


def test_readyz_is_503_until_the_idp_keys_can_be_had(tmp_path: Path) -> None:
    idp = KeyServer([new_key("RS256")])  # not started yet: the IdP is down
    config = {
        "bearer": [{"issuer": idp.issuer, "audiences": ["api://x"]}],
        "routes": [
            {
                "name": "api",
                "match": {"path": "/"},
                "to": "http://127.0.0.1:1",
                "allow": {"authenticated": True},
            },
        ],
    }
    with run_proxy(tmp_path, config) as proxy:
        down = httpx.get(f"{proxy.admin}/readyz", timeout=TIMEOUT)
        assert down.status_code == 503
        assert f"jwks {idp.issuer}" in down.json()["failing"]
        assert httpx.get(f"{proxy.admin}/livez", timeout=TIMEOUT).status_code == 200
        with idp:
            deadline = time.monotonic() + 15  # the JWKS refetch is rate-limited (10 s)
            while httpx.get(f"{proxy.admin}/readyz", timeout=TIMEOUT).status_code != 200:
                assert time.monotonic() < deadline, "never ready with the IdP up"
                time.sleep(0.2)


def test_start_up_names_configured_features_this_build_ignores(tmp_path: Path) -> None:
    config = {
        "store": "redis://user:secret@127.0.0.1:6379/0",
        "routes": [
            public_route("items", "http://127.0.0.1:1", "/items/", cache={"ttl": "30s"}),
            {
                "name": "api",
                "match": {"path": "/"},
                "to": "http://127.0.0.1:1",
                "allow": {"authenticated": True},
                "rate_limit": {"requests": 5, "per": "1s"},
            },
        ],
        "service_tokens": [{"id": "a", "secret_sha256": "0" * 64}],
    }
    with run_proxy(tmp_path, config) as proxy:
        messages = [str(line.get("message")) for line in proxy.lines() if line.get("type") == "log"]
    assert any("routes[0].cache is not implemented" in m for m in messages), messages
    assert any("routes[1].rate_limit is not implemented" in m for m in messages), messages
    assert any("Redis store is not used" in m for m in messages), messages
    assert not any("secret" in m for m in messages)
