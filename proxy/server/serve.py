"""One serving process: both listeners in one uvicorn server, with a draining shutdown.

On the first SIGTERM/SIGINT the process marks itself draining (``/readyz`` -> 503)
and keeps serving for ``shutdown.drain_delay`` seconds, so load balancers notice
and stop sending; then it stops accepting and gives in-flight requests and streams
up to ``shutdown.grace`` seconds (uvicorn's graceful shutdown); then it exits 0.
A second signal skips the rest of the delay; a third stops waiting for requests.
SIGHUP belongs to the app (policy reload); here it only must not end the process.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn

from proxy.config.schema import Config
from proxy.server.dispatch import ListenerDispatch
from proxy.server.listen import Sockets
from proxy.server.protocol import HeadLimits, protocol_class
from proxy.server.state import AppFactory, ASGIApp, RuntimeState

logger = logging.getLogger("edgeward.server")

STARTUP_FAILURE = 3  # a serving process's exit code when its apps could not start
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def uvicorn_config(app: ASGIApp, config: Config) -> uvicorn.Config:
    """uvicorn's settings for Edgeward; the app does its own access log and trust boundary."""
    limits = HeadLimits(config.limits.max_header_bytes, config.limits.header_timeout)
    return uvicorn.Config(
        app,
        http=protocol_class(limits),  # llhttp; h11 accepts "5 " as a chunk size
        loop="uvloop",
        # uvicorn 0.54 deprecates its legacy "websockets" implementation (a visible
        # warning at start) in favour of this one, built on the same library.
        ws="websockets-sansio",
        lifespan="on",
        interface="asgi3",
        access_log=False,
        server_header=False,
        date_header=True,
        proxy_headers=False,
        timeout_keep_alive=max(1, math.ceil(config.limits.keep_alive)),
        timeout_graceful_shutdown=math.ceil(config.shutdown.grace),
        log_config=None,  # logging belongs to the app; uvicorn must not replace it
        log_level=config.log.level,
    )


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose stop signal first drains, then shuts down."""

    def __init__(
        self,
        config: uvicorn.Config,
        state: RuntimeState,
        drain_delay: float,
        parent_pid: int | None = None,
    ) -> None:
        super().__init__(config)
        self.state = state
        self.drain_delay = drain_delay
        self.parent_pid = parent_pid  # a worker stops when its supervisor is gone
        self.drain_deadline: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Replaces uvicorn's, which re-raises the caught signal after shutdown and
        # so turns a clean exit into death by SIGTERM (exit status -15).
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        # Until the app installs its reload handler, SIGHUP's default would kill us.
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _ignore_hangup)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_deadline is None:
            self.begin_drain()
        elif not self.should_exit:
            self.should_exit = True  # a second signal skips the rest of the delay
        else:
            self.force_exit = True  # a third stops waiting for in-flight requests

    def begin_drain(self) -> None:
        self.state.draining = True
        self.drain_deadline = time.monotonic() + self.drain_delay
        logger.info("draining for %.1fs before closing listeners", self.drain_delay)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is None and self._orphaned():
            logger.warning("supervisor process is gone; shutting down")
            self.begin_drain()
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)

    def _orphaned(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid


def _ignore_hangup(sig: int, frame: FrameType | None) -> None:
    logger.info("SIGHUP received and no reload handler is installed")


def serve(
    config: Config,
    factory: AppFactory,
    sockets: Sockets,
    state: RuntimeState,
    parent_pid: int | None = None,
) -> int:
    """Build the apps, serve both sockets until stopped; return the exit code."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, _ignore_hangup)  # a reload signal must never kill us
    proxy_app, admin_app = factory(config, state)
    app = ListenerDispatch(
        proxy_app,
        admin_app,
        proxy_addr=_local(sockets.proxy.getsockname()),
        admin_addr=_local(sockets.admin.getsockname()),
    )
    server = DrainingServer(
        uvicorn_config(app, config), state, config.shutdown.drain_delay, parent_pid
    )
    # Everything built so far lives as long as the process: keep it out of the
    # collector's generations so full collections stay short (tail latency).
    gc.collect()
    gc.freeze()
    try:
        server.run(sockets=[sockets.proxy, sockets.admin])
    except SystemExit:  # uvicorn exits this way when the app's lifespan startup fails
        return STARTUP_FAILURE
    return STARTUP_FAILURE if not server.started else 0


def _local(sockname: tuple[str, int] | tuple[str, int, int, int]) -> tuple[str, int]:
    return (str(sockname[0]), int(sockname[1]))
