"""A fast, fixed-cost HTTP/1.1 upstream for the benchmarks (raw asyncio + httptools).

Every request gets the same 13-byte ``Hello, world!`` answer, so the cost on the far
side of the proxy is small and constant and the proxy's own cost dominates a run.
Bodies of any size are read and thrown away (for the streamed-upload soak); the
answer to a request with a body carries the byte count in ``x-received``.

It also counts requests, and those that carried the proxy's ``Signature`` and
``Edgeward-Assertion`` headers, so a run can show that signed forwarding really
happened. ``GET /__stats`` returns the counters as JSON (asked directly, never
through the proxy).

    .venv/bin/python bench/upstream.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

import httptools

BODY = b"Hello, world!"
_HELLO = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\n" + BODY


@dataclass
class Counters:
    requests: int = 0
    signed: int = 0
    asserted: int = 0
    body_bytes: int = 0


COUNTERS = Counters()


class Connection(asyncio.Protocol):
    """One client connection; keep-alive and pipelining as httptools parses them."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.received = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, _value: bytes) -> None:
        lower = name.lower()
        if lower == b"signature":
            COUNTERS.signed += 1
        elif lower == b"edgeward-assertion":
            COUNTERS.asserted += 1

    def on_body(self, body: bytes) -> None:
        self.received += len(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        COUNTERS.requests += 1
        COUNTERS.body_bytes += self.received
        if self.url == b"/__stats":
            self.transport.write(_json(asdict(COUNTERS)))
        elif self.received:
            self.transport.write(_received(self.received))
        else:
            self.transport.write(_HELLO)


def _json(value: object) -> bytes:
    data = json.dumps(value).encode()
    head = (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _received(count: int) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nx-received: {count}\r\ncontent-length: 13\r\n\r\n"
    return head.encode() + BODY


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    loop_factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args.port))


if __name__ == "__main__":
    main()
