"""Graceful shutdown: drain (readyz 503 while serving), then finish in-flight work, exit 0."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx

from tests.harness import Served, eventually, serving


def poll(check: Any, timeout: float = 10.0) -> bool:
    """Call ``check`` until it is true or ``timeout`` passes (bounded)."""
    try:
        return bool(eventually(check, timeout, 0.02))
    except AssertionError:
        return False


def get_json(url: str) -> Any:
    return httpx.get(url, timeout=5).json()


def readyz_status(server: Served) -> int:
    return httpx.get(server.admin_url("/readyz"), timeout=5).status_code


class Background:
    """One HTTP request running in a thread."""

    def __init__(self, url: str) -> None:
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            self.response = httpx.get(url, timeout=30)
        except Exception as exc:
            self.error = exc


def test_sigterm_drains_then_finishes_in_flight_request() -> None:
    shutdown = {"drain_delay": "1s", "grace": "5s"}
    with serving(shutdown=shutdown) as server:
        slow = Background(server.url("/slow?s=2.5"))
        assert poll(lambda: get_json(server.url("/inflight"))["inflight"] == 1)
        started = time.monotonic()
        server.signal(signal.SIGTERM)

        assert poll(lambda: readyz_status(server) == 503, timeout=3)
        assert slow.thread.is_alive()  # draining did not cut the request
        # While draining, new requests are still served.
        assert httpx.get(server.url("/echo"), timeout=5).status_code == 200

        code = server.wait(timeout=1 + 5 + 2)
        slow.thread.join(5)
        assert code == 0
        assert slow.error is None and slow.response is not None
        assert slow.response.status_code == 200
        assert time.monotonic() - started < 1 + 5 + 1


def test_stream_in_flight_finishes_during_grace() -> None:
    with serving(shutdown={"drain_delay": "0s", "grace": "5s"}) as server:
        with httpx.stream("GET", server.url("/sse?n=8&every=0.15"), timeout=10) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "data: 0"
            server.signal(signal.SIGTERM)
            events = ["data: 0", *(line for line in lines if line)]
        assert events == [f"data: {i}" for i in range(8)]
        assert server.wait(timeout=8) == 0


def test_second_sigterm_skips_the_drain_delay() -> None:
    with serving(shutdown={"drain_delay": "30s", "grace": "5s"}) as server:
        server.signal(signal.SIGTERM)
        assert poll(lambda: readyz_status(server) == 503, timeout=3)
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=5) == 0
        assert time.monotonic() - started < 3


def test_grace_bounds_a_request_that_does_not_finish() -> None:
    with serving(shutdown={"drain_delay": "0s", "grace": "1s"}) as server:
        stuck = Background(server.url("/slow?s=60"))
        assert poll(lambda: get_json(server.url("/inflight"))["inflight"] == 1)
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=6) == 0
        assert time.monotonic() - started < 4
        stuck.thread.join(5)
        # Cut off: uvicorn answers 500 to a request cancelled before its response.
        assert stuck.response is not None and stuck.response.status_code == 500
