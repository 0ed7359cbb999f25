"""`edgeward check` as a real process: everything that would fail at start fails here first."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from proxy.config.loader import evaluate
from proxy.signing.keys import generate_key, write_key
from tests.harness import edgeward

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "edgeward.yaml"
UP = "http://127.0.0.1:9000"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return edgeward("check", "--config", str(path))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgeward.yaml"
    path.write_text(textwrap.dedent(text))
    return path


BEARER = f"""\
bearer: [{{issuer: https://idp.example.com, audiences: [api]}}]
routes:
  - {{name: api, match: {{path: /api/}}, to: "{UP}", allow: {{groups: [api-users]}}}}
"""


def test_example_config_is_ok() -> None:
    result = check(EXAMPLE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "ok\n")


SEVERAL_MISTAKES = f"""\
bearer:
  - issuer: https://idp.example.com
    audiences: [api://orders]
    algorithms: [RS256, HS256, none]
  - issuer: https://idp.example.com
    audiences: [api://other]
service_tokens:
  - {{id: ci, secret_sha256: "{"a" * 64}"}}
  - {{id: ci, secret_sha256: "{"b" * 64}"}}
routes:
  - {{name: everything, match: {{path: /}}, to: "{UP}", allow: {{authenticated: true}}}}
  - {{name: empty-any, match: {{path: /a/}}, to: "{UP}", allow: {{any: []}}}}
  - {{name: not-a-list, match: {{path: /b/}}, to: "{UP}", allow: {{groups: admins}}}}
  - {{name: all-null, match: {{path: /c/}}, to: "{UP}", allow: {{emails: null}}}}
  - name: two-ats
    match: {{path: /d/}}
    to: "{UP}"
    allow: {{any: [{{emails: [a@example.com, "m@evil.com@example.com"]}}, {{auth: [session]}}]}}
  - {{name: bad-port, match: {{path: /e/}}, to: "http://127.0.0.1:99999", public: true}}
"""

ALGS = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519"


def test_every_mistake_is_one_line_with_its_path(tmp_path: Path) -> None:
    result = check(write(tmp_path, SEVERAL_MISTAKES))
    assert result.returncode == 1
    assert "ok" not in result.stderr
    lines = result.stdout.splitlines()
    errors = [line for line in lines if not line.startswith("warning: ")]
    assert errors == [
        "routes[2].allow.groups: Input should be a valid tuple (got 'admins')",
        f"bearer[0].algorithms[1]: 'HS256': bearer tokens are verified with public keys only "
        f"(choose from {ALGS})",
        f"bearer[0].algorithms[2]: 'none': bearer tokens are verified with public keys only "
        f"(choose from {ALGS})",
        "bearer[1].issuer: issuer 'https://idp.example.com' is already configured by bearer[0]",
        "service_tokens[1].id: id 'ci' is already used by service_tokens[0]",
        "routes[5].to: cannot be used as an upstream: Port out of range 0-65535",
        "routes[1].allow.any: an empty list cannot decide anything",
        "routes[3].allow: a rule needs at least one criterion that is not null",
        "routes[4].allow.any[0].emails[1]: 'm@evil.com@example.com' has more than one @",
    ]
    warnings = [line for line in lines if line.startswith("warning: ")]
    shadowed = [f"routes[{i}].match" for i in (1, 3, 4, 5)]
    assert [w.split(": ")[1] for w in warnings] == [*shadowed, "routes[4].allow.any[1].auth"]
    assert warnings[0] == (
        "warning: routes[1].match: never matches: routes[0] ('everything') comes first "
        "and matches every request this route would"
    )
    assert "no oidc provider is configured" in warnings[-1]


def test_shadowed_route_warns_but_passes(tmp_path: Path) -> None:
    text = BEARER + f'  - {{name: v2, match: {{path: /api/v2/}}, to: "{UP}", public: true}}\n'
    result = check(write(tmp_path, text))
    assert result.returncode == 0, result.stdout
    assert result.stdout == (
        "warning: routes[1].match: never matches: routes[0] ('api') comes first and matches "
        "every request this route would\n"
    )
    assert result.stderr == "ok\n"


def test_session_rule_with_oidc_is_not_warned(tmp_path: Path) -> None:
    oidc = "oidc: [{name: corp, issuer: https://idp.example.com, client_id: e}]\n"
    text = BEARER.replace("{groups: [api-users]}", "{auth: [session, bearer]}")
    assert check(write(tmp_path, text)).stdout.startswith("warning: routes[0].allow.auth: ")
    assert check(write(tmp_path, oidc + text)).stdout == ""


def _key(tmp_path: Path, name: str, alg: str) -> Path:
    path = tmp_path / name
    write_key(str(path), generate_key("ES256" if alg == "ES256" else "EdDSA"))
    return path


def test_key_files_must_load(tmp_path: Path) -> None:
    (tmp_path / "empty.jwk").write_text("{}")
    (tmp_path / "hs.jwk").write_text(json.dumps({"kty": "oct", "k": "c2VjcmV0"}))
    good = _key(tmp_path, "good.jwk", "EdDSA")
    text = BEARER + "signing: {key_files: [empty.jwk, good.jwk, hs.jwk, good.jwk]}\n"
    result = check(write(tmp_path, text))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"signing.key_files[{i}]" for i in (0, 2, 3)]
    assert lines[0].startswith(f"signing.key_files[0]: {tmp_path / 'empty.jwk'}: invalid key: ")
    assert lines[1].startswith(f"signing.key_files[2]: {tmp_path / 'hs.jwk'}: invalid key: ")
    kid = json.loads(good.read_text())["kid"]
    assert lines[2] == (
        f"signing.key_files[3]: key id {kid!r} is already used by signing.key_files[1]"
    )


def test_missing_key_file_is_reported_once(tmp_path: Path) -> None:
    result = check(write(tmp_path, BEARER + "signing: {key_files: [absent.jwk]}\n"))
    assert result.stdout == f"signing.key_files[0]: no such file: {tmp_path / 'absent.jwk'}\n"


def test_ed25519_option_with_an_es256_key_warns(tmp_path: Path) -> None:
    _key(tmp_path, "es.jwk", "ES256")
    result = check(write(tmp_path, BEARER + "signing: {key_files: [es.jwk]}\n"))
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "warning: signing.request_signature: says ed25519, but signing.key_files[0] is an "
        "ES256 key, so requests are signed with ecdsa-p256-sha256; backends must accept that",
        "warning: signing.algorithm: ignored: assertions are signed with the algorithm of "
        "signing.key_files[0] (ES256)",
    ]


def test_ed25519_key_gives_no_warning(tmp_path: Path) -> None:
    _key(tmp_path, "ed.jwk", "EdDSA")
    result = check(write(tmp_path, BEARER + "signing: {key_files: [ed.jwk]}\n"))
    assert (result.returncode, result.stdout) == (0, "")


def test_ca_file_must_be_a_pem_bundle(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    result = check(write(tmp_path, BEARER + "upstream: {ca_file: ca.pem}\n"))
    assert result.returncode == 1
    assert result.stdout.startswith("upstream.ca_file: not a PEM CA bundle: ")


def test_unreadable_config_is_one_line(tmp_path: Path) -> None:
    result = check(tmp_path / "absent.yaml")
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path / 'absent.yaml'}: cannot read: No such file or directory\n"


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        ("{emails: [alice]}", "routes[0].allow.emails[0]: 'alice' is not an address like "),
        ("{not: {email_domains: [a@x.com]}}", "routes[0].allow.not.email_domains[0]: 'a@x.com' "),
        ("{all: []}", "routes[0].allow.all: an empty list cannot decide anything"),
        ("{all: [{groups: null}]}", "routes[0].allow.all[0]: a rule needs at least one "),
    ],
)
def test_rule_mistakes_fail_load_too(tmp_path: Path, rule: str, line: str) -> None:
    # These are pure checks, so they also stop `run` and a policy reload.
    text = BEARER.replace("{groups: [api-users]}", rule)
    report = evaluate(text, source="t.yaml", env={}, base_dir=tmp_path)
    assert report.config is None
    assert [str(p)[: len(line)] for p in report.errors] == [line]


def test_ephemeral_es256_key_with_ed25519_option_warns(tmp_path: Path) -> None:
    text = BEARER + "signing: {algorithm: ES256}\n"
    report = evaluate(text, source="t.yaml", env={}, base_dir=tmp_path)
    assert report.errors == []
    assert [w.path for w in report.warnings] == ["signing.request_signature"]
    hmac = text.replace("ES256}", f"ES256, request_signature: hmac-sha256, hmac_key: {'k' * 32}}}")
    assert evaluate(hmac, source="t.yaml", env={}, base_dir=tmp_path).warnings == []


def test_config_file_from_edgeward_config() -> None:
    result = edgeward("check", env={"EDGEWARD_CONFIG": str(EXAMPLE)})
    assert result.returncode == 0, result.stdout + result.stderr
    missing = edgeward("check")
    assert missing.returncode == 1 and "EDGEWARD_CONFIG" in missing.stderr


def test_a_control_character_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "edgeward.yaml"
    path.write_bytes(b'listen: "127.0.0.1:8080\x01"\nroutes: []\n')
    result = check(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "not valid YAML: unacceptable character" in result.stdout + result.stderr
