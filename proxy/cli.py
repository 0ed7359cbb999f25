"""The ``edgeward`` command line: run, check, explain, keys generate, demo."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import NoReturn

from proxy.config.schema import Config


def _config_path(args: argparse.Namespace) -> str:
    from proxy.config.loader import config_path  # the config module reads the environment

    path = config_path(args.config)
    if not path:
        sys.exit("edgeward: --config FILE (or EDGEWARD_CONFIG) is required")
    return path


def _load(path: str) -> Config | None:
    """The validated config, or None after printing every problem."""
    from proxy.config.loader import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"edgeward: invalid configuration {path}:\n{exc}", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    from proxy.config.loader import shared_state_required
    from proxy.main import build
    from proxy.server import run

    path = _config_path(args)
    config = _load(path)
    if config is None:
        return 1
    if args.workers > 1 and config.store == "memory" and shared_state_required(config):
        print(
            "edgeward: store: memory keeps sessions, cache and rate limits per process; "
            "use --workers 1 or a redis:// store",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="edgeward-") as scratch:
        config = _with_signing_key(config, scratch)
        return run(config, build, workers=args.workers, config_path=path)


def _with_signing_key(config: Config, scratch: str) -> Config:
    """Without ``signing.key_files``, one key for the life of this run, shared by workers.

    Each worker making its own would publish only its own key at jwks.json, and a
    backend would reject what the other workers signed.
    """
    if config.signing.key_files:
        return config
    from proxy.signing.keys import keys_generate

    key = os.path.join(scratch, "ephemeral-signing.jwk")
    keys_generate(key, config.signing.algorithm)
    print(
        "edgeward: signing.key_files is not set: signing with a key made for this run; "
        "backends must fetch /.edgeward/jwks.json again after a restart",
        file=sys.stderr,
    )
    signing = config.signing.model_copy(update={"key_files": (key,)})
    return config.model_copy(update={"signing": signing})


def cmd_check(args: argparse.Namespace) -> int:
    from proxy.config.advice import find_key_warnings
    from proxy.config.loader import inspect_config
    from proxy.config.validate import find_file_errors

    report = inspect_config(_config_path(args))
    errors, warnings = list(report.errors), list(report.warnings)
    if report.config is not None:
        # Key and CA contents are parsed here, not on every load: what start would
        # fail on must fail here first.
        errors += find_file_errors(report.config)
        warnings += find_key_warnings(report.config)
    for problem in errors:
        print(f"{problem.path}: {problem.message}")
    for problem in warnings:
        print(f"warning: {problem.path}: {problem.message}")
    if not errors:
        print("ok", file=sys.stderr)
    return 1 if errors else 0


EXPLAIN_EPILOG = """\
exit status:
  0  allow (forwarded; also a /.edgeward/ endpoint, which the proxy answers itself)
  1  usage or configuration error
  2  deny: 403 by policy, 404 no route, or 400 for a URL the proxy refuses
  3  login: no identity given for a protected route (401, or sign-in for a browser)

--token is decoded WITHOUT verifying its signature: explain is a review tool,
not an authenticator. An email counts for emails / email_domains allows only with
"email_verified": true (or from an issuer with allow_unverified_email: true).

examples:
  edgeward explain --config edgeward.yaml --url https://api.example.com/admin/
  edgeward explain --config edgeward.yaml --url /admin/users --method POST \\
      --claims '{"sub": "a", "email": "a@x.com", "groups": ["admins"], "auth": "session"}'
  edgeward explain --config edgeward.yaml --url /staff/ \\
      --claims '{"sub": "a", "email": "a@x.com", "email_verified": true}'
"""


def cmd_explain(args: argparse.Namespace) -> int:
    import time

    from proxy.explain import (
        EXIT_CODES,
        ExplainError,
        build_question,
        explain,
        render_json,
        render_text,
    )

    config = _load(_config_path(args))
    if config is None:
        return 1
    try:
        question = build_question(
            config,
            args.url,
            args.method,
            claims=args.claims,
            token=args.token,
            client_ip=args.client_ip,
            now=time.time(),
        )
        answer = explain(config, question)
    except ExplainError as exc:
        print(f"edgeward explain: {exc}", file=sys.stderr)
        return 1
    print(render_json(answer) if args.json else render_text(answer))
    return EXIT_CODES[answer.verdict]


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from proxy.signing.keys import keys_generate

    try:
        kid = keys_generate(args.out, args.alg)
    except (OSError, ValueError) as exc:
        print(f"edgeward: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} (kid {kid})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from proxy.demo import run_demo

    return run_demo(port=args.port)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, like configuration errors: `explain` gives 2 and 3 meanings."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edgeward", description="Identity-aware reverse proxy.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="serve")
    run.add_argument("--config", help="YAML file (default: $EDGEWARD_CONFIG)")
    run.add_argument("--workers", type=int, default=1)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate config and policies")
    check.add_argument("--config")
    check.set_defaults(func=cmd_check)

    exp = sub.add_parser(
        "explain",
        help="show the route, rule and decision for one URL",
        description="What the proxy would do with one request, and why.",
        epilog=EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("--config", help="YAML file (default: $EDGEWARD_CONFIG)")
    exp.add_argument("--url", required=True, help="http(s) URL, or a path on public_url")
    exp.add_argument("--method", default="GET")
    who = exp.add_mutually_exclusive_group()
    who.add_argument("--claims", metavar="JSON", help="identity as claims (auth: bearer|session)")
    who.add_argument("--token", metavar="JWT", help="identity from a JWT (NOT verified)")
    exp.add_argument("--client-ip", metavar="IP", help="client address for ip_ranges rules")
    exp.add_argument("--json", action="store_true", help="print one JSON object")
    exp.set_defaults(func=cmd_explain)

    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="write a new private signing key (JWK)")
    gen.add_argument("--out", required=True)
    gen.add_argument("--alg", choices=["EdDSA", "ES256"], default="EdDSA")
    gen.set_defaults(func=cmd_keys_generate)

    demo = sub.add_parser("demo", help="run the proxy, demo backend and a dev OpenID provider")
    demo.add_argument("--port", type=int, default=8080)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
