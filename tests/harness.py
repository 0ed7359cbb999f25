"""A real Edgeward process for end-to-end tests, and the demo backend beside it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from tests.support import free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Proxy:
    url: str
    admin: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def raw(self, data: bytes, *, until_close: bool = False) -> bytes:
        """Send raw bytes on a fresh connection; the first read, or all until close."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(data)
            s.settimeout(5)
            if not until_close:
                return s.recv(65536)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    def lines(self) -> list[dict[str, Any]]:
        """JSON lines the proxy wrote to stdout so far."""
        out = []
        for line in self.log_path.read_bytes().splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
        return out

    def wait_for_line(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if predicate(line):
                    return line
            time.sleep(0.02)
        raise AssertionError("no matching log line")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def edgeward(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``edgeward`` command as a real process (bounded in time).

    ``EDGEWARD_*`` variables of the caller are dropped so ``${VAR:-default}``
    substitutions in example configs take their defaults.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWARD_")}
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        check=False,
        text=True,
        cwd=ROOT,
        env={**clean, **(env or {})},
        timeout=30,
    )


def write_config(tmp: Path, config: Mapping[str, Any]) -> Path:
    path = tmp / "edgeward.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


@contextlib.contextmanager
def run_proxy(
    tmp: Path,
    config: Mapping[str, Any],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Proxy]:
    port, admin_port = port or free_port(), free_port()
    full = {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{admin_port}",
        "public_url": f"http://127.0.0.1:{port}",
        "shutdown": {"drain_delay": "0s", "grace": "5s"},
        **config,
    }
    path = write_config(tmp, full)
    log_path = tmp / f"proxy-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "proxy",
                "run",
                "--config",
                str(path),
                "--workers",
                str(workers),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
    try:
        wait_for_port(port, 20, proc)
        wait_for_port(admin_port, 20, proc)
        _wait_live(f"http://127.0.0.1:{admin_port}/livez", proc)
        yield Proxy(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", proc, log_path, path
        )
    finally:
        stop(proc)


stop = stop_process


def _wait_live(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Sockets are bound before the app starts; wait until it answers (start-up done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def run_backend(*args: str, port: int | None = None) -> Iterator[str]:
    """The demo backend as a real process (unverified unless args say otherwise)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo_backend", "--port", str(port), "--no-access-log", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        wait_for_port(port, 20, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def public_route(name: str, upstream: str, path: str = "/", **extra: Any) -> dict[str, Any]:
    return {"name": name, "match": {"path": path}, "to": upstream, "public": True, **extra}
