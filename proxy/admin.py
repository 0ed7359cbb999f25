"""The admin listener: liveness, readiness and metrics. Never proxied.

``/livez`` (alias ``/healthz``) checks nothing but the event loop, so a slow
IdP cannot get the pod restarted; ``/readyz`` reports whether this process
should get traffic: config loaded, not draining, and each dependency check
registered by other components passing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from proxy.body import Receive
from proxy.forward import Send

ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when ready, else why not


class DrainState(Protocol):
    draining: bool


class AdminApp:
    def __init__(
        self,
        state: DrainState,
        registry: Callable[[], CollectorRegistry],
        checks: Mapping[str, ReadinessCheck] | None = None,
    ) -> None:
        self.state = state
        self.registry = registry
        self.checks = checks if checks is not None else {}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/livez", "/healthz"):
            await _json(send, 200, {"status": "alive"})
        elif path == "/readyz":
            await self.readyz(send)
        elif path == "/metrics":
            data = generate_latest(self.registry())
            await _send(send, 200, data, CONTENT_TYPE_LATEST.encode())
        elif method not in ("GET", "HEAD"):
            await _json(send, 405, {"status": 405, "title": "Method Not Allowed"})
        else:
            await _json(send, 404, {"status": 404, "title": "Not Found"})

    async def readyz(self, send: Send) -> None:
        if self.state.draining:
            await _json(send, 503, {"status": "draining"})
            return
        failing = {}
        for name, check in list(self.checks.items()):
            try:
                problem = await check()
            except Exception as exc:  # a check must never crash the probe
                problem = f"{type(exc).__name__}"
            if problem:
                failing[name] = problem
        if failing:
            await _json(send, 503, {"status": "not ready", "failing": failing})
        else:
            await _json(send, 200, {"status": "ready"})


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    await _send(send, status, orjson.dumps(body), b"application/json")


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
