"""The response head and the first body chunk leave in one write (narrow unit test)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from proxy.server.coalesce import coalescing_send


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def cycle(transport: RecordingTransport, *, keep_alive: bool = True) -> RequestResponseCycle:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "http_version": "1.1"}
    return RequestResponseCycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}


async def test_small_response_is_one_write() -> None:
    transport = RecordingTransport()
    send = coalescing_send(cycle(transport))
    await send(START)
    assert transport.writes == []  # held until the body
    await send({"type": "http.response.body", "body": b"hello", "more_body": False})
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\nhello")


async def test_stream_sends_head_with_first_chunk_then_each_chunk() -> None:
    transport = RecordingTransport()
    send = coalescing_send(cycle(transport))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"a", "more_body": True})
    await send({"type": "http.response.body", "body": b"b", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    assert len(transport.writes) == 3
    assert b"transfer-encoding: chunked" in transport.writes[0]
    assert transport.writes[0].endswith(b"1\r\na\r\n")
    assert transport.writes[2] == b"0\r\n\r\n"


async def test_close_after_response_still_closes() -> None:
    transport = RecordingTransport()
    send = coalescing_send(cycle(transport, keep_alive=False))
    await send(START)
    await send({"type": "http.response.body", "body": b"hello", "more_body": False})
    assert len(transport.writes) == 1 and transport.closed
    assert b"connection: close" in transport.writes[0]


async def test_a_later_start_replaces_the_held_one() -> None:
    transport = RecordingTransport()
    send = coalescing_send(cycle(transport))
    await send(START)
    await send({"type": "http.response.start", "status": 500, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    assert transport.writes[0].startswith(b"HTTP/1.1 500")


async def test_on_start_may_change_the_cycle_before_its_head_is_written() -> None:
    transport = RecordingTransport()
    started: list[RequestResponseCycle] = []

    def on_start(c: RequestResponseCycle) -> None:
        started.append(c)
        c.keep_alive = False

    the_cycle = cycle(transport)
    send = coalescing_send(the_cycle, on_start)
    await send(START)
    assert started == [the_cycle]
    await send({"type": "http.response.body", "body": b"hello", "more_body": False})
    assert started == [the_cycle]  # once per response
    assert b"connection: close" in transport.writes[0] and transport.closed
