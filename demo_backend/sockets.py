"""WebSocket echo at ``/ws``: text back as text, binary back as binary.

A text message ``close:<code>`` (optionally ``close:<code>:<reason>``) makes the
server close with that code, so tests can check close codes pass through.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

router = APIRouter()

SUBPROTOCOL = "echo"
CLOSE_PREFIX = "close:"
# RFC 6455 section 7.4: 1004-1006 and 1015 must never be sent in a Close frame.
_RESERVED_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


def close_code(text: str) -> tuple[int, str] | None:
    """``close:4001:bye`` -> (4001, "bye"); None when it is not a valid close request."""
    if not text.startswith(CLOSE_PREFIX):
        return None
    code_text, _, reason = text.removeprefix(CLOSE_PREFIX).partition(":")
    if not code_text.isdigit():
        return None
    code = int(code_text)
    sendable = 1000 <= code <= 1014 or 3000 <= code <= 4999
    return (code, reason) if sendable and code not in _RESERVED_CLOSE_CODES else None


@router.websocket("/ws")
async def echo_socket(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"])
                continue
            text = message.get("text") or ""
            if (close := close_code(text)) is not None:
                await websocket.close(code=close[0], reason=close[1])
                return
            await websocket.send_text(text)
    except WebSocketDisconnect:
        return
