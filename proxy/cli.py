"""The ``edgeward`` command line: run, check, explain, keys generate, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _config_path(args: argparse.Namespace) -> str:
    path: str | None = args.config or os.environ.get("EDGEWARD_CONFIG")
    if not path:
        sys.exit("edgeward: --config FILE (or EDGEWARD_CONFIG) is required")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    from proxy.config.loader import ConfigError, load_config, shared_state_required
    from proxy.main import build
    from proxy.server import run

    path = _config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"edgeward: invalid configuration {path}:\n{exc}", file=sys.stderr)
        return 1
    if args.workers > 1 and config.store == "memory" and shared_state_required(config):
        print(
            "edgeward: store: memory keeps sessions, cache and rate limits per process; "
            "use --workers 1 or a redis:// store",
            file=sys.stderr,
        )
        return 1
    return run(config, build, workers=args.workers, config_path=path)


def cmd_check(args: argparse.Namespace) -> int:
    from proxy.config.loader import check

    errors, warnings = check(_config_path(args))
    for problem in errors:
        print(f"{problem.path}: {problem.message}")
    for problem in warnings:
        print(f"warning: {problem.path}: {problem.message}")
    if not errors:
        print("ok", file=sys.stderr)
    return 1 if errors else 0


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeward", description="Identity-aware reverse proxy.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve")
    run.add_argument("--config", help="YAML file (default: $EDGEWARD_CONFIG)")
    run.add_argument("--workers", type=int, default=1)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate config and policies")
    check.add_argument("--config")
    check.set_defaults(func=cmd_check)

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
