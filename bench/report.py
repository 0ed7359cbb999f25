"""The benchmark's Markdown report: machine notes, the table, ratios, targets."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import Load, Measurement
from bench.procs import Cores


@dataclass(frozen=True)
class Row:
    """One measured target: what it is, whose CPU was read, and the numbers."""

    name: str
    cpu_of: str
    result: Measurement
    signed: str = "-"  # share of upstream requests carrying Signature / Assertion
    target_cpu_us: float | None = None  # the CPU budget this row must meet, if any
    target_p99_ms: float | None = None
    cpu_range: str = ""  # "min-max" CPU µs/req over repeated runs


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {sys.version.split()[0]}"
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _range(row: Row) -> str:
    return f" ({row.cpu_range})" if row.cpu_range else ""


def _split(result: Measurement) -> str:
    split = result.split_us_per_request
    return "-" if split is None else f"{split[0]:.0f} + {split[1]:.0f}"


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| target | req/s | p50 ms | p99 ms | CPU µs/req | user + sys | CPU of | errors "
        "| signed / asserted |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        w = row.result.wrk
        lines.append(
            f"| {row.name} | {w.rps:,.0f} | {w.p50_ms:.2f} | {w.p99_ms:.2f} | "
            f"{_fmt(row.result.cpu_us_per_request)}{_range(row)} | {_split(row.result)} | "
            f"{row.cpu_of} | {w.errors} | {row.signed} |"
        )
    return "\n".join(lines)


def ratios(rows: Sequence[Row], direct: Row) -> str:
    base = direct.result.wrk
    lines = []
    for row in rows:
        if row is direct:
            continue
        w = row.result.wrk
        lines.append(
            f"- {row.name}: {w.rps / base.rps:.2f}x the direct req/s, "
            f"p99 {w.p99_ms / base.p99_ms:.1f}x the direct p99"
        )
    return "\n".join(lines)


def targets(rows: Sequence[Row]) -> str:
    lines = []
    for row in rows:
        if row.target_cpu_us is None:
            continue
        cpu = row.result.cpu_us_per_request
        lines.append(f"- {row.name}: " + _verdict(cpu, row.target_cpu_us, "µs/req CPU"))
        if row.target_p99_ms is not None:
            p99 = row.result.wrk.p99_ms
            lines.append(f"- {row.name}: " + _verdict(p99, row.target_p99_ms, "ms p99"))
    return "\n".join(lines)


def _verdict(value: float | None, target: float, unit: str) -> str:
    if value is None:
        return f"not measured (target ≤ {target:g} {unit})"
    if value <= target:
        return f"{value:.1f} {unit}, target ≤ {target:g}: met"
    over = value - target
    return f"{value:.1f} {unit}, target ≤ {target:g}: MISSED by {over:.1f} ({over / target:.0%})"


def document(rows: Sequence[Row], direct: Row, load: Load, cores: Cores, notes: str) -> str:
    return "\n\n".join(
        [
            f"# Edgeward benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
            f"- machine: {machine()}\n- pinning: {cores.describe()}\n- load: {load.describe()}"
            f", loopback, one target at a time\n- {notes}",
            table(rows),
            "Ratios to the direct upstream:\n\n" + ratios(rows, direct),
            "Targets (proxy CPU per request at c32):\n\n" + targets(rows),
        ]
    )
