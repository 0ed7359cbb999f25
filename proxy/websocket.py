"""WebSocket proxying: one upstream connection per client connection, both ways.

Messages are relayed as they arrive (text stays text, binary stays binary) and
the close code and reason travel through in both directions. Failures before
the handshake completes are answered with a real HTTP status when the server
supports the ASGI ``websocket.http.response`` extension.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from proxy.body import Receive
from proxy.context import Request
from proxy.errors import ProxyError, render
from proxy.forward import Send
from proxy.headers import Header
from proxy.runtime import RouteTarget

# Set by the websocket client itself for the upstream handshake.
_HANDSHAKE = frozenset(
    [
        b"host",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    ]
)
MAX_MESSAGE = 16 * 1024 * 1024


async def refuse(req: Request, error: ProxyError, send: Send) -> None:
    """Answer a WebSocket handshake with an HTTP error (or a plain close)."""
    req.status = error.status
    if "websocket.http.response" in req.scope.get("extensions", {}):
        headers, body = render(error, req.request_id, req.headers.accept)
        await send(
            {"type": "websocket.http.response.start", "status": error.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def relay_websocket(
    req: Request,
    target: RouteTarget,
    headers: list[Header],
    receive: Receive,
    send: Send,
    tls: ssl.SSLContext | None,
) -> None:
    upstream = await _open(req, target, headers, tls)
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": upstream.subprotocol,
            "headers": [(b"x-request-id", req.request_id.encode())],
        }
    )
    req.status = 101
    async with upstream:
        to_client = asyncio.create_task(_upstream_to_client(upstream, send, req))
        try:
            await _client_to_upstream(receive, upstream)
        finally:
            to_client.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await to_client


async def _open(
    req: Request, target: RouteTarget, headers: list[Header], tls: ssl.SSLContext | None
) -> ClientConnection:
    origin = target.origin
    secure = origin.scheme == "https"
    host = next((v for k, v in headers if k == b"host"), origin.authority.encode()).decode()
    uri = f"{'wss' if secure else 'ws'}://{host}{req.target.decode()}"
    extra = [(k.decode(), v.decode("latin-1")) for k, v in headers if k not in _HANDSHAKE]
    try:
        return await connect(
            uri,
            additional_headers=extra,
            subprotocols=req.scope.get("subprotocols") or None,
            open_timeout=target.timeouts.connect + target.timeouts.read,
            max_size=MAX_MESSAGE,
            compression=None,
            user_agent_header=None,
            # Dial the configured upstream whatever the Host header says.
            host=origin.host,
            port=origin.port,
            ssl=(tls or True) if secure else None,
            server_hostname=origin.host if secure else None,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ProxyError(
            status if 400 <= status < 600 else 502,
            "upstream_refused_websocket",
            "the upstream refused the WebSocket",
        ) from exc
    except TimeoutError as exc:
        raise ProxyError(504, "upstream_timeout", "the upstream did not answer in time") from exc
    except (OSError, InvalidHandshake) as exc:
        raise ProxyError(502, "upstream_unavailable", "the upstream could not be reached") from exc


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message: dict[str, Any] = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            data = message.get("text")
            try:
                await upstream.send(data if data is not None else message.get("bytes") or b"")
            except ConnectionClosed:
                return
        elif kind == "websocket.disconnect":
            code = message.get("code", 1000)
            # 1005/1006 are reserved for "no status" and may not be sent (RFC 6455 §7.4.1).
            await upstream.close(
                code if code not in (1005, 1006) else 1000, message.get("reason") or ""
            )
            return


async def _upstream_to_client(upstream: ClientConnection, send: Send, req: Request) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
                req.bytes_sent += len(data.encode())
            else:
                await send({"type": "websocket.send", "bytes": data})
                req.bytes_sent += len(data)
    except ConnectionClosed:
        pass
    code = upstream.close_code or 1000
    with contextlib.suppress(Exception):
        await send(
            {
                "type": "websocket.close",
                "code": code if code not in (1005, 1006) else 1000,
                "reason": upstream.close_reason or "",
            }
        )
