"""Micro-benchmark of the upstream client: µs per keep-alive request to a raw upstream.

The upstream is a minimal asyncio server in a child process (so its CPU is not
counted), answering every request head with a fixed 13-byte response. Reported per
request: wall time and the client process's CPU time, for sequential requests and for
concurrent ones. ``--httpx`` adds the same runs through httpx for reference.

    .venv/bin/python bench/upstream_micro.py [-n 20000] [-c 64] [--uvloop] [--httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.upstream import Origin, UpstreamPool

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\ncontent-type: text/plain\r\n\r\nHello, world!"


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")
        if count:
            self.buffer = self.buffer[self.buffer.rindex(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * count)


def serve(sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Upstream, sock=sock)
        await server.serve_forever()

    asyncio.run(main())


Runner = Callable[[int], Awaitable[None]]


async def measure(label: str, run: Runner, n: int, concurrency: int) -> None:
    await run(min(n, 500))  # warm up: connections, caches
    per_task = n // concurrency
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(per_task) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = per_task * concurrency
    print(
        f"{label:<10} c={concurrency:<4} {total:>7} req  "
        f"{wall / total * 1e6:7.1f} µs/req wall  {cpu / total * 1e6:7.1f} µs/req client CPU"
    )


def edgeward_runner(pool: UpstreamPool, origin: Origin) -> Runner:
    headers = [(b"host", origin.authority.encode()), (b"user-agent", b"bench")]

    async def run(count: int) -> None:
        for _ in range(count):
            resp = await pool.request(origin, "GET", b"/bench", headers)
            async for _chunk in resp.body():
                pass

    return run


def httpx_runner(client: object, url: str) -> Runner:
    import httpx

    assert isinstance(client, httpx.AsyncClient)

    async def run(count: int) -> None:
        for _ in range(count):
            resp = await client.get(url, headers={"user-agent": "bench"})
            await resp.aread()

    return run


async def bench(port: int, args: argparse.Namespace) -> None:
    origin = Origin("http", "127.0.0.1", port)
    pool = UpstreamPool()
    runner = edgeward_runner(pool, origin)
    for concurrency in (1, args.c):
        await measure("edgeward", runner, args.n, concurrency)
    print("pool stats:", pool.stats())
    await pool.aclose()
    if args.httpx:
        import httpx

        limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits) as client:
            runner = httpx_runner(client, f"http://127.0.0.1:{port}/bench")
            for concurrency in (1, args.c):
                await measure("httpx", runner, args.n // 4, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="requests per run")
    parser.add_argument("-c", type=int, default=64, help="concurrency of the second run")
    parser.add_argument("--uvloop", action="store_true", help="client on uvloop")
    parser.add_argument("--httpx", action="store_true", help="also measure httpx")
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    server = multiprocessing.Process(target=serve, args=(sock,), daemon=True)
    server.start()
    try:
        print(f"python {sys.version.split()[0]}, loop: {'uvloop' if args.uvloop else 'asyncio'}")
        if args.uvloop:
            import uvloop

            uvloop.run(bench(sock.getsockname()[1], args))
        else:
            asyncio.run(bench(sock.getsockname()[1], args))
    finally:
        server.terminate()
        server.join(5)
        sock.close()


if __name__ == "__main__":
    main()
