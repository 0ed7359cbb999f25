"""ASGI middleware: nothing reaches the app unless ``Verifier`` accepts it.

Pure ASGI (no ``BaseHTTPMiddleware``) so streaming and contextvars survive.
HTTP: the body is buffered (bounded) only when the signature covers
``content-digest``; otherwise it streams to the app untouched. On failure the
client gets an RFC 9457 problem+json response and the app never runs; on
success the ``Identity`` is put at ``scope["state"]["identity"]`` (Starlette's
``request.state.identity``). WebSocket: the handshake request is verified;
refusals answer 401 through the Denial Response extension when the server
offers it, else close with 1008 (policy violation, RFC 6455 §7.4.1).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from proxy import wire
from proxy.verify.errors import VerificationError
from proxy.verify.verifier import Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class VerifyMiddleware:
    """Wraps an ASGI app; every http and websocket request is verified first."""

    def __init__(self, app: ASGIApp, verifier: Verifier, *, max_body: int = 1024 * 1024) -> None:
        self.app = app
        self.verifier = verifier
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        try:
            body = await self._buffer(receive) if _digest_covered(headers) else None
            identity = await self._verify(scope, scope["method"], headers, body)
        except VerificationError as exc:
            await _send_problem(send, exc)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive if body is None else _replay(body, receive), send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            identity = await self._verify(scope, "GET", _headers(scope), None)
        except VerificationError as exc:
            if "websocket.http.response" in scope.get("extensions", {}):
                await _send_problem(send, exc, prefix="websocket.")
            else:
                await receive()  # the websocket.connect message comes first
                await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)

    async def _verify(
        self, scope: Scope, method: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Any:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        host = next((v for k, v in headers if k.lower() == "host"), "")
        return await self.verifier.verify(
            method,
            host,
            raw_path.decode("latin-1").partition("?")[0],
            "?" + scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
            scheme=scope.get("scheme", "http"),  # this connection's: the proxy signs with it
        )

    async def _buffer(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:  # bounded: stops at max_body or at the last chunk
            message = await receive()
            if message["type"] == "http.disconnect":
                raise VerificationError("body_unsigned")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise VerificationError("body_too_large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]


def _digest_covered(headers: list[tuple[str, str]]) -> bool:
    # A cheap, conservative pre-check: buffering when unneeded costs memory only;
    # the verifier itself decides whether the digest is really covered.
    return any(
        name.lower() == wire.SIGNATURE_INPUT_HEADER and f'"{wire.CONTENT_DIGEST_HEADER}"' in value
        for name, value in headers
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: disconnect, as the server reports it

    return replay


async def _send_problem(send: Send, error: VerificationError, prefix: str = "") -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(error.status).phrase,
            "status": error.status,
            "detail": error.detail,
            "code": error.code,
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": f"{prefix}http.response.start", "status": error.status, "headers": headers})
    await send({"type": f"{prefix}http.response.body", "body": body})
