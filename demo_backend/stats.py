"""Request counters per path since start, served at ``GET /admin/stats``.

Counting is a pure-ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer
streams). Distinct paths are capped so a scan of random URLs cannot grow memory
without bound; the overflow is counted under one key.
"""

from __future__ import annotations

import time
from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_PATHS = 1024
OVERFLOW_KEY = "(other)"


class Stats(BaseModel):
    started_at: float
    uptime_seconds: float
    total: int
    paths: dict[str, int]


class RequestCounters:
    """Requests seen per path; all updates happen on the event loop thread."""

    def __init__(self, max_paths: int = MAX_PATHS) -> None:
        self._counts: Counter[str] = Counter()
        self._max_paths = max_paths
        self.started_at = time.time()
        self._started_monotonic = time.monotonic()

    def record(self, path: str) -> None:
        known = path in self._counts or len(self._counts) < self._max_paths
        self._counts[path if known else OVERFLOW_KEY] += 1

    def snapshot(self) -> Stats:
        return Stats(
            started_at=self.started_at,
            uptime_seconds=time.monotonic() - self._started_monotonic,
            total=sum(self._counts.values()),
            paths=dict(self._counts),
        )


class CountingMiddleware:
    """Counts every HTTP request and WebSocket handshake before routing."""

    def __init__(self, app: ASGIApp, counters: RequestCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.counters.record(scope["path"])
        await self.app(scope, receive, send)


def stats_router(counters: RequestCounters) -> APIRouter:
    router = APIRouter(prefix="/admin")

    @router.get("/stats")
    async def stats() -> Stats:
        return counters.snapshot()

    return router
