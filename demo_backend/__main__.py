"""``python -m demo_backend``: serve the demo backend with uvicorn.

    python -m demo_backend --port 9000 [--host 127.0.0.1]
        [--jwks-url URL --issuer ISS --audience AUD] [--hmac-key-file FILE]
        [--no-access-log]

Without ``--jwks-url`` or ``--hmac-key-file`` the backend is unverified (it
answers anyone) and logs a warning saying so.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from demo_backend.app import VerifierUnavailable, create_app, install_verifier

log = logging.getLogger("demo_backend")

UNVERIFIED_WARNING = (
    "demo backend is UNVERIFIED: it answers requests that did not come through the "
    "proxy; pass --jwks-url/--issuer/--audience or --hmac-key-file to verify them"
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo_backend", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--jwks-url", help="the proxy's /.edgeward/jwks.json")
    parser.add_argument("--issuer", help="expected assertion iss (the proxy's public_url)")
    parser.add_argument("--audience", help="expected assertion aud (this backend's origin)")
    parser.add_argument("--hmac-key-file", type=Path, help="shared key for hmac-sha256")
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one log line per request (turn off under load tests)",
    )
    args = parser.parse_args(argv)
    if (args.jwks_url or args.hmac_key_file) and not (args.issuer and args.audience):
        # Assertions are checked against both; without them nothing could be verified.
        parser.error("--jwks-url and --hmac-key-file need --issuer and --audience")
    return args


def wrap_with_verifier(app: FastAPI, args: argparse.Namespace) -> FastAPI:
    """Install ``proxy.verify`` when a key source was given; warn when none was."""
    if not (args.jwks_url or args.hmac_key_file):
        log.warning(UNVERIFIED_WARNING)
        return app
    try:
        from proxy.verify import Verifier
    except ImportError as exc:
        raise VerifierUnavailable(f"proxy.verify is not importable: {exc}") from exc
    hmac_key = _read_key(args.hmac_key_file) if args.hmac_key_file else None
    verifier = Verifier(
        issuer=args.issuer, audience=args.audience, jwks_url=args.jwks_url, hmac_key=hmac_key
    )
    install_verifier(app, verifier)
    log.info("verifying requests: issuer %s, audience %s", args.issuer, args.audience)
    return app


def _read_key(path: Path) -> bytes:
    # Same reading as the proxy's *_file secrets: only a final line break is dropped.
    return path.read_bytes().removesuffix(b"\n").removesuffix(b"\r")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        app = wrap_with_verifier(create_app(), args)
    except (VerifierUnavailable, OSError, ValueError) as exc:
        log.error("cannot start verified: %s", exc)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http="httptools",
        log_level="info",
        access_log=args.access_log,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
