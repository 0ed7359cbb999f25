"""Test helpers for the server runtime: a real ``run()`` process and raw HTTP/1.1 sockets."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """A running ``tests.apps.serve`` process and its two ports."""

    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def admin_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")


def config_for(port: int, admin_port: int, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{admin_port}",
        "shutdown": {"drain_delay": "0.5s", "grace": "5s"},
        "log": {"level": "warning"},
    }
    config.update(overrides)
    return config


def start(
    config: dict[str, Any], workers: int = 1, factory: str = "build"
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.apps.serve", json.dumps(config), str(workers), factory]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(served: Served, timeout: float = 20.0) -> None:
    """Poll the admin listener until it answers (the sockets accept before apps run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"server exited with {served.proc.returncode}: {served.stderr()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(served.admin_url("/livez"), timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError("server did not become ready")


@contextlib.contextmanager
def serving(workers: int = 1, **overrides: Any) -> Iterator[Served]:
    port, admin_port = free_port(), free_port()
    proc = start(config_for(port, admin_port, **overrides), workers)
    served = Served(proc, port, admin_port)
    try:
        wait_ready(served)
        yield served
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a server process: two SIGTERMs skip the drain delay; kill as a last resort."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.3)
    stop_process(proc)
    if proc.stderr is not None:
        proc.stderr.close()


@dataclass
class RawResult:
    """What came back on a raw connection, and whether the server closed it."""

    data: bytes
    closed: bool

    @property
    def status(self) -> int:
        return int(self.data.split(b" ", 2)[1]) if self.data.startswith(b"HTTP/") else 0

    @property
    def head(self) -> str:
        return self.data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()

    @property
    def body(self) -> bytes:
        return self.data.partition(b"\r\n\r\n")[2]


def read_until_closed(sock: socket.socket, timeout: float) -> RawResult:
    """Read until the peer closes or ``timeout`` passes (bounded in time)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return RawResult(b"".join(chunks), True)
        if not chunk:
            return RawResult(b"".join(chunks), True)
        chunks.append(chunk)
    return RawResult(b"".join(chunks), False)


def exchange(port: int, data: bytes, timeout: float = 5.0) -> RawResult:
    """Send raw bytes on a fresh connection and read until close (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)
