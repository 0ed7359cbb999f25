"""Cross-field errors and warnings, each with the exact path it names."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from proxy.config.advice import covers
from proxy.config.loader import Report, evaluate
from proxy.config.schema import Match

BEARER = "bearer: [{issuer: https://idp.example.com, audiences: [api]}]\n"
OIDC = "oidc: [{name: corp, issuer: https://idp.example.com, client_id: e}]\n"
UP = '"http://127.0.0.1:9000"'


def report(text: str, tmp_path: Path) -> Report:
    return evaluate(textwrap.dedent(text), source="t.yaml", env={}, base_dir=tmp_path)


def errors(text: str, tmp_path: Path) -> list[str]:
    return [str(p) for p in report(text, tmp_path).errors]


def warnings(text: str, tmp_path: Path) -> list[str]:
    return [str(p) for p in report(text, tmp_path).warnings]


def routes(*lines: str) -> str:
    return "routes:\n" + "".join(f"  - {line}\n" for line in lines)


def test_duplicate_route_names(tmp_path: Path) -> None:
    text = BEARER + routes(
        f"{{name: a, to: {UP}, match: {{path: /a/}}, allow: {{authenticated: true}}}}",
        f"{{name: b, to: {UP}, match: {{path: /b/}}, allow: {{authenticated: true}}}}",
        f"{{name: a, to: {UP}, match: {{path: /c/}}, allow: {{authenticated: true}}}}",
    )
    assert errors(text, tmp_path) == ["routes[2].name: route name 'a' is already used by routes[0]"]


@pytest.mark.parametrize(
    ("listen", "admin", "clash"),
    [
        ("127.0.0.1:8080", "127.0.0.1:8080", True),
        ("0.0.0.0:8080", "127.0.0.1:8080", True),
        ("127.0.0.1:8080", "127.0.0.1:9090", False),
        ("127.0.0.1:8080", "127.0.0.2:8080", False),
    ],
)
def test_listen_and_admin_listen(tmp_path: Path, listen: str, admin: str, clash: bool) -> None:
    text = f"listen: {listen}\nadmin_listen: {admin}\n" + BEARER
    expected = ["admin_listen: must differ from listen (admin is never proxied)"] if clash else []
    assert errors(text, tmp_path) == expected


def test_idp_must_name_an_oidc_provider(tmp_path: Path) -> None:
    text = OIDC + routes(
        f"{{name: a, to: {UP}, idp: corp, match: {{path: /a/}}, allow: {{authenticated: true}}}}",
        f"{{name: b, to: {UP}, idp: crop, allow: {{authenticated: true}}}}",
    )
    assert errors(text, tmp_path) == ["routes[1].idp: no oidc provider named 'crop' (known: corp)"]


def test_oidc_names_unique(tmp_path: Path) -> None:
    text = "oidc:\n" + "  - {name: corp, issuer: https://a.example.com, client_id: e}\n" * 2
    assert errors(text, tmp_path) == [
        "oidc[1].name: provider name 'corp' is already used by oidc[0]"
    ]


def test_protected_route_needs_an_authentication_method(tmp_path: Path) -> None:
    text = routes(
        f"{{name: open, to: {UP}, public: true, match: {{path: /p/}}}}",
        f"{{name: closed, to: {UP}, allow: {{authenticated: true}}}}",
    )
    assert errors(text, tmp_path) == [
        "routes[1]: route requires authentication but no oidc, bearer or service_tokens "
        "is configured"
    ]
    assert errors(OIDC + text, tmp_path) == []
    token = 'service_tokens: [{id: ci, secret_sha256: "' + "a" * 64 + '"}]\n'
    assert errors(token + text, tmp_path) == []


def test_public_route_with_rules(tmp_path: Path) -> None:
    text = BEARER + routes(
        f"{{name: a, to: {UP}, public: true, allow: {{groups: [x]}}, deny: {{groups: [y]}}}}"
    )
    assert errors(text, tmp_path) == [
        "routes[0].allow: public: true skips authentication, so allow would never apply; "
        "remove allow or public: true",
        "routes[0].deny: public: true skips authentication, so deny would never apply; "
        "remove deny or public: true",
    ]


def test_protected_route_without_allow(tmp_path: Path) -> None:
    text = BEARER + routes(f"{{name: a, to: {UP}, deny: {{groups: [contractors]}}}}")
    assert errors(text, tmp_path) == [
        "routes[0].allow: no allow rule: every request would be denied; add allow or public: true"
    ]


def test_hmac_signature_needs_a_key(tmp_path: Path) -> None:
    text = BEARER + "signing: {request_signature: hmac-sha256}\n"
    assert errors(text, tmp_path) == [
        "signing.hmac_key: required when request_signature is hmac-sha256 "
        "(give hmac_key or hmac_key_file)"
    ]
    keyed = BEARER + f"signing: {{request_signature: hmac-sha256, hmac_key: {'k' * 32}}}\n"
    assert errors(keyed, tmp_path) == []


def test_short_hmac_key_is_a_warning(tmp_path: Path) -> None:
    text = BEARER + "signing: {request_signature: hmac-sha256, hmac_key: short}\n"
    assert errors(text, tmp_path) == []
    assert "signing.hmac_key: shorter than 32 bytes" in warnings(text, tmp_path)[-1]


def test_key_files_must_exist(tmp_path: Path) -> None:
    (tmp_path / "a.jwk").write_text("{}")
    text = BEARER + "signing: {key_files: [a.jwk, b.jwk]}\n"
    assert errors(text, tmp_path) == [f"signing.key_files[1]: no such file: {tmp_path / 'b.jwk'}"]


def test_ca_file_must_exist(tmp_path: Path) -> None:
    text = BEARER + "upstream: {ca_file: /nonexistent/ca.pem}\n"
    assert errors(text, tmp_path) == ["upstream.ca_file: no such file: /nonexistent/ca.pem"]


@pytest.mark.parametrize(
    "store",
    [
        "memory",
        "redis://127.0.0.1:6379/0",
        "rediss://cache.example.com:6380/1",
        "redis+sentinel://s1.example.com:26379/mymaster",
        "redis+cluster://node1.example.com:7000",
    ],
)
def test_store_accepted(tmp_path: Path, store: str) -> None:
    assert errors(BEARER + f"store: {store}\n", tmp_path) == []


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("mongodb://x", "expected memory or a redis://, rediss://, redis+sentinel:// "),
        ("Memory", "expected memory or a redis://"),
        ("redis://", "a redis:// URL needs a host"),
    ],
)
def test_store_refused(tmp_path: Path, store: str, message: str) -> None:
    [line] = errors(BEARER + f"store: {store}\n", tmp_path)
    assert line.startswith("store: " + message)


def test_per_user_settings_on_public_route(tmp_path: Path) -> None:
    text = BEARER + routes(
        f"{{name: a, to: {UP}, public: true, cache: {{ttl: 5s, scope: user}}, "
        "rate_limit: {requests: 5, per: 1s}}"
    )
    assert errors(text, tmp_path) == [
        "routes[0].rate_limit.by: a public route has no user to count by; use by: ip",
        "routes[0].cache.scope: a public route has no user to cache for; use scope: public",
    ]
    fixed = text.replace("scope: user", "scope: public").replace("per: 1s", "per: 1s, by: ip")
    assert errors(fixed, tmp_path) == []


def test_https_public_url_with_plain_listener_is_fine(tmp_path: Path) -> None:
    text = BEARER + "public_url: https://auth.example.com\nlisten: 0.0.0.0:8080\n"
    assert errors(text, tmp_path) == []


def test_cross_field_checks_skip_sections_that_failed(tmp_path: Path) -> None:
    # oidc is broken, so "no provider named corp" and "no authentication" would mislead.
    text = "oidc: [{name: corp, issuer: https://i, client_id: e, scops: [openid]}]\n" + routes(
        f"{{name: a, to: {UP}, idp: corp, allow: {{authenticated: true}}}}"
    )
    assert errors(text, tmp_path) == ["oidc[0].scops: unknown key (did you mean 'scopes'?)"]


def test_schema_and_cross_field_problems_together(tmp_path: Path) -> None:
    text = (
        BEARER
        + "store: nosql\n"
        + routes(
            f"{{name: a, to: {UP}, public: true, cache: {{ttl: 5s, scope: user}}}}",
            f"{{name: b, to: {UP}, match: {{path: nope}}, allow: {{authenticated: true}}}}",
        )
    )
    assert errors(text, tmp_path) == [
        "routes[1].match.path: a path prefix must start with / (got 'nope')",
        "store: expected memory or a redis://, rediss://, redis+sentinel:// "
        "or redis+cluster:// URL",
        "routes[0].cache.scope: a public route has no user to cache for; use scope: public",
    ]


SHADOW_CASES = [
    # (earlier match, later match, shadowed?)
    ({"path": "/"}, {"path": "/api/"}, True),
    ({"path": "/api/"}, {"path": "/api/"}, True),
    ({"path": "/api"}, {"path": "/api/v2/"}, True),
    ({"path": "/api/"}, {"path": "/apix/"}, False),
    ({"path": "/api/v2/"}, {"path": "/api/"}, False),
    ({"host": "api.example.com"}, {"host": "api.example.com", "path": "/x/"}, True),
    ({"host": "api.example.com"}, {"host": "API.example.com.", "path": "/x/"}, True),
    ({"host": "api.example.com"}, {"host": "api.example.com:8443"}, True),
    ({"host": "api.example.com:8443"}, {"host": "api.example.com"}, False),
    ({"host": "api.example.com"}, {"path": "/x/"}, False),
    ({"host": "*.example.com"}, {"host": "api.example.com"}, True),
    ({"host": "*.example.com"}, {"host": "a.b.example.com"}, False),
    ({"host": "*.example.com"}, {"host": "example.com"}, False),
    ({"host": "*.example.com"}, {"host": "*.example.com", "path": "/x/"}, True),
    ({"methods": ["GET", "POST"]}, {"methods": ["get"]}, True),
    ({"methods": ["GET"]}, {"methods": ["GET", "POST"]}, False),
    ({"methods": ["GET"]}, {}, False),
    ({}, {"methods": ["DELETE"]}, True),
]


@pytest.mark.parametrize(("earlier", "later", "shadowed"), SHADOW_CASES)
def test_covers(earlier: dict[str, object], later: dict[str, object], shadowed: bool) -> None:
    assert covers(Match.model_validate(earlier), Match.model_validate(later)) is shadowed


def test_shadowed_route_is_a_warning_not_an_error(tmp_path: Path) -> None:
    text = BEARER + routes(
        f"{{name: all, to: {UP}, match: {{path: /api/}}, allow: {{authenticated: true}}}}",
        f"{{name: other, to: {UP}, match: {{path: /web/}}, allow: {{authenticated: true}}}}",
        f"{{name: v2, to: {UP}, match: {{path: /api/v2/}}, allow: {{groups: [x]}}}}",
    )
    result = report(text, tmp_path)
    assert result.errors == [] and result.config is not None
    assert [str(w) for w in result.warnings] == [
        "routes[2].match: never matches: routes[0] ('all') comes first and matches every "
        "request this route would"
    ]


def test_warnings_survive_errors(tmp_path: Path) -> None:
    text = BEARER + routes(
        f"{{name: all, to: {UP}, allow: {{authenticated: true}}}}",
        f"{{name: bad, to: {UP}, match: {{path: /x/}}, allow: {{alow: 1}}}}",
        f"{{name: v2, to: {UP}, match: {{path: /v2/}}, allow: {{authenticated: true}}}}",
    )
    result = report(text, tmp_path)
    assert [str(e) for e in result.errors] == [
        "routes[1].allow.alow: unknown key (did you mean 'allow'?)"
    ]
    assert [w.path for w in result.warnings] == ["routes[2].match"]


def test_spec_rules_are_valid_yaml_for_every_criterion(tmp_path: Path) -> None:
    rule = {
        "any": [
            {"emails": ["a@example.com"]},
            {"all": [{"groups": ["ops"]}, {"methods": ["GET"]}]},
            {"claims": {"tier": ["gold", "silver"], "level": 3}},
        ],
        "not": {"ip_ranges": ["10.0.0.0/8", "2001:db8::/32"]},
        "auth": ["session", "bearer"],
    }
    text = (
        BEARER
        + "routes:\n"
        + yaml.safe_dump([{"name": "a", "to": "http://127.0.0.1:9000", "allow": rule}])
    )
    assert errors(text, tmp_path) == []
