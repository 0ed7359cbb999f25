"""Several serving processes: a supervisor that starts, watches and stops workers.

The parent binds the listeners once and spawns N workers that each serve both
sockets; the kernel spreads new connections between them. The parent restarts a
worker that dies unexpectedly, forwards SIGTERM/SIGINT/SIGHUP to every worker,
and owns the Prometheus multi-process directory: fresh at start, dead workers'
live gauges retired, removed at exit.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType

from prometheus_client import multiprocess

from proxy.config.schema import Config
from proxy.server.listen import Sockets
from proxy.server.metrics_registry import MULTIPROC_ENV
from proxy.server.serve import STARTUP_FAILURE, serve
from proxy.server.state import AppFactory, RuntimeState

logger = logging.getLogger("edgeward.server")

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_SECONDS = 0.5
MAX_RESTART_DELAY = 10.0
STOP_MARGIN = 5.0  # beyond drain_delay + grace before stragglers are killed


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a spawned worker needs; pickled to the child (sockets as fds)."""

    config: Config
    factory: AppFactory
    sockets: Sockets
    config_path: str | None
    index: int
    parent_pid: int


def worker_main(spec: WorkerSpec) -> None:
    """Entry point of a worker process."""
    # Its own process group: a terminal's Ctrl-C reaches only the supervisor,
    # which forwards it once (two signals would skip the drain delay).
    os.setpgrp()
    state = RuntimeState(config_path=spec.config_path, worker=spec.index)
    try:
        code = serve(spec.config, spec.factory, spec.sockets, state, parent_pid=spec.parent_pid)
    except Exception as exc:  # a factory failure: one line, no traceback
        logger.error("worker %d could not start: %s", spec.index, exc)
        code = STARTUP_FAILURE
    raise SystemExit(code)


@dataclass
class Slot:
    """One worker position: its current process and its restart history."""

    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Runs ``workers`` worker processes until told to stop; ``run()`` is the exit code."""

    config: Config
    factory: AppFactory
    sockets: Sockets
    workers: int
    config_path: str | None = None
    stopping: bool = False
    failed: bool = False
    slots: list[Slot] = field(default_factory=list)

    def run(self) -> int:
        metrics_dir = tempfile.mkdtemp(prefix="edgeward-metrics-")
        # prometheus_client reads this when a worker creates its metrics, so it
        # must be in the environment the workers are spawned with.
        os.environ[MULTIPROC_ENV] = metrics_dir
        previous = {sig: signal.signal(sig, self._forward) for sig in FORWARDED_SIGNALS}
        try:
            self.slots = [Slot(index=i + 1) for i in range(self.workers)]
            for slot in self.slots:
                self._start(slot)
            self._watch(metrics_dir)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _start(self, slot: Slot) -> None:
        spec = WorkerSpec(
            self.config, self.factory, self.sockets, self.config_path, slot.index, os.getpid()
        )
        ctx = multiprocessing.get_context("spawn")
        process = ctx.Process(
            target=worker_main, args=(spec,), name=f"edgeward-worker-{slot.index}"
        )
        process.start()
        slot.process, slot.started_at, slot.restart_at = process, time.monotonic(), None
        logger.info("worker %d started (pid %s)", slot.index, process.pid)

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGHUP:
            self.stopping = True
        for slot in self.slots:
            if slot.process is not None and slot.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # died; _watch notices
                    os.kill(slot.process.pid, sig)

    def _watch(self, metrics_dir: str) -> None:
        while not self.stopping:
            alive = [s.process.sentinel for s in self.slots if s.process is not None]
            multiprocessing.connection.wait(alive, timeout=POLL_SECONDS)
            for slot in self.slots:
                self._check(slot, metrics_dir)

    def _check(self, slot: Slot, metrics_dir: str) -> None:
        process = slot.process
        if process is not None and process.exitcode is not None:
            self._reap(slot, process, metrics_dir)
        due = slot.restart_at is not None and time.monotonic() >= slot.restart_at
        if due and not self.stopping:
            self._start(slot)

    def _reap(self, slot: Slot, process: BaseProcess, metrics_dir: str) -> None:
        process.join()
        slot.process = None
        if process.pid is not None:
            multiprocess.mark_process_dead(process.pid, metrics_dir)  # type: ignore[no-untyped-call]
        if self.stopping:
            return
        if process.exitcode == STARTUP_FAILURE:
            logger.error("worker %d failed to start; stopping", slot.index)
            self.failed = True
            self._forward(signal.SIGTERM, None)
            return
        quick = time.monotonic() - slot.started_at < 1.0
        slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
        delay = min(0.25 * 2**slot.quick_deaths, MAX_RESTART_DELAY) if quick else 0.0
        logger.warning(
            "worker %d (pid %s) exited with %s; restarting in %.1fs",
            slot.index,
            process.pid,
            process.exitcode,
            delay,
        )
        slot.restart_at = time.monotonic() + delay

    def _stop_all(self) -> int:
        """Wait for every worker to finish draining; kill stragglers; the exit code."""
        shutdown = self.config.shutdown
        deadline = time.monotonic() + shutdown.drain_delay + shutdown.grace + STOP_MARGIN
        codes = []
        for slot in self.slots:
            process = slot.process
            if process is None:
                continue
            process.join(max(deadline - time.monotonic(), 0.0))
            if process.exitcode is None:
                logger.error("worker %d did not stop in time; killing it", slot.index)
                process.kill()
                process.join(5.0)
            codes.append(process.exitcode)
        return 1 if self.failed or any(code != 0 for code in codes) else 0
