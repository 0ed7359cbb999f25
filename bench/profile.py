"""Where the proxy's time goes: py-spy samples of a pinned proxy under wrk load.

Starts the same stack as ``bench/run.py`` (upstream, IdP, proxy), drives one
route with wrk while ``py-spy record`` samples the proxy, then prints the
functions with the largest share of samples, both *self* (the frame on top of
the stack) and *inclusive* (anywhere on it). The raw folded stacks are kept
for flame-graph tools.

    .venv/bin/python bench/profile.py [--route public|bearer] [--hmac] [--no-access-log]
        [--seconds 10] [--top 25] [--native] [--out bench/results/profile-public.txt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Load, wrk
from bench.procs import ROOT, Cores
from bench.stack import Keys, ProxySetup, bench_token, run_idp, run_proxy, run_upstream

PY_SPY = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")


@dataclass(frozen=True)
class Profile:
    samples: int
    self_counts: Counter[str]
    inclusive_counts: Counter[str]

    @classmethod
    def from_folded(cls, text: str) -> Profile:
        """Folded stacks (``frame;frame;... count``, root first) -> counts per function."""
        own: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        total = 0
        for line in text.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_function(f) for f in stack.split(";")]
            total += n
            own[frames[-1]] += n
            for frame in set(frames):  # recursion counts once per sample
                incl[frame] += n
        return cls(total, own, incl)

    def summary(self, top: int) -> str:
        lines = [f"{self.samples} samples"]
        for title, counts in (("self", self.self_counts), ("inclusive", self.inclusive_counts)):
            lines.append(f"\ntop {top} by {title} share:")
            for name, n in counts.most_common(top):
                lines.append(f"  {n / self.samples:6.1%}  {name}")
        return "\n".join(lines)


def _function(frame: str) -> str:
    """``handle (proxy/app.py:42)`` -> ``handle (proxy/app.py)``: a function, not a line."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    path = path.removeprefix(str(ROOT) + "/")
    return f"{name} ({path})" if path else name


def record(pid: int, seconds: float, out: Path, *, native: bool) -> None:
    subprocess.run(
        [PY_SPY, "record", "--pid", str(pid), "--duration", f"{seconds:g}"]
        + ["--rate", "250", "--format", "raw", "--output", str(out)]
        + (["--native"] if native else ["--nonblocking"]),
        check=True,
        capture_output=True,
        timeout=seconds + 60,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--route", choices=["public", "bearer"], default="public")
    p.add_argument("--hmac", action="store_true", help="request_signature: hmac-sha256")
    p.add_argument("--no-access-log", action="store_true")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--native", action="store_true", help="also C frames (pauses the process)")
    p.add_argument("--out", type=Path, help="also write the summary here")
    args = p.parse_args()

    cores = Cores.split()
    os.sched_setaffinity(0, cores.load)
    setup = ProxySetup("hmac-sha256" if args.hmac else "ed25519", not args.no_access_log)
    load = Load(seconds=args.seconds + 4)  # outlasts the sampling window on both ends
    with (
        tempfile.TemporaryDirectory(prefix="edgeward-profile-") as tmpdir,
        run_upstream(cores) as (upstream, _),
        run_idp() as idp,
    ):
        tmp = Path(tmpdir)
        proxy_cm = run_proxy(tmp, upstream, idp, Keys.create(tmp), setup, cores)
        with proxy_cm as proxy:
            path = "/public/hello" if args.route == "public" else "/api/hello"
            headers = (
                {} if args.route == "public" else {"Authorization": f"Bearer {bench_token(idp)}"}
            )
            wrk(f"{proxy.url}{path}", load, 2, cores, headers)  # warm-up
            loader = subprocess.Popen(
                [sys.executable, "-c", _WRK_CHILD, proxy.url + path, str(load.seconds)]
                + [f"{k}: {v}" for k, v in headers.items()],
                cwd=ROOT,
            )
            folded = tmp / "profile.folded"
            record(proxy.pid, args.seconds, folded, native=args.native)
            loader.wait(load.seconds + 30)
            text = folded.read_text()
    summary = Profile.from_folded(text).summary(args.top)
    print(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(summary + "\n")
        args.out.with_suffix(".folded").write_text(text)


# wrk in a child so the sampler runs beside it; same shape and pinning as bench/run.py.
_WRK_CHILD = """
import sys
sys.path.insert(0, '.')
from bench.load import Load, wrk
from bench.procs import Cores
url, seconds, *hdrs = sys.argv[1:]
headers = dict(h.split(': ', 1) for h in hdrs)
wrk(url, Load(), float(seconds), Cores.split(), headers)
"""


if __name__ == "__main__":
    main()
