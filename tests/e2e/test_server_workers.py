"""Several workers: all serve, a dead one is replaced, metrics add up, SIGTERM stops all."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from proxy.server.metrics_registry import MULTIPROC_ENV, registry
from tests.harness import Served, config_for, free_port, serving, start
from tests.harness import stop_server as stop


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_pids(server: Served, attempts: int = 200, want: int = 2) -> set[int]:
    """Worker pids seen over fresh connections (each request a new connection)."""
    pids: set[int] = set()
    for _ in range(attempts):
        pids.add(httpx.get(server.admin_url("/pid"), timeout=5).json()["pid"])
        if len(pids) >= want:
            break
    return pids


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with serving(workers=2, shutdown={"drain_delay": "0.2s", "grace": "3s"}) as served:
        yield served


def test_both_workers_serve(server: Served) -> None:
    pids = worker_pids(server)
    assert len(pids) == 2
    assert server.proc.pid not in pids


def test_metrics_add_up_across_workers(server: Served) -> None:
    def echoes() -> float:
        text = httpx.get(server.admin_url("/metrics"), timeout=5).text
        match = re.search(r"^edgeward_test_echoes_total (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    before = echoes()
    seen: set[int] = set()
    sent = 0
    while sent < 200 and (len(seen) < 2 or sent < 20):
        seen.add(httpx.get(server.url("/echo"), timeout=5).json()["pid"])
        sent += 1
    assert len(seen) == 2  # both workers counted some
    assert echoes() == before + sent


def test_sighup_is_forwarded_to_every_worker(server: Served) -> None:
    server.signal(signal.SIGHUP)
    heard: dict[int, int] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (len(heard) == 2 and all(heard.values())):
        answer = httpx.get(server.url("/hups"), timeout=5).json()
        heard[answer["pid"]] = answer["hups"]
    assert len(heard) == 2 and all(heard.values())
    assert server.proc.poll() is None


def test_a_killed_worker_is_replaced(server: Served) -> None:
    old = worker_pids(server)
    victim = min(old)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    pids: set[int] = set()
    while time.monotonic() < deadline:
        pids = worker_pids(server, attempts=50)
        if len(pids) == 2 and victim not in pids:
            break
        time.sleep(0.1)
    assert len(pids) == 2 and victim not in pids
    assert server.proc.poll() is None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_to_the_supervisor_stops_every_worker(sig: int) -> None:
    with serving(workers=2, shutdown={"drain_delay": "0.5s", "grace": "3s"}) as server:
        pids = worker_pids(server)
        multiproc = httpx.get(server.admin_url("/pid"), timeout=5).json()["multiproc"]
        assert multiproc and Path(multiproc).is_dir()
        server.signal(sig)
        assert server.wait(timeout=0.5 + 3 + 3) == 0
        assert not any(alive(pid) for pid in pids)
        assert not Path(multiproc).exists()


def test_worker_start_up_failure_stops_the_supervisor_with_exit_1() -> None:
    proc = start(config_for(free_port(), free_port()), workers=2, factory="build_failing")
    try:
        assert proc.wait(20) == 1
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
    finally:
        stop(proc)
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "edgeward: cannot start: a worker failed during start-up (see the log)"
    )


def test_single_process_has_no_multiprocess_metrics() -> None:
    with serving() as server:
        assert httpx.get(server.admin_url("/pid"), timeout=5).json()["multiproc"] is None


def test_registry_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert registry() is REGISTRY
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    merged = registry()
    assert merged is not REGISTRY
    assert list(merged.collect()) == []  # no worker has written samples yet
