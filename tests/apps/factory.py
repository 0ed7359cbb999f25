"""A stand-in AppFactory: a small proxy app and admin app for the server tests.

proxy app: ``/echo`` (method, path, body length, pid), ``/slow?s=SECONDS``,
``/sse?n=N&every=SECONDS`` (a stream), ``/count`` (requests seen by this process),
``/hups`` (SIGHUPs received through the app's own loop handler), ``/inflight`` (slow
requests now running); 404 otherwise. Every ``/echo`` counts in a Prometheus counter.
admin app: ``/livez``, ``/readyz`` (503 while draining), ``/pid``, ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import Counter, generate_latest

from proxy.config.schema import Config
from proxy.server import ASGIApp, RuntimeState, registry

ECHOES = Counter("edgeward_test_echoes", "Echo requests served (server runtime tests)")

Scope = Any
Receive = Any
Send = Any


async def respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> int:
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    return size


class ProxyApp:
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self.requests = 0
        self.hups = 0
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        self.requests += 1
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        path = scope["path"]
        if path == "/echo":
            size = await read_body(receive)
            ECHOES.inc()
            payload = {"method": scope["method"], "path": path, "body": size, "pid": os.getpid()}
            await respond(send, 200, payload)
        elif path == "/slow":
            await self.slow(send, float(query.get("s", "1")))
        elif path == "/sse":
            await self.sse(send, int(query.get("n", "3")), float(query.get("every", "0.1")))
        elif path == "/count":
            await respond(send, 200, {"requests": self.requests})
        elif path == "/inflight":
            await respond(send, 200, {"inflight": self.inflight})
        elif path == "/hups":
            await respond(send, 200, {"hups": self.hups, "pid": os.getpid()})
        else:
            await respond(send, 404, {"error": "not found", "path": path})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGHUP, self.on_hup)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def slow(self, send: Send, seconds: float) -> None:
        self.inflight += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.inflight -= 1
        await respond(send, 200, {"slept": seconds})

    def on_hup(self) -> None:
        self.hups += 1

    async def sse(self, send: Send, count: int, every: float) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(count):
            await send(
                {"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True}
            )
            await asyncio.sleep(every)
        await send({"type": "http.response.body", "body": b""})


class AdminApp:
    def __init__(self, state: RuntimeState) -> None:
        self.state = state
        self.registry = registry()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"  # the admin app never gets lifespan events
        path = scope["path"]
        if path == "/livez":
            await respond(send, 200, {"alive": True})
        elif path == "/readyz":
            status = 503 if self.state.draining else 200
            await respond(send, status, {"draining": self.state.draining})
        elif path == "/pid":
            multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            payload = {"pid": os.getpid(), "worker": self.state.worker, "multiproc": multiproc}
            await respond(send, 200, payload)
        elif path == "/metrics":
            body = generate_latest(self.registry)
            headers = [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await respond(send, 404, {"error": "not found", "path": path})


def build(config: Config, state: RuntimeState) -> tuple[ASGIApp, ASGIApp]:
    return ProxyApp(state), AdminApp(state)


def build_failing(config: Config, state: RuntimeState) -> tuple[ASGIApp, ASGIApp]:
    raise RuntimeError("signing key file /nonexistent is missing")
