"""The pieces a benchmark run starts: upstream, IdP, signing keys, and the proxy.

The proxy is the real ``python -m proxy run`` process, pinned to its own core,
with stdout (one JSON access line per request) going to a file so that a pipe can
never block it. Its routes are fixed:

* ``/public/``  public, signed forwarding without an assertion;
* ``/api/``     bearer JWT from the bench IdP, ``allow: {groups: [bench]}``,
                assertion + RFC 9421 signature (ed25519 or hmac-sha256);
* ``/upload/``  public, ``max_body: 2GiB`` (for the streamed-upload soak).
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.procs import PYTHON, ROOT, Cores, free_port, pinned
from tests.oidc_server import KeyServer, new_key

RequestSignature = Literal["ed25519", "hmac-sha256"]
AUDIENCE = "api://bench"
GROUP = "bench"


@dataclass(frozen=True)
class Keys:
    """Files the proxy config points at: the signing JWK and the HMAC secret."""

    signing_jwk: Path
    hmac_key: Path

    @classmethod
    def create(cls, tmp: Path) -> Keys:
        jwk, hmac_key = tmp / "signing.jwk", tmp / "hmac.key"
        subprocess.run(
            [PYTHON, "-m", "proxy", "keys", "generate", "--out", str(jwk)],
            check=True,
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        hmac_key.write_text(secrets.token_hex(32))
        return cls(jwk, hmac_key)


@dataclass(frozen=True)
class ProxySetup:
    """What varies between proxy runs."""

    request_signature: RequestSignature = "ed25519"
    access_log: bool = True


@dataclass(frozen=True)
class RunningProxy:
    url: str
    pid: int
    log_path: Path


@contextlib.contextmanager
def run_upstream(cores: Cores) -> Iterator[tuple[str, int]]:
    """The fixed-cost upstream (bench/upstream.py) on the load core; yields (url, pid)."""
    port = free_port()
    args = [PYTHON, str(ROOT / "bench" / "upstream.py"), "--port", str(port)]
    with pinned(args, cores.load, port) as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


@contextlib.contextmanager
def run_idp() -> Iterator[KeyServer]:
    """An RS256 issuer under our control: discovery + JWKS on a loopback port."""
    with KeyServer([new_key("RS256")]) as idp:
        yield idp


def bench_token(idp: KeyServer, lifetime: int = 3600) -> str:
    now = time.time()
    return idp.sign(idp.claims(now, aud=AUDIENCE, groups=[GROUP], exp=int(now) + lifetime))


def proxy_config(
    port: int, upstream: str, idp: KeyServer, keys: Keys, setup: ProxySetup
) -> dict[str, Any]:
    signing: dict[str, Any] = {
        "key_files": [str(keys.signing_jwk)],
        "request_signature": setup.request_signature,
    }
    if setup.request_signature == "hmac-sha256":
        signing["hmac_key_file"] = str(keys.hmac_key)
    return {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "public_url": f"http://127.0.0.1:{port}",
        "bearer": [{"issuer": idp.issuer, "audiences": [AUDIENCE], "jwks_uri": idp.jwks_uri}],
        "signing": signing,
        "shutdown": {"drain_delay": "0s", "grace": "5s"},
        "log": {"access": setup.access_log},
        "routes": [
            {"name": "public", "match": {"path": "/public/"}, "to": upstream, "public": True},
            {
                "name": "upload",
                "match": {"path": "/upload/"},
                "to": upstream,
                "public": True,
                "max_body": "2GiB",
            },
            {
                "name": "api",
                "match": {"path": "/api/"},
                "to": upstream,
                "allow": {"groups": [GROUP], "auth": ["bearer"]},
            },
        ],
    }


@contextlib.contextmanager
def run_proxy(
    tmp: Path, upstream: str, idp: KeyServer, keys: Keys, setup: ProxySetup, cores: Cores
) -> Iterator[RunningProxy]:
    port = free_port()
    name = f"proxy-{setup.request_signature}-{'log' if setup.access_log else 'nolog'}"
    config = tmp / f"{name}.yaml"
    config.write_text(yaml.safe_dump(proxy_config(port, upstream, idp, keys, setup)))
    log_path = tmp / f"{name}.log"
    args = [PYTHON, "-m", "proxy", "run", "--config", str(config), "--workers", "1"]
    with log_path.open("wb") as log, pinned(args, cores.proxy, port, stdout=log) as proc:
        yield RunningProxy(f"http://127.0.0.1:{port}", proc.pid, log_path)
