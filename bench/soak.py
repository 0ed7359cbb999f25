"""Soak (run by hand, not part of ``make bench``): does the proxy's memory stay flat?

1. Requests: wrk drives the proxy in chunks, alternating the public route and the
   bearer route (Ed25519 signing, cached token), until ``--requests`` have been
   answered or ``--max-seconds`` have passed; the proxy's RSS is read after every
   chunk. Passes when RSS never rises more than ``--rss-budget-mib`` (10) above
   the first sample, taken after a warm-up.
2. Upload: one ``--upload-gib`` (1 GiB) request body with Content-Length, sent
   through the proxy's public ``/upload/`` route to the upstream, which counts the
   bytes. RSS is sampled every 50 ms meanwhile. Passes when the upstream got every
   byte and the peak RSS is less than ``--upload-budget-mib`` (30) above the RSS
   before the upload.

    .venv/bin/python bench/soak.py [--requests 1000000] [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Load, wrk
from bench.procs import Cores, rss_mib
from bench.stack import (
    Keys,
    ProxySetup,
    RunningProxy,
    bench_token,
    run_idp,
    run_proxy,
    run_upstream,
)

CHUNK = 1024 * 1024


@dataclass
class RssTrace:
    samples: list[tuple[int, float]] = field(default_factory=list)  # (requests so far, MiB)

    @property
    def growth(self) -> float:
        first = self.samples[0][1]
        return max(mib for _, mib in self.samples) - first


def soak_requests(proxy: RunningProxy, token: str, args: argparse.Namespace) -> RssTrace:
    cores = Cores.split()
    targets = [
        (f"{proxy.url}/public/hello", {}),
        (f"{proxy.url}/api/hello", {"Authorization": f"Bearer {token}"}),
    ]
    load = Load(seconds=args.chunk_seconds, warmup=0)
    for url, headers in targets:  # warm-up: caches, pools, allocator arenas
        wrk(url, load, 3, cores, headers)
    trace = RssTrace([(0, rss_mib(proxy.pid))])
    done, deadline, turn = 0, time.monotonic() + args.max_seconds, 0
    while done < args.requests and time.monotonic() < deadline:
        url, headers = targets[turn % len(targets)]
        result = wrk(url, load, args.chunk_seconds, cores, headers)
        if result.errors:
            raise SystemExit(f"{result.errors} errors from {url}")
        done, turn = done + result.requests, turn + 1
        trace.samples.append((done, rss_mib(proxy.pid)))
        print(f"  {done:>9,} requests  RSS {trace.samples[-1][1]:7.1f} MiB", flush=True)
    return trace


@dataclass(frozen=True)
class Upload:
    sent: int
    received: int
    seconds: float
    rss_before: float
    rss_peak: float


def upload(proxy: RunningProxy, size: int) -> Upload:
    """Stream ``size`` bytes with Content-Length over a raw socket; sample RSS meanwhile."""
    port = int(proxy.url.rsplit(":", 1)[1])
    rss_before, peak, stop = rss_mib(proxy.pid), [0.0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_mib(proxy.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    chunk = b"x" * CHUNK
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            f"POST /upload/blob HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/octet-stream\r\ncontent-length: {size}\r\n"
            "connection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        for offset in range(0, size, CHUNK):
            sock.sendall(chunk[: min(CHUNK, size - offset)])
        answer = _read_all(sock)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join(5)
    return Upload(size, _received(answer), seconds, rss_before, max(peak[0], rss_before))


def _read_all(sock: socket.socket) -> bytes:
    parts = []
    while data := sock.recv(65536):
        parts.append(data)
        if sum(map(len, parts)) > 1 << 20:  # an answer this big is wrong anyway
            break
    return b"".join(parts)


def _received(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    if not head.startswith("HTTP/1.1 200"):
        raise SystemExit(f"upload failed: {head[:300]}")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-received":
            return int(value)
    raise SystemExit("upload answer has no x-received header")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--max-seconds", type=float, default=600.0, help="bound on the request soak")
    p.add_argument("--chunk-seconds", type=float, default=10.0, help="wrk run between samples")
    p.add_argument("--rss-budget-mib", type=float, default=10.0)
    p.add_argument("--upload-gib", type=float, default=1.0)
    p.add_argument("--upload-budget-mib", type=float, default=30.0)
    args = p.parse_args()
    cores = Cores.split()
    os.sched_setaffinity(0, cores.load)
    with (
        tempfile.TemporaryDirectory(prefix="edgeward-soak-") as tmpdir,
        run_upstream(cores) as (upstream, _),
        run_idp() as idp,
    ):
        tmp = Path(tmpdir)
        keys = Keys.create(tmp)
        with run_proxy(tmp, upstream, idp, keys, ProxySetup(), cores) as proxy:
            print(f"soak: up to {args.requests:,} requests or {args.max_seconds:g} s", flush=True)
            trace = soak_requests(proxy, bench_token(idp), args)
            print(f"upload: {args.upload_gib:g} GiB", flush=True)
            result = upload(proxy, int(args.upload_gib * (1 << 30)))
    ok = report(trace, result, args)
    sys.exit(0 if ok else 1)


def report(trace: RssTrace, up: Upload, args: argparse.Namespace) -> bool:
    requests, first = trace.samples[-1][0], trace.samples[0][1]
    last = trace.samples[-1][1]
    soak_ok = trace.growth <= args.rss_budget_mib
    upload_ok = up.received == up.sent and up.rss_peak - up.rss_before < args.upload_budget_mib
    print(
        f"\nrequests: {requests:,}; RSS first {first:.1f} MiB, last {last:.1f} MiB, "
        f"max growth {trace.growth:+.1f} MiB (budget {args.rss_budget_mib:g}): "
        f"{'ok' if soak_ok else 'FAILED'}"
    )
    print(
        f"upload: {up.sent:,} bytes sent, {up.received:,} received upstream in {up.seconds:.1f} s "
        f"({up.sent / up.seconds / 2**20:.0f} MiB/s); RSS {up.rss_before:.1f} -> peak "
        f"{up.rss_peak:.1f} MiB ({up.rss_peak - up.rss_before:+.1f}, budget "
        f"< {args.upload_budget_mib:g}): {'ok' if upload_ok else 'FAILED'}"
    )
    return soak_ok and upload_ok


if __name__ == "__main__":
    main()
