"""One bounded load run with wrk, and the CPU the server under test spent on it.

``measure`` runs a short warm-up, then the measured window, reading the target
process's CPU time (``/proc/PID/stat``) right before and right after the window.
CPU per request = that delta / the requests wrk completed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from bench.procs import Cores, CpuTimes, cpu_times

_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_REQUESTS = re.compile(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Load:
    """The shape of one run: wrk threads, connections, seconds, warm-up seconds."""

    threads: int = 1
    connections: int = 32
    seconds: float = 10.0
    warmup: float = 2.0

    def describe(self) -> str:
        return (
            f"wrk -t{self.threads} -c{self.connections} -d{self.seconds:g}s --latency "
            f"(after a {self.warmup:g} s warm-up)"
        )


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers plus socket errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Measurement:
    wrk: WrkResult
    cpu: CpuTimes | None  # of the process under test over the window

    def _per_request(self, seconds: float) -> float:
        return seconds / self.wrk.requests * 1e6

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu is None or not self.wrk.requests:
            return None
        return self._per_request(self.cpu.total)

    @property
    def split_us_per_request(self) -> tuple[float, float] | None:
        """(user, kernel) µs per request."""
        if self.cpu is None or not self.wrk.requests:
            return None
        return self._per_request(self.cpu.user), self._per_request(self.cpu.system)


def wrk(
    url: str, load: Load, seconds: float, cores: Cores, headers: Mapping[str, str]
) -> WrkResult:
    args = ["taskset", "-c", ",".join(map(str, sorted(cores.load))), "wrk"]
    whole = max(1, round(seconds))  # wrk takes whole seconds
    args += [f"-t{load.threads}", f"-c{load.connections}", f"-d{whole}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*args, url], check=False, capture_output=True, text=True, timeout=whole + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)


def parse(out: str) -> WrkResult:
    latency = {m[1]: float(m[2]) * _TO_MS[m[3]] for m in _LATENCY.finditer(out)}
    total = _REQUESTS.search(out)
    if total is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    non_2xx = _NON_2XX.search(out)
    sockets = _SOCKET_ERRORS.search(out)
    errors = (int(non_2xx[1]) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    seconds = float(total[2]) * _TO_MS[total[3]] / 1000
    return WrkResult(int(total[1]), seconds, latency["50"], latency["99"], errors)


def measure(
    url: str,
    load: Load,
    cores: Cores,
    *,
    pid: int | None,
    headers: Mapping[str, str] | None = None,
) -> Measurement:
    """Warm up, then measure ``url``; CPU is read for ``pid`` when one is given."""
    headers = headers or {}
    if load.warmup > 0:
        wrk(url, load, load.warmup, cores, headers)
    before = cpu_times(pid) if pid else None
    result = wrk(url, load, load.seconds, cores, headers)
    after = cpu_times(pid) if pid else None
    spent = None if before is None or after is None else after - before
    return Measurement(result, spent)
