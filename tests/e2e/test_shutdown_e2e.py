"""SIGTERM to a real proxy process: /readyz turns 503 for the drain delay while
traffic is still served, in-flight streams and requests finish whole, exit 0."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Proxy, eventually, public_route, run_proxy

TIMEOUT = httpx.Timeout(15.0)
SHUTDOWN = {"drain_delay": "1s", "grace": "10s"}
EVENTS = 15


def poll(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Call ``check`` until it is true or ``timeout`` passes (bounded)."""
    try:
        return bool(eventually(check, timeout, 0.02))
    except AssertionError:
        return False


def status(url: str) -> int:
    return httpx.get(url, headers={"connection": "close"}, timeout=TIMEOUT).status_code


class Background:
    """One GET in a thread; its response or error is kept for the test."""

    def __init__(self, url: str) -> None:
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()

    def _run(self, url: str) -> None:
        try:
            self.response = httpx.get(url, timeout=TIMEOUT)
        except Exception as exc:
            self.error = exc

    def result(self) -> httpx.Response:
        self.thread.join(15)
        assert self.error is None, self.error
        assert self.response is not None
        return self.response


@pytest.fixture
def proxy(backend: str, tmp_path: Path) -> Iterator[Proxy]:
    config = {"shutdown": SHUTDOWN, "routes": [public_route("api", backend, "/api/")]}
    with run_proxy(tmp_path, config) as p:
        yield p


def test_probes_before_shutdown(proxy: Proxy) -> None:
    assert status(f"{proxy.admin}/readyz") == 200
    assert status(f"{proxy.admin}/livez") == 200
    assert status(f"{proxy.admin}/healthz") == 200


def test_sigterm_drains_and_in_flight_work_finishes(proxy: Proxy) -> None:
    stream_url = f"{proxy.url}/api/stream?n={EVENTS}&interval=0.15"  # ~2 s upstream
    with httpx.stream("GET", stream_url, timeout=TIMEOUT) as stream:
        chunks = stream.iter_raw()
        body = next(chunks)  # the stream is in flight
        proxy.proc.send_signal(signal.SIGTERM)

        assert poll(lambda: status(f"{proxy.admin}/readyz") == 503, timeout=0.9)
        assert status(f"{proxy.admin}/livez") == 200
        # Still inside the drain delay: new traffic is served; this one outlives it.
        slow = Background(f"{proxy.url}/api/slow?delay=2")
        assert status(f"{proxy.url}/api/hello") == 200

        body += b"".join(chunks)
    assert stream.status_code == 200
    assert body.count(b"data:") == EVENTS  # the whole stream, not a cut one
    response = slow.result()
    assert response.status_code == 200 and response.json()["slept"] == 2
    assert proxy.proc.wait(15) == 0

    line = proxy.wait_for_line(lambda x: x.get("request_id") == stream.headers["x-request-id"])
    assert line["status"] == 200 and line["bytes"] == len(body)


def test_listeners_close_after_the_drain_delay(proxy: Proxy) -> None:
    with httpx.stream("GET", f"{proxy.url}/api/stream?n=10&interval=0.2", timeout=TIMEOUT) as s:
        chunks = s.iter_raw()
        next(chunks)
        proxy.proc.send_signal(signal.SIGTERM)
        assert poll(lambda: status(f"{proxy.admin}/readyz") == 503, timeout=0.9)

        def refused() -> bool:
            try:
                status(f"{proxy.url}/api/hello")
            except httpx.TransportError:
                return True
            return False

        # After 1 s of draining the listeners close while the stream still runs.
        assert poll(refused, timeout=3)
        rest = b"".join(chunks)
    assert rest.count(b"data:") == 9
    assert proxy.proc.wait(15) == 0
