"""``edgeward demo``: the whole product on loopback, for a first look.

Starts a development OpenID provider, the demo backend and the proxy (with the
in-memory store and the routes of ``deploy/examples/edgeward.yaml``), prints
the URLs and the test users, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from proxy.signing.keys import keys_generate

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "examples" / "edgeward.yaml"
USERS: tuple[dict[str, Any], ...] = (
    {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["admins", "api-users"],
        "name": "Alice",
    },
    {
        "sub": "bob",
        "email": "bob@example.com",
        "email_verified": True,
        "groups": ["api-users"],
        "name": "Bob",
    },
)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout}s")


@contextlib.contextmanager
def _process(args: list[str], port: int, name: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(port, proc, name)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_demo(port: int = 8080) -> int:
    if not EXAMPLE.exists():
        print(f"edgeward demo: example config not found at {EXAMPLE}", file=sys.stderr)
        return 1
    proxy_port, admin_port = _pick(port), _pick(9090)
    backend_port, idp_port = _pick(9000), _pick(9400)
    issuer = f"http://127.0.0.1:{idp_port}"
    env = {
        **os.environ,
        "EDGEWARD_LISTEN": f"127.0.0.1:{proxy_port}",
        "EDGEWARD_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
        "EDGEWARD_PUBLIC_URL": f"http://127.0.0.1:{proxy_port}",
        "EDGEWARD_UPSTREAM": f"http://127.0.0.1:{backend_port}",
        "EDGEWARD_OIDC_ISSUER": issuer,
    }
    idp = [sys.executable, "-m", "oidc_provider_mock", "--port", str(idp_port)]
    for user in USERS:
        idp += ["--user-claims", json.dumps(user)]
    public_url = env["EDGEWARD_PUBLIC_URL"]
    backend = [
        *(sys.executable, "-m", "demo_backend", "--port", str(backend_port)),
        *("--jwks-url", f"{public_url}/.edgeward/jwks.json", "--issuer", public_url),
        *("--audience", env["EDGEWARD_UPSTREAM"]),
    ]
    workdir = Path(tempfile.mkdtemp(prefix="edgeward-demo-"))
    secret = secrets.token_urlsafe(24)
    config = _demo_config(workdir, secret)
    proxy = [sys.executable, "-m", "proxy", "run", "--config", str(config)]
    try:
        with (
            _process(idp, idp_port, "OpenID provider"),
            _process(backend, backend_port, "demo backend"),
        ):
            print(_banner(proxy_port, admin_port, backend_port, issuer, secret), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                return subprocess.call(proxy, env=env)
    except RuntimeError as exc:
        print(f"edgeward demo: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _demo_config(workdir: Path, secret: str) -> Path:
    """The example config plus a signing key and one demo service token."""
    config = yaml.safe_load(EXAMPLE.read_text())
    key = workdir / "signing.jwk"
    keys_generate(str(key), "EdDSA")
    config.setdefault("signing", {})["key_files"] = [str(key)]
    digest = hashlib.sha256(secret.encode()).hexdigest()
    config["service_tokens"] = [
        {"id": "demo-agent", "secret_sha256": digest, "groups": ["api-users"]}
    ]
    config["shutdown"] = {"drain_delay": "0s", "grace": "5s"}
    path = workdir / "edgeward.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _banner(proxy: int, admin: int, backend: int, issuer: str, secret: str) -> str:
    base = f"http://127.0.0.1:{proxy}"
    users = ", ".join(f"{u['sub']} ({', '.join(u['groups'])})" for u in USERS)
    return (
        f"\nEdgeward demo\n"
        f"  open      {base}/public/hello   (public)\n"
        f"            {base}/api/items/7    (public)\n"
        f"            {base}/api/stream     (server-sent events)\n"
        f"            {base}/api/hello      (needs a bearer token or the service token:)\n"
        f"    curl -H 'Edgeward-Client-Id: demo-agent' -H 'Edgeward-Client-Secret: {secret}' \\\n"
        f"         {base}/api/hello\n"
        f"  admin     http://127.0.0.1:{admin}/metrics  /readyz  /livez\n"
        f"  backend   http://127.0.0.1:{backend} (direct requests get 401: not signed)\n"
        f"  OpenID    {issuer}   test users: {users}\n"
        f"  Ctrl-C stops everything.\n"
    )
