"""The server runtime (``proxy.server.run``) serving a test app, as a real process."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.harness.poll import eventually
from tests.harness.ports import PortTaken, free_port, lost_port_race, retrying
from tests.harness.proxy import ROOT, stop_process


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

    def live() -> bool:
        if served.proc.poll() is not None:
            raise RuntimeError(f"server exited with {served.proc.returncode}: {served.stderr()}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(served.admin_url("/livez"), timeout=1.0).status_code == 200
        return False

    try:
        eventually(live, timeout, 0.05)
    except AssertionError:
        raise TimeoutError("server did not become ready") from None


def serving(workers: int = 1, **overrides: Any) -> contextlib.AbstractContextManager[Served]:
    """The runtime serving the test app; started again on fresh ports if one was taken."""
    return contextlib.contextmanager(retrying)(lambda: _serving_once(workers, overrides))


@contextlib.contextmanager
def _serving_once(workers: int, overrides: dict[str, Any]) -> Iterator[Served]:
    port, admin_port = free_port(), free_port()
    proc = start(config_for(port, admin_port, **overrides), workers)
    served = Served(proc, port, admin_port)
    try:
        try:
            wait_ready(served)
        except RuntimeError as exc:
            if "listen" not in overrides and lost_port_race(str(exc)):
                raise PortTaken(str(exc)) from None
            raise
        yield served
    finally:
        stop_server(proc)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """End a server process: two SIGTERMs skip the drain delay; kill as a last resort."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.3)
    stop_process(proc)
    if proc.stderr is not None:
        proc.stderr.close()
