"""``make bench``: the proxy's throughput, latency and CPU per request on loopback.

In one run, one target at a time, with the same bounded wrk load each:

1. the fixed-cost upstream directly (bench/upstream.py);
2. nginx ``proxy_pass`` to it (the transport reference);
3. Edgeward on a public route;
4. Edgeward on a bearer route (RS256 token, the same one repeated, so the verified
   token and the assertion come from their caches), ``allow: {groups}``, Ed25519
   request signature;
5. the same with ``request_signature: hmac-sha256``;

then 3-5 again with the access log off, to show what it costs. Prints a Markdown
table and writes it to bench/results/latest.md.

    .venv/bin/python bench/run.py [--seconds 10] [--warmup 2] [--connections 32] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.load import Load, measure
from bench.nginx import run_nginx
from bench.procs import Cores, free_port
from bench.report import Row, document
from bench.stack import (
    Keys,
    ProxySetup,
    RunningProxy,
    bench_token,
    run_idp,
    run_proxy,
    run_upstream,
)
from tests.oidc_server import KeyServer

SETUPS = (
    ProxySetup("ed25519", access_log=True),
    ProxySetup("hmac-sha256", access_log=True),
    ProxySetup("ed25519", access_log=False),
    ProxySetup("hmac-sha256", access_log=False),
)
RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
# Budgets from the performance issue: proxy CPU per request at c32 (and p99 for public).
TARGET_PUBLIC_US, TARGET_PUBLIC_P99_MS = 80.0, 10.0
TARGET_BEARER_ED25519_US = 130.0
TARGET_BEARER_HMAC_US = 90.0


@dataclass(frozen=True)
class Bench:
    """Everything the targets share for one run."""

    load: Load
    cores: Cores
    upstream: str
    upstream_pid: int
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def upstream_stats(bench: Bench) -> tuple[int, int, int]:
    r = httpx.get(f"{bench.upstream}/__stats", timeout=5)
    r.raise_for_status()
    stats = r.json()
    return int(stats["requests"]), int(stats["signed"]), int(stats["asserted"])


@contextlib.contextmanager
def counted(bench: Bench) -> Iterator[list[str]]:
    """Yields a one-element list that receives 'signed% / asserted%' of the
    upstream requests made inside the block."""
    out: list[str] = []
    before = upstream_stats(bench)
    yield out
    after = upstream_stats(bench)
    requests, signed, asserted = (a - b for a, b in zip(after, before, strict=True))
    requests -= 1  # the /__stats request itself
    if requests > 0:
        out.append(f"{signed / requests:.0%} / {asserted / requests:.0%}")


def check(proxy: RunningProxy, bench: Bench) -> None:
    """Fail fast, before any load, when a route does not answer 200."""
    with httpx.Client(timeout=10) as client:
        for path, headers in (("/public/hello", {}), ("/api/hello", bench.bearer)):
            r = client.get(f"{proxy.url}{path}", headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"{proxy.url}{path} answered {r.status_code}: {r.text[:300]}")


def proxy_rows(bench: Bench, proxy: RunningProxy, setup: ProxySetup) -> list[Row]:
    log = "access log on" if setup.access_log else "access log off"
    wanted: list[tuple[str, str, dict[str, str], float | None, float | None]] = []
    if setup.request_signature == "ed25519":
        wanted.append(("public route", "/public/hello", {}, TARGET_PUBLIC_US, TARGET_PUBLIC_P99_MS))
        wanted.append(
            ("bearer + Ed25519", "/api/hello", bench.bearer, TARGET_BEARER_ED25519_US, None)
        )
    else:
        wanted.append(("public route + HMAC", "/public/hello", {}, None, None))
        wanted.append(("bearer + HMAC", "/api/hello", bench.bearer, TARGET_BEARER_HMAC_US, None))
    rows = []
    for name, path, headers, cpu_target, p99_target in wanted:
        with counted(bench) as signed:
            result = measure(
                f"{proxy.url}{path}", bench.load, bench.cores, pid=proxy.pid, headers=headers
            )
        label = f"Edgeward {name} ({log})"
        rows.append(Row(label, "proxy", result, signed[0], cpu_target, p99_target))
        print(f"  {label}: {result.wrk.rps:,.0f} req/s", flush=True)
    return rows


def run_once(bench: Bench, tmp: Path, idp: KeyServer, keys: Keys) -> list[Row]:
    """Every target once, in a fixed order."""
    load, cores, upstream = bench.load, bench.cores, bench.upstream
    rows = [
        Row(
            "direct upstream",
            "upstream",
            measure(f"{upstream}/public/hello", load, cores, pid=bench.upstream_pid),
        )
    ]
    nginx_port = free_port()
    with run_nginx(tmp / "nginx", nginx_port, int(upstream.rsplit(":", 1)[1]), cores) as ngx:
        url = f"http://127.0.0.1:{nginx_port}/public/hello"
        rows.append(Row("nginx proxy_pass", "nginx", measure(url, load, cores, pid=ngx.pid)))
    for setup in SETUPS:
        with run_proxy(tmp, upstream, idp, keys, setup, cores) as proxy:
            check(proxy, bench)
            rows += proxy_rows(bench, proxy, setup)
    return rows


def median_rows(runs: Sequence[Sequence[Row]]) -> list[Row]:
    """Per target, the run with the median CPU per request (req/s when CPU is unknown)."""

    def key(row: Row) -> float:
        cpu = row.result.cpu_us_per_request
        return cpu if cpu is not None else -row.result.wrk.rps

    out = []
    for same in zip(*runs, strict=True):
        ranked = sorted(same, key=key)
        chosen = ranked[len(ranked) // 2]
        if len(same) > 1:
            spread = f"{key(ranked[0]):.0f}-{key(ranked[-1]):.0f}"
            chosen = dataclasses.replace(chosen, cpu_range=spread)
        out.append(chosen)
    return out


def run(load: Load, repeat: int) -> str:
    cores = Cores.split()
    os.sched_setaffinity(0, cores.load)  # this runner and the IdP thread stay off the proxy's core
    with (
        tempfile.TemporaryDirectory(prefix="edgeward-bench-") as tmpdir,
        run_upstream(cores) as (upstream, upstream_pid),
        run_idp() as idp,
    ):
        tmp = Path(tmpdir)
        keys = Keys.create(tmp)
        bench = Bench(load, cores, upstream, upstream_pid, bench_token(idp))
        print(f"pinning: {cores.describe()}", flush=True)
        runs = []
        for i in range(repeat):
            print(f"run {i + 1} of {repeat}", flush=True)
            runs.append(run_once(bench, tmp, idp, keys))
    rows = median_rows(runs)
    notes = (
        "CPU µs/req = utime+stime delta of the named process over the measured window "
        "/ requests; nginx runs with access_log off; Edgeward's stdout goes to a file"
    )
    if repeat > 1:
        notes += f"; each row is the median of {repeat} runs by CPU µs/req"
    return document(rows, rows[0], load, cores, notes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1, help="runs of every target; medians shown")
    args = p.parse_args()
    load = Load(connections=args.connections, seconds=args.seconds, warmup=args.warmup)
    report = run(load, args.repeat)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report + "\n")
    print()
    print(report)
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
