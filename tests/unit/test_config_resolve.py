"""``${VAR}`` substitution, ``X_file`` secrets, path keys and duplicate YAML keys."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from proxy.config.document import MAX_VALUES
from proxy.config.errors import ConfigError
from proxy.config.loader import evaluate, load_config, parse_config
from proxy.config.resolve import MAX_SECRET_BYTES
from proxy.config.schema import Config

BASE = """
bearer: [{issuer: "${ISSUER:-https://idp.example.com}", audiences: [api]}]
routes:
  - {name: api, to: "${UPSTREAM}", allow: {authenticated: true}}
"""

OIDC = """
oidc:
  - name: corp
    issuer: https://idp.example.com
    client_id: edgeward
    client_secret_file: %s
routes:
  - {name: app, to: "http://127.0.0.1:9000", allow: {authenticated: true}}
"""


def parse(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), source="t.yaml", env=env or {}, base_dir=tmp_path)


def lines(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> list[str]:
    report = evaluate(textwrap.dedent(text), source="t.yaml", env=env or {}, base_dir=tmp_path)
    return [str(p) for p in report.errors]


def test_variable_and_default(tmp_path: Path) -> None:
    config = parse(BASE, tmp_path, {"UPSTREAM": "http://127.0.0.1:9001"})
    assert config.routes[0].to == "http://127.0.0.1:9001"
    assert config.bearer[0].issuer == "https://idp.example.com"


def test_variable_overrides_default(tmp_path: Path) -> None:
    env = {"UPSTREAM": "http://127.0.0.1:9001", "ISSUER": "https://other.example.com"}
    assert parse(BASE, tmp_path, env).bearer[0].issuer == "https://other.example.com"


def test_empty_variable_takes_the_default(tmp_path: Path) -> None:
    env = {"UPSTREAM": "http://127.0.0.1:9001", "ISSUER": ""}
    assert parse(BASE, tmp_path, env).bearer[0].issuer == "https://idp.example.com"


def test_substitution_inside_a_longer_string(tmp_path: Path) -> None:
    text = BASE.replace('"${UPSTREAM}"', '"http://${HOST}:${PORT:-9000}"')
    assert parse(text, tmp_path, {"HOST": "127.0.0.1"}).routes[0].to == "http://127.0.0.1:9000"


def test_numbers_from_the_environment(tmp_path: Path) -> None:
    text = BASE + 'limits: {max_body: "${MAX_BODY}"}\n'
    config = parse(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9", "MAX_BODY": "2MiB"})
    assert config.limits.max_body == 2 * 1024 * 1024


def test_unset_variable_names_key_and_variable_once(tmp_path: Path) -> None:
    # The empty value left behind must not be reported again as a bad URL.
    assert lines(BASE, tmp_path) == ["routes[0].to: environment variable UPSTREAM is not set"]


def test_escaped_and_malformed_references(tmp_path: Path) -> None:
    text = BASE + 'oidc: [{name: c, issuer: "$${LITERAL}", client_id: "${1x}"}]\n'
    config_lines = lines(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9"})
    assert config_lines == ["oidc[0].client_id: malformed reference ${1x}"]
    text = BASE + 'oidc: [{name: c, issuer: "$${LITERAL}", client_id: "${OPEN"}]\n'
    config = parse(text.replace("${OPEN", "x"), tmp_path, {"UPSTREAM": "http://127.0.0.1:9"})
    assert config.oidc[0].issuer == "${LITERAL}"
    assert lines(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9"}) == [
        "oidc[0].client_id: unterminated ${ (write $${ for a literal)"
    ]


def test_keys_are_not_substituted(tmp_path: Path) -> None:
    text = BASE + "${KEY}: 1\n"
    assert lines(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9", "KEY": "x"}) == [
        '["${KEY}"]: unknown key'
    ]


def test_process_environment_is_used_only_without_env(tmp_path: Path) -> None:
    # Reads a variable every test process has rather than changing os.environ.
    name = next(iter(sorted(os.environ)))
    path = tmp_path / "c.yaml"
    path.write_text(
        BASE.replace("${UPSTREAM}", "http://127.0.0.1:9")
        + f'service_tokens: [{{id: "${{{name}}}", secret_sha256: "{"0" * 64}"}}]\n'
    )
    assert load_config(path).service_tokens[0].id == os.environ[name]
    with pytest.raises(ConfigError, match=f"{name} is not set"):
        load_config(path, env={})


def test_secret_file_relative_to_config_dir(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "oidc").write_text("hunter2\n")
    path = tmp_path / "c.yaml"
    path.write_text(OIDC % "secrets/oidc")
    assert load_config(path, env={}).oidc[0].client_secret == "hunter2"


def test_secret_file_keeps_inner_whitespace(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text(" two\nlines \n\n")
    config = parse(OIDC % secret, tmp_path)
    assert config.oidc[0].client_secret == " two\nlines \n"


def test_secret_file_path_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "oidc").write_text("from-env-dir")
    config = parse(OIDC % "${SECRETS}/oidc", tmp_path, {"SECRETS": str(tmp_path)})
    assert config.oidc[0].client_secret == "from-env-dir"


def test_missing_secret_file_is_one_problem(tmp_path: Path) -> None:
    assert lines(OIDC % "nope", tmp_path) == [
        f"oidc[0].client_secret_file: cannot read {tmp_path / 'nope'}: No such file or directory"
    ]


def test_secret_file_that_is_a_directory(tmp_path: Path) -> None:
    [line] = lines(OIDC % str(tmp_path), tmp_path)
    assert line.startswith(f"oidc[0].client_secret_file: cannot read {tmp_path}: ")


def test_huge_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    [line] = lines(OIDC % "big", tmp_path)
    assert line.startswith("oidc[0].client_secret_file: ") and "larger than" in line


def test_value_and_file_together_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("x")
    text = (OIDC % "s").replace("client_id: edgeward", "client_id: edgeward\n    client_secret: y")
    assert lines(text, tmp_path) == [
        "oidc[0].client_secret_file: give either client_secret or client_secret_file, not both"
    ]


def test_file_path_must_be_a_string(tmp_path: Path) -> None:
    assert lines(OIDC % "[a, b]", tmp_path) == [
        "oidc[0].client_secret_file: expected the path of a file"
    ]


def test_other_secret_files(tmp_path: Path) -> None:
    (tmp_path / "hmac").write_text("k" * 40 + "\n")
    (tmp_path / "sha").write_text("ab" * 32 + "\n")
    text = """
        signing: {request_signature: hmac-sha256, hmac_key_file: hmac}
        service_tokens: [{id: ci, secret_sha256_file: sha}]
        routes: [{name: a, to: "http://127.0.0.1:9", allow: {authenticated: true}}]
    """
    config = parse(text, tmp_path)
    assert config.signing.hmac_key == "k" * 40
    assert config.service_tokens[0].secret_sha256 == "ab" * 32


def test_path_keys_are_resolved_not_read(tmp_path: Path) -> None:
    (tmp_path / "key.jwk").write_text("{}")
    (tmp_path / "ca.pem").write_text("not read")
    text = BASE + "signing: {key_files: [key.jwk]}\nupstream: {ca_file: ca.pem}\n"
    config = parse(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9"})
    assert config.signing.key_files == (str(tmp_path / "key.jwk"),)
    assert config.upstream.ca_file == str(tmp_path / "ca.pem")


def test_claim_names_ending_in_file_are_data(tmp_path: Path) -> None:
    text = BASE.replace("{authenticated: true}", "{claims: {tenant_file: acme}}")
    config = parse(text, tmp_path, {"UPSTREAM": "http://127.0.0.1:9"})
    assert config.routes[0].allow is not None
    assert config.routes[0].allow.claims == {"tenant_file": "acme"}


def test_duplicate_keys_are_all_reported_with_paths(tmp_path: Path) -> None:
    text = """
        listen: 127.0.0.1:8080
        listen: 127.0.0.1:8081
        routes:
          - name: a
            to: http://127.0.0.1:9000
            allow: {groups: [admins]}
            allow: {authenticated: true}
    """
    assert lines(text, tmp_path) == [
        "listen: key given twice (lines 2 and 3)",
        "routes[0].allow: key given twice (lines 7 and 8)",
    ]


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = """
        bearer: [{issuer: https://i, audiences: [a]}]
        x-defaults: &defaults {to: "http://127.0.0.1:9000", allow: {authenticated: true}}
        routes:
          - {<<: *defaults, name: a, match: {path: /a/}}
          - {<<: *defaults, name: b, match: {path: /b/}, to: "http://127.0.0.1:9001"}
    """
    assert lines(text, tmp_path) == ["x-defaults: unknown key"]


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    [line] = lines("routes: [\n  {name: a\n", tmp_path)
    assert line.startswith("t.yaml line ") and "not valid YAML" in line


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    [line] = lines("listen: !!python/object/apply:os.system [true]\n", tmp_path)
    assert line.startswith("t.yaml line 1") and "not valid YAML" in line


def test_self_referring_alias_is_refused(tmp_path: Path) -> None:
    assert lines("trusted_proxies: &a [*a]\n", tmp_path) == [
        "t.yaml: an alias refers to a value that contains it"
    ]


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # Nine levels of nine-fold aliases would be 387 million strings if expanded.
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
    )
    assert lines(text, tmp_path) == [
        f"t.yaml: more than {MAX_VALUES} values once aliases are expanded"
    ]


def test_aliases_of_modest_size_are_fine(tmp_path: Path) -> None:
    text = """
        bearer: [{issuer: https://i, audiences: &aud [a, b]}, {issuer: https://j, audiences: *aud}]
    """
    assert parse(text, tmp_path).bearer[1].audiences == ("a", "b")
