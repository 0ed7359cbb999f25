"""Processes for the benchmarks: start them pinned to a core, read their CPU and RSS.

CPU time comes from ``/proc/PID/stat`` (utime + stime, all threads, in clock
ticks; proc(5)); RSS from ``VmRSS`` in ``/proc/PID/status``. Every wait is
bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cores:
    """Which CPUs the proxy under test gets, and which the load side gets."""

    proxy: frozenset[int]
    load: frozenset[int]

    @classmethod
    def split(cls) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:  # nothing to separate; say so in the results
            return cls(frozenset(cpus), frozenset(cpus))
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:]))

    def describe(self) -> str:
        if self.proxy == self.load:
            return f"not pinned (one CPU: {sorted(self.proxy)})"
        return (
            f"proxy under test (Edgeward / nginx) on CPU {_cpus(self.proxy)}; "
            f"wrk, upstream, IdP and this runner on CPU {_cpus(self.load)}"
        )


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def pinned(
    args: Sequence[str],
    cpus: frozenset[int],
    port: int,
    *,
    stdout: IO[bytes] | int = subprocess.DEVNULL,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` under ``taskset`` (exec'd, so the PID is the program's own) until
    it listens on ``port``; SIGTERM it afterwards, SIGKILL if it lingers."""
    proc = subprocess.Popen(
        ["taskset", "-c", _cpus(cpus), *args],
        stdout=stdout,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds a process spent in user space and in the kernel."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - other.user, self.system - other.system)


def cpu_times(pid: int) -> CpuTimes:
    """utime and stime of the whole process, all threads (proc(5): fields 14, 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; fields after it are plain.
    fields = stat[stat.rindex(")") + 2 :].split()
    return CpuTimes(int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
