"""Real Edgeward and demo backend processes, and the ``edgeward`` command."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from tests.harness.poll import eventually, wait_for_port
from tests.harness.ports import PortTaken, free_port, lost_port_race, retrying

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def run_process(
    args: Sequence[str], port: int, timeout: float = 20.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a real process that listens on ``port``; stop it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, *args] if args[0].endswith(".py") or args[0] == "-m" else list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout, proc)
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM and wait (bounded); kill as a last resort."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


stop = stop_process


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


# --- the Edgeward proxy as a process ---------------------------------------------------


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
        def first() -> dict[str, Any] | None:
            return next((line for line in self.lines() if predicate(line)), None)

        try:
            return eventually(first, timeout, 0.02)
        except AssertionError:
            raise AssertionError("no matching log line") from None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def write_config(tmp: Path, config: Mapping[str, Any]) -> Path:
    path = tmp / "edgeward.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def run_proxy(
    tmp: Path,
    config: Mapping[str, Any],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> contextlib.AbstractContextManager[Proxy]:
    """A real ``edgeward run`` process; started again on fresh ports if one was taken."""
    return contextlib.contextmanager(retrying)(
        lambda: _proxy_once(tmp, config, workers=workers, env=env, port=port)
    )


@contextlib.contextmanager
def _proxy_once(
    tmp: Path,
    config: Mapping[str, Any],
    *,
    workers: int,
    env: Mapping[str, str] | None,
    port: int | None,
) -> Iterator[Proxy]:
    fixed = port is not None
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
        try:
            wait_for_port(port, 20, proc)
            wait_for_port(admin_port, 20, proc)
            _wait_live(f"http://127.0.0.1:{admin_port}/livez", proc)
        except RuntimeError:
            text = log_path.read_text(errors="replace")
            if not fixed and "listen" not in config and lost_port_race(text):
                raise PortTaken(text) from None
            raise
        yield Proxy(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", proc, log_path, path
        )
    finally:
        stop(proc)


def _wait_live(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Sockets are bound before the app starts; wait until it answers (start-up done)."""

    def live() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url, timeout=1).status_code == 200
        return False

    try:
        eventually(live, timeout, 0.02)
    except AssertionError:
        raise TimeoutError(f"{url} did not answer within {timeout}s") from None


def run_backend(*args: str, port: int | None = None) -> contextlib.AbstractContextManager[str]:
    """The demo backend as a real process (unverified unless args say otherwise)."""
    return contextlib.contextmanager(retrying)(lambda: _backend_once(args, port))


@contextlib.contextmanager
def _backend_once(args: Sequence[str], port: int | None) -> Iterator[str]:
    fixed = port is not None
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo_backend", "--port", str(port), "--no-access-log", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    # uvicorn reports a bind failure on stderr; drain it so the pipe never fills.
    errors: list[bytes] = []
    drain = threading.Thread(target=_collect, args=(proc, errors), daemon=True)
    drain.start()
    try:
        try:
            wait_for_port(port, 20, proc)
        except RuntimeError:
            drain.join(5)
            text = b"".join(errors).decode(errors="replace")
            if not fixed and lost_port_race(text):
                raise PortTaken(text) from None
            raise
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        drain.join(5)


def _collect(proc: subprocess.Popen[bytes], sink: list[bytes]) -> None:
    assert proc.stderr is not None
    with proc.stderr:
        for line in proc.stderr:
            sink.append(line)


def public_route(name: str, upstream: str, path: str = "/", **extra: Any) -> dict[str, Any]:
    return {"name": name, "match": {"path": path}, "to": upstream, "public": True, **extra}
