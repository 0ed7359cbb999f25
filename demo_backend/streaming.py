"""Server-sent events: ``GET /api/stream`` emits one event per interval.

Each event is yielded as its own chunk so a proxy that buffers the response is
caught by the tests (the first event must arrive before the last is made).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

router = APIRouter(prefix="/api")

MAX_EVENTS = 10_000
MAX_INTERVAL = 60.0
SSE_MEDIA_TYPE = "text/event-stream"


def event(i: int, now: float) -> bytes:
    """One event in the HTML Living Standard's event-stream format (id, data, blank line)."""
    data = json.dumps({"i": i, "t": now}, separators=(",", ":"))
    return f"id: {i}\ndata: {data}\n\n".encode()


async def events(n: int, interval: float) -> AsyncIterator[bytes]:
    for i in range(n):
        if i:
            await asyncio.sleep(interval)
        yield event(i, time.time())


@router.get("/stream")
async def stream(
    n: Annotated[int, Query(ge=0, le=MAX_EVENTS)] = 10,
    interval: Annotated[float, Query(ge=0, le=MAX_INTERVAL)] = 0.1,
) -> StreamingResponse:
    return StreamingResponse(
        events(n, interval),
        media_type=SSE_MEDIA_TYPE,
        headers={"cache-control": "no-cache"},
    )
