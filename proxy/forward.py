"""Forwarding an allowed request upstream and relaying the response, both streamed.

Upstream failures are translated here, in one place, into the proxy's error
type: refused or reset -> 502, connect or read timeout -> 504. Once the
response has started the status cannot change, so a failure mid-body ends the
client connection instead (the client sees a truncated message, never a
spliced one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.body import Body, ClientDisconnected, Receive
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.headers import Header, downstream_headers
from proxy.metrics import count_upstream_error, observe_upstream
from proxy.upstream import (
    Origin,
    Timeouts,
    Transport,
    TransportResponse,
    UpstreamConnectError,
    UpstreamError,
    UpstreamRequestError,
    UpstreamTimeout,
)

Send = Callable[[dict[str, Any]], Awaitable[None]]


def upstream_failure(route: str, exc: UpstreamError) -> ProxyError:
    if isinstance(exc, UpstreamRequestError):  # the client's request cannot be framed
        return ProxyError(400, "bad_request", "the request cannot be forwarded as sent")
    if isinstance(exc, UpstreamTimeout):
        count_upstream_error(route, "timeout")
        return ProxyError(504, "upstream_timeout", "the upstream did not answer in time")
    kind = "connect" if isinstance(exc, UpstreamConnectError) else "protocol"
    count_upstream_error(route, kind)
    return ProxyError(502, "upstream_unavailable", "the upstream could not be reached")


async def send_upstream(
    transport: Transport,
    req: Request,
    origin: Origin,
    headers: list[Header],
    body: Body,
    timeouts: Timeouts,
) -> TransportResponse:
    stream, length = body.upstream()
    sent = time.perf_counter()
    try:
        response = await transport.request(
            origin,
            req.method,
            req.target,
            headers,
            stream,
            content_length=length,
            timeouts=timeouts,
        )
    except UpstreamError as exc:
        raise upstream_failure(req.route, exc) from exc
    elapsed = time.perf_counter() - sent
    req.upstream_ms = round(elapsed * 1000, 3)
    observe_upstream(req.route, elapsed)
    return response


async def relay(req: Request, response: TransportResponse, receive: Receive, send: Send) -> None:
    """Send the upstream response to the client chunk by chunk."""
    headers = downstream_headers(response.headers, req.request_id)
    if req.cache:
        headers.append((b"edgeward-cache", req.cache.encode()))
    req.status = response.status
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    req.response_started = True
    watcher: asyncio.Task[None] | None = None
    gone: asyncio.Event | None = None
    try:
        async for chunk, last in response.body_parts():
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            req.bytes_sent += len(chunk)
            if not last and watcher is None:
                # A body of more than one chunk may be a long stream (SSE):
                # watch for the client leaving so the upstream read stops too.
                gone = asyncio.Event()
                watcher = asyncio.create_task(
                    _watch_disconnect(receive, asyncio.current_task(), gone)
                )
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if gone is not None and gone.is_set() and task is not None:
            task.uncancel()  # our own watcher cancelled us: the client left
            raise ClientDisconnected from None
        raise
    except UpstreamError as exc:
        upstream_failure(req.route, exc)  # counted; the status line is already out
        raise ClientDisconnected from exc
    finally:
        if watcher is not None:
            watcher.cancel()
        await response.aclose()


async def _watch_disconnect(
    receive: Receive, streaming: asyncio.Task[Any] | None, gone: asyncio.Event
) -> None:
    with contextlib.suppress(Exception):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                if streaming is not None:
                    streaming.cancel()
                return
