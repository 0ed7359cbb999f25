"""The same forward through three HTTP clients behind the ``Transport`` seam.

The real ``ProxyApp`` (public route, signed with Ed25519, access log off) is driven
in-process through ASGI calls (no client sockets: the proxy listener is not measured)
and forwards a small GET to ``bench/upstream.py`` in a child process (13-byte answer,
keep-alive). Only the transport changes between runs:

* ``edgeward``: ``proxy.upstream.UpstreamPool``, the hand-written HTTP/1.1 client;
* ``httpx``: an ``httpx.AsyncClient`` (httpcore) behind the same protocol;
* ``aiohttp``: an ``aiohttp.ClientSession`` behind the same protocol.

Reported per transport and concurrency: requests per second (wall) and this process's
CPU µs per request (``time.process_time``; the upstream's CPU is not counted). With
two or more CPUs the bench pins itself to CPU 0 and the upstream to CPU 1. A last
row, ``in-memory``, answers without I/O: the proxy's own share, to subtract.

httpcore asks sniffio which event loop runs, on every lock it makes; without sniffio
installed (anyio 4 no longer pulls it in) that is a failed import, a sys.path scan,
each time. The header line says whether it is installed.

    .venv/bin/python bench/transports.py [-n 10000] [-c 32] [--repeat 3] [--asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import io
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yarl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.accesslog import JsonLog
from proxy.app import ProxyApp
from proxy.config.schema import Config
from proxy.runtime import Services
from proxy.snapshot import Snapshot
from proxy.upstream import (
    DEFAULT_TIMEOUTS,
    Origin,
    Timeouts,
    Transport,
    UpstreamConnectError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamTimeout,
)

HERE = Path(__file__).resolve().parent


# -- httpx behind the seam ----------------------------------------------------------------


class HttpxResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = [(name.lower(), value) for name, value in response.headers.raw]

    async def _parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        # One chunk of look-ahead so the last one is marked, as UpstreamResponse does.
        held: bytes | None = None
        try:
            async for chunk in self._response.aiter_raw():  # raw: no decoding
                if held is not None:
                    yield held, False
                held = chunk
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise UpstreamProtocolError(str(exc)) from exc
        yield held or b"", True

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        return self._parts()

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport:
    def __init__(self) -> None:
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(limits=limits, follow_redirects=False)
        self._client.headers.clear()  # send only the forwarder's headers

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> HttpxResponse:
        url = httpx.URL(scheme=origin.scheme, host=origin.host, port=origin.port, raw_path=target)
        if content_length is not None:
            headers = [*headers, (b"content-length", b"%d" % content_length)]
        timeout = httpx.Timeout(timeouts.read, connect=timeouts.connect, pool=timeouts.connect)
        request = self._client.build_request(
            method, url, headers=headers, content=body, timeout=timeout
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except httpx.ConnectError as exc:
            raise UpstreamConnectError(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise UpstreamProtocolError(str(exc)) from exc
        return HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()


# -- aiohttp behind the seam --------------------------------------------------------------


class AiohttpResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = [(name.lower(), value) for name, value in response.raw_headers]

    async def _parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        held: bytes | None = None
        try:
            async for chunk in self._response.content.iter_any():
                if held is not None:
                    yield held, False
                held = chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(str(exc)) from exc
        yield held or b"", True

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        return self._parts()

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a session binds the running loop.
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=512, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )
        return self._session

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> AiohttpResponse:
        session = self._session or self._open()
        url = yarl.URL(f"{origin.scheme}://{origin.authority}{target.decode()}", encoded=True)
        fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
        if content_length is not None:
            fields.append(("content-length", str(content_length)))
        timeout = aiohttp.ClientTimeout(sock_connect=timeouts.connect, sock_read=timeouts.read)
        try:
            response = await session.request(
                method,
                url,
                headers=fields,
                data=body,
                timeout=timeout,
                allow_redirects=False,
                skip_auto_headers=("Accept", "Accept-Encoding"),
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientConnectionError as exc:
            raise UpstreamConnectError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(str(exc)) from exc
        return AiohttpResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


# -- no upstream: the baseline -----------------------------------------------------------


class CannedResponse:
    __slots__ = ()
    status = 200
    headers = ((b"content-type", b"text/plain"), (b"content-length", b"13"))

    async def _parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        yield b"Hello, world!", True

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        return self._parts()

    async def aclose(self) -> None:
        pass


class InMemoryTransport:
    """Answers at once without I/O: what is left is the proxy's own pipeline."""

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> CannedResponse:
        return CannedResponse()

    async def aclose(self) -> None:
        pass


