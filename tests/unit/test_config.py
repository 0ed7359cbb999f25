"""Loading whole configuration files: the SPEC example, schema problems, all at once."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from proxy.config.errors import ConfigError, Problem
from proxy.config.loader import check, config_path, evaluate, load_config, parse_config
from proxy.config.redact import redact
from proxy.config.validate import shared_state_required

SPEC_EXAMPLE = """
listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9090
public_url: http://127.0.0.1:8080
store: memory
trusted_proxies: []
oidc:
  - name: corp
    issuer: https://idp.example.com
    client_id: edgeward
    client_secret_file: secrets/oidc
    scopes: [openid, email, profile, offline_access]
    groups_claim: groups
bearer:
  - issuer: https://idp.example.com
    audiences: [api://orders]
    jwks_uri: https://idp.example.com/keys
service_tokens:
  - id: ci-bot
    secret_sha256: {sha}
    groups: [deployers]
signing:
  key_files: [secrets/edgeward-key.jwk]
  request_signature: ed25519
session: {{ttl: 8h, idle_ttl: 1h}}
routes:
  - name: public
    match: {{path: /public/}}
    to: http://127.0.0.1:9000
    public: true
    timeouts: {{connect: 5s, read: 30s}}
    max_body: 10MiB
  - name: admin
    match: {{path: /admin/, methods: [GET, POST]}}
    to: http://127.0.0.1:9000
    allow: {{groups: [admins]}}
  - name: api
    match: {{host: api.example.com, path: /}}
    to: http://127.0.0.1:9000
    allow: {{email_domains: [example.com], auth: [bearer, service_token]}}
    cache: {{ttl: 30s, scope: user}}
    rate_limit: {{requests: 100, per: 60s, by: user}}
"""

MINIMAL = """
bearer: [{issuer: https://idp.example.com, audiences: [api]}]
routes:
  - {name: api, to: "http://127.0.0.1:9000", allow: {authenticated: true}}
"""


def lines(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[str]:
    """The error lines ``edgeward check`` would print for ``text``."""
    report = evaluate(textwrap.dedent(text), source="t.yaml", env=env or {}, base_dir=tmp_path)
    return [str(p) for p in report.errors]


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "oidc").write_text("s3cret\n")
    (secrets / "edgeward-key.jwk").write_text("{}")
    path = tmp_path / "edgeward.yaml"
    path.write_text(SPEC_EXAMPLE.format(sha=hashlib.sha256(b"token").hexdigest()))
    return path


def test_spec_example_loads(spec_file: Path) -> None:
    config = load_config(spec_file, env={})
    assert [r.name for r in config.routes] == ["public", "admin", "api"]
    assert config.oidc[0].client_secret == "s3cret"
    assert config.signing.key_files == (str(spec_file.parent / "secrets/edgeward-key.jwk"),)
    assert config.session.ttl == 8 * 3600 and config.session.idle_ttl == 3600
    assert config.routes[0].max_body == 10 * 1024 * 1024
    assert config.routes[1].match.methods == ("GET", "POST")
    assert config.routes[2].rate_limit is not None and config.routes[2].rate_limit.per == 60
    assert check(spec_file, env={}) == ([], [])


def test_shared_state_required(spec_file: Path, tmp_path: Path) -> None:
    assert shared_state_required(load_config(spec_file, env={}))
    assert not shared_state_required(parse_config(MINIMAL, source="t", env={}, base_dir=tmp_path))


def test_redact_hides_every_secret(spec_file: Path) -> None:
    text = spec_file.read_text().replace(
        "request_signature: ed25519", "request_signature: ed25519\n  hmac_key: " + "k" * 40
    )
    spec_file.write_text(text)
    data = redact(load_config(spec_file, env={}))
    assert data["oidc"][0]["client_secret"] == "***"
    assert data["service_tokens"][0]["secret_sha256"] == "***"
    assert data["signing"]["hmac_key"] == "***"
    assert "s3cret" not in repr(data) and "k" * 40 not in repr(data)
    assert data["routes"][1]["allow"]["groups"] == ["admins"]


def test_redact_leaves_absent_secrets_absent(tmp_path: Path) -> None:
    data = redact(parse_config(MINIMAL, source="t", env={}, base_dir=tmp_path))
    assert data["signing"]["hmac_key"] is None


def test_error_lines_and_exception_text(tmp_path: Path) -> None:
    text = MINIMAL.replace("allow: {authenticated: true}", "allow: {groups: admins}")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="t.yaml", env={}, base_dir=tmp_path)
    assert caught.value.problems == [
        Problem("routes[0].allow.groups", "Input should be a valid tuple (got 'admins')")
    ]
    assert (
        str(caught.value) == "routes[0].allow.groups: Input should be a valid tuple (got 'admins')"
    )


def test_four_mistakes_give_four_lines(tmp_path: Path) -> None:
    text = """
        listen: 127.0.0.1:8080
        admin_listen: 127.0.0.1:8080
        bearer: [{issuer: https://idp.example.com, audiences: [api]}]
        routes:
          - name: a
            to: http://127.0.0.1:9000
            alow: {groups: [admins]}
          - name: b
            to: http://127.0.0.1:9000
            allow: {groups: [admins]}
            timeouts: {read: soon}
          - name: a
            to: http://127.0.0.1:9001
            match: {path: /other/}
            allow: {authenticated: true}
    """
    assert lines(text, tmp_path) == [
        "routes[0].alow: unknown key (did you mean 'allow'?)",
        "routes[1].timeouts.read: expected a duration such as 30s, 5m or 8h (got 'soon')",
        "admin_listen: must differ from listen (admin is never proxied)",
        "routes[2].name: route name 'a' is already used by routes[0]",
    ]


def test_unknown_keys_at_every_level(tmp_path: Path) -> None:
    text = """
        rutes: []
        signing: {algorithim: EdDSA}
        bearer: [{issuer: https://i, audiences: [a]}]
        routes:
          - {name: a, to: "http://127.0.0.1:9000", allow: {any: [{grups: [x]}]}}
    """
    assert lines(text, tmp_path) == [
        "rutes: unknown key (did you mean 'routes'?)",
        "signing.algorithim: unknown key (did you mean 'algorithm'?)",
        "routes[0].allow.any[0].grups: unknown key (did you mean 'groups'?)",
    ]


def test_not_keeps_its_name_in_paths(tmp_path: Path) -> None:
    text = MINIMAL.replace("allow: {authenticated: true}", "allow: {not: {emails: nobody}}")
    assert lines(text, tmp_path) == [
        "routes[0].allow.not.emails: Input should be a valid tuple (got 'nobody')"
    ]


def test_missing_required_keys(tmp_path: Path) -> None:
    text = """
        bearer: [{issuer: https://i}]
        routes: [{name: a, allow: {authenticated: true}}]
    """
    assert lines(text, tmp_path) == [
        "bearer[0].audiences: required key is missing",
        "routes[0].to: required key is missing",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("8h", 28800.0), ("1d", 86400.0), (12, 12.0)],
)
def test_durations(tmp_path: Path, value: object, expected: float) -> None:
    text = MINIMAL + f"session: {{ttl: {value}}}\n"
    assert parse_config(text, source="t", env={}, base_dir=tmp_path).session.ttl == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("512", 512), ("64KiB", 65536), ("1MB", 10**6), ("2GiB", 2 * 1024**3)]
)
def test_sizes(tmp_path: Path, value: str, expected: int) -> None:
    text = MINIMAL + f"limits: {{max_body: {value}}}\n"
    assert parse_config(text, source="t", env={}, base_dir=tmp_path).limits.max_body == expected


def test_bad_units_name_their_keys(tmp_path: Path) -> None:
    text = MINIMAL + "limits: {max_body: 10 megs, header_timeout: -1s}\n"
    assert lines(text, tmp_path) == [
        "limits.max_body: expected a size such as 64KiB or 10MiB (got '10 megs')",
        "limits.header_timeout: expected a duration such as 30s, 5m or 8h (got '-1s')",
    ]


def test_min_body_rate_parses(tmp_path: Path) -> None:
    text = MINIMAL + "limits: {min_body_rate: {bytes_per_second: 1KiB, grace: 500ms}}\n"
    rate = parse_config(text, source="t", env={}, base_dir=tmp_path).limits.min_body_rate
    assert rate is not None and (rate.bytes_per_second, rate.grace) == (1024, 0.5)
    text = MINIMAL + "limits: {min_body_rate: null}\n"
    assert parse_config(text, source="t", env={}, base_dir=tmp_path).limits.min_body_rate is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "240",
            "limits.min_body_rate: expected {bytes_per_second: 240, grace: 5s}, "
            "or null for no minimum (got 240)",
        ),
        ("{rate: 240}", "limits.min_body_rate.rate: unknown key"),
        (
            "{bytes_per_second: -1}",
            "limits.min_body_rate.bytes_per_second: a size cannot be negative (got -1)",
        ),
        (
            "{grace: soon}",
            "limits.min_body_rate.grace: expected a duration such as 30s, 5m or 8h (got 'soon')",
        ),
        (
            "{bytes_per_second: 240, grace: 0s}",
            "limits.min_body_rate.grace: must be longer than 0s while bytes_per_second "
            "is above 0 (got '0s')",
        ),
    ],
)
def test_bad_min_body_rate_names_its_key(tmp_path: Path, value: str, expected: str) -> None:
    assert lines(MINIMAL + f"limits: {{min_body_rate: {value}}}\n", tmp_path) == [expected]


def test_min_body_rate_of_zero_needs_no_grace(tmp_path: Path) -> None:
    text = MINIMAL + "limits: {min_body_rate: {bytes_per_second: 0, grace: 0s}}\n"
    assert lines(text, tmp_path) == []


def test_union_failure_is_one_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("{authenticated: true}", "{claims: {tier: {a: b}}}")
    [line] = lines(text, tmp_path)
    assert line.startswith("routes[0].allow.claims.tier: does not match any accepted form: ")


def test_odd_claim_names_are_quoted(tmp_path: Path) -> None:
    text = MINIMAL.replace("{authenticated: true}", '{claims: {"https://x/roles": {a: b}}}')
    [line] = lines(text, tmp_path)
    assert line.startswith('routes[0].allow.claims["https://x/roles"]: ')


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    text = MINIMAL + "service_tokens: [{id: x, secret_sha256: not-a-hash-abc}]\n"
    [line] = lines(text, tmp_path)
    assert line.startswith("service_tokens[0].secret_sha256: String should match pattern")
    assert "not-a-hash-abc" not in line


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert lines("- a\n- b\n", tmp_path) == [
        "t.yaml: expected a mapping of settings at the top level"
    ]


def test_empty_file_is_valid_but_warned(tmp_path: Path) -> None:
    report = evaluate("", source="t.yaml", env={}, base_dir=tmp_path)
    assert report.errors == [] and report.config is not None
    assert [str(w) for w in report.warnings] == ["routes: no routes: every request will get 404"]


def test_unreadable_config_file_is_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    errors, warnings = check(missing, env={})
    assert errors == [Problem(str(missing), "cannot read: No such file or directory")]
    assert warnings == []
    with pytest.raises(ConfigError):
        load_config(missing, env={})


def test_config_path_from_argument_or_environment() -> None:
    assert config_path("a.yaml", env={"EDGEWARD_CONFIG": "b.yaml"}) == "a.yaml"
    assert config_path(None, env={"EDGEWARD_CONFIG": "b.yaml"}) == "b.yaml"
    assert config_path(None, env={}) is None


def test_redacted_config_is_json_ready(tmp_path: Path) -> None:
    text = MINIMAL + 'trusted_proxies: [10.0.0.0/8, "::1"]\n'
    data = redact(parse_config(text, source="t", env={}, base_dir=tmp_path))
    assert json.loads(json.dumps(data))["trusted_proxies"] == ["10.0.0.0/8", "::1/128"]


def test_config_error_text_is_one_line_per_problem(tmp_path: Path) -> None:
    text = MINIMAL + "listen: nowhere\nlog: {level: loud}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="t", env={}, base_dir=tmp_path)
    assert str(caught.value).splitlines() == [
        "listen: expected host:port, for example 127.0.0.1:8080 (got 'nowhere')",
        "log.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'loud')",
    ]


def test_allow_unverified_email_is_an_explicit_per_issuer_opt_out(tmp_path: Path) -> None:
    config = parse_config(MINIMAL, source="t", env={}, base_dir=tmp_path)
    assert config.bearer[0].allow_unverified_email is False  # the default trusts nothing
    text = MINIMAL.replace("audiences: [api]", "audiences: [api], allow_unverified_email: true")
    text += "oidc: [{name: c, issuer: https://i, client_id: e, allow_unverified_email: true}]\n"
    config = parse_config(text, source="t", env={}, base_dir=tmp_path)
    assert config.bearer[0].allow_unverified_email and config.oidc[0].allow_unverified_email
    bad = MINIMAL.replace("audiences: [api]", "audiences: [api], allow_unverified_email: maybe")
    [line] = lines(bad, tmp_path)
    assert line.startswith("bearer[0].allow_unverified_email: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # YAML refuses control characters while the loader is still being built.
        ('listen: "127.0.0.1:8080\x01"\n', "t.yaml: not valid YAML: unacceptable character"),
        # An unclosed IPv6 literal makes urlsplit raise; the URL (maybe a password) is not echoed.
        ('store: "redis://:pw@[::1"\n', "store: not a valid URL"),
        # Keys YAML reads as null, number or boolean have no name a path could show.
        ("~: x\n", '["~"]: line 1: a key must be text'),
        ("on: x\n", "on: line 1: a key must be text"),
        ("routes: []\n1.5: x\n", '["1.5"]: line 2: a key must be text'),
    ],
)
def test_odd_documents_are_one_problem_with_a_path(
    tmp_path: Path, text: str, expected: str
) -> None:
    found = lines(text, tmp_path)
    assert len(found) == 1 and found[0].startswith(expected), found
    assert "\n" not in found[0] and "pw" not in found[0]
