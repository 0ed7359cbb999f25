"""Fuzz target: loading configuration from YAML text (``proxy.config.loader``).

Input: the YAML text (UTF-8; anything else is refused by the file reader before
the loader runs). Files a config may name (``*_file`` secrets, ``key_files``,
``ca_file``) resolve against a scratch directory holding a secret, a signing key,
a bad CA bundle and a non-UTF-8 file; the environment is a fixed mapping.
Runs what ``edgeward check`` runs: ``evaluate``, then for a valid config the
file checks and key warnings, and ``redact``.

Checks: nothing raises (``load_config`` / ``parse_config`` only ``ConfigError``); a config is
returned exactly when there are no errors; every problem and warning has a
message and names a YAML path (``routes[2].allow.groups``) or the file itself.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from fuzz._support import instrumented

with instrumented("proxy"):
    from proxy.config.advice import find_key_warnings
    from proxy.config.errors import Problem
    from proxy.config.loader import ConfigError, evaluate, redact
    from proxy.config.validate import find_file_errors, shared_state_required
    from proxy.signing.keys import keys_generate

MAX_LEN = 4096
SOURCE = "fuzz.yaml"
ENV = {"SECRET": "s3cret", "EMPTY": "", "PORT": "8080", "UPSTREAM": "http://127.0.0.1:9000"}
DICTIONARY = (
    b"listen: 127.0.0.1:8080\n",
    b"routes:\n  - name: api\n    to: http://127.0.0.1:9000\n",
    b"    match: {host: '*.example.com', path: /api/, methods: [GET]}\n",
    b"    allow: {groups: [admins]}\n",
    b"    deny: {ip_ranges: [203.0.113.0/24]}\n",
    b"    public: true\n",
    b"any: [",
    b"all: [",
    b"not: {",
    b"claims: {",
    b"emails: [a@b.c]",
    b"auth: [bearer]",
    b"bearer:\n  - issuer: https://idp\n    audiences: [api]\n",
    b"service_tokens:\n  - id: ci\n",
    b"secret_sha256: " + b"ab" * 32,
    b"signing:\n  key_files: [signing.jwk]\n",
    b"request_signature: hmac-sha256\n",
    b"hmac_key_file: secret.txt\n",
    b"hmac_key_file: binary.bin\n",
    b"ca_file: ca.pem\n",
    b"${SECRET}",
    b"${MISSING:-x}",
    b"$${",
    b"${",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary",
    b"10MiB",
    b"30s",
    b"redis://",
    b"store: ",
)

KNOWN_BUGS: dict[str, str] = {}

# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()

_WORK = Path(tempfile.mkdtemp(prefix="edgeward-fuzz-"))
atexit.register(shutil.rmtree, _WORK, True)
(_WORK / "secret.txt").write_text("a-shared-hmac-key-of-32-bytes!!!\n")
(_WORK / "binary.bin").write_bytes(b"\xff\xfe\x00")
(_WORK / "ca.pem").write_text(
    "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
)
keys_generate(str(_WORK / "signing.jwk"), "EdDSA")

# A YAML path as ``format_path`` writes it: plain keys, [index], ["quoted key"].
_SEGMENT = r'(?:[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])'
_PATH = re.compile(rf"{_SEGMENT}(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\]|\[\"(?:[^\"\\]|\\.)*\"\])*\Z")


def TestOneInput(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    report = evaluate(text, source=SOURCE, env=ENV, base_dir=_WORK)
    assert (report.config is None) == bool(report.errors), report
    OUTCOMES["invalid" if report.config is None else "valid"] += 1
    check_problems([*report.errors, *report.warnings])
    try:
        report.config_or_raise()  # what parse_config / load_config return or raise
    except ConfigError as exc:
        assert exc.problems == report.errors and report.config is None, exc
    if report.config is not None:
        check_problems([*find_file_errors(report.config), *find_key_warnings(report.config)])
        redact(report.config)
        shared_state_required(report.config)


def check_problems(problems: list[Problem]) -> None:
    for problem in problems:
        assert problem.message, problem
        assert problem.path.startswith(SOURCE) or _PATH.match(problem.path), (
            f"problem names no YAML path: {problem.path!r}: {problem.message}"
        )