# -- the run ----------------------------------------------------------------------------

TRANSPORTS: dict[str, Callable[[], Transport]] = {
    "edgeward": UpstreamPool,
    "httpx": HttpxTransport,
    "aiohttp": AiohttpTransport,
    "in-memory (no I/O)": InMemoryTransport,
}


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/bench",
        "raw_path": b"/bench",
        "query_string": b"",
        "headers": [(b"host", b"proxy.bench"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }


async def forward_one(app: ProxyApp, failures: list[int]) -> None:
    gone = asyncio.get_running_loop().create_future()
    received = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await gone  # type: ignore[no-any-return]  # the client never leaves

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(), receive, send)
    gone.cancel()
    if status != 200:
        failures.append(status)


async def measure(app: ProxyApp, n: int, concurrency: int) -> tuple[float, float]:
    """(req/s, CPU µs per request) for ``n`` requests from ``concurrency`` tasks."""
    failures: list[int] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            await forward_one(app, failures)

    await worker(min(n, 500))  # warm up: connections, caches
    per_task = n // concurrency
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(per_task) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = per_task * concurrency
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. status {failures[0]}")
    return total / wall, cpu / total * 1e6


async def bench(
    port: int, args: argparse.Namespace
) -> dict[tuple[str, int], list[tuple[float, float]]]:
    config = Config.model_validate(
        {
            "log": {"access": False},
            "routes": [{"name": "bench", "to": f"http://127.0.0.1:{port}", "public": True}],
        }
    )
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for name, make in TRANSPORTS.items():
            if args.only and name not in args.only:
                continue
            services = Services.build(config, JsonLog(io.BytesIO()), transport=make())
            app = ProxyApp(services, Snapshot.build(config, services))
            gc.collect()
            gc.freeze()  # as proxy.server.serve does after start-up
            for concurrency in (1, args.c):
                results.setdefault((name, concurrency), []).append(
                    await measure(app, args.n, concurrency)
                )
            await services.aclose()
    return results


def report(results: dict[tuple[str, int], list[tuple[float, float]]]) -> None:
    print("| transport | concurrency | req/s | CPU µs/req |")
    print("|---|---:|---:|---:|")
    for (name, concurrency), runs in results.items():
        rps = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        spread = f" ({min(c for _, c in runs):.0f}-{max(c for _, c in runs):.0f})"
        print(
            f"| {name} | {concurrency} | {rps:,.0f} | {cpu:.1f}{spread if len(runs) > 1 else ''} |"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the upstream did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="requests per run")
    parser.add_argument("-c", type=int, default=32, help="concurrency of the second run")
    parser.add_argument("--repeat", type=int, default=1, help="runs; medians are reported")
    parser.add_argument("--only", action="append", choices=TRANSPORTS, help="repeatable")
    parser.add_argument("--asyncio", action="store_true", help="stdlib loop instead of uvloop")
    args = parser.parse_args()
    port = free_port()
    pinned = len(os.sched_getaffinity(0)) >= 2
    prefix = ["taskset", "-c", "1"] if pinned else []
    upstream = subprocess.Popen(
        [*prefix, sys.executable, str(HERE / "upstream.py"), "--port", str(port)]
    )
    try:
        wait_listening(port, time.monotonic() + 10)
        if pinned:
            os.sched_setaffinity(0, {0})
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if not args.asyncio:
            import uvloop

            loop_factory = uvloop.new_event_loop
        print(
            f"python {sys.version.split()[0]}, loop: {'asyncio' if args.asyncio else 'uvloop'}, "
            f"httpx {httpx.__version__}, aiohttp {aiohttp.__version__}, "
            f"sniffio: {'yes' if importlib.util.find_spec('sniffio') else 'no'}, "
            f"n={args.n}, pinned: {pinned}"
        )
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            report(runner.run(bench(port, args)))
    finally:
        upstream.terminate()
        upstream.wait(5)


if __name__ == "__main__":
    main()
