"""JSON lines on stdout: one access line per request, one audit line per decision.

Lines are buffered and flushed on the next loop iteration (or when the buffer
grows), so a burst of requests costs one write instead of one per request,
while a lone request still shows up at once.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any

import orjson

_FLUSH_BYTES = 64 * 1024


class JsonLog:
    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._buffer: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._scheduled = True
            except RuntimeError:  # no loop: write through
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):  # closed stdout must not break serving
            pass
