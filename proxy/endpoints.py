"""The proxy's own endpoints under ``/.edgeward/``: answered here, never forwarded.

``jwks.json`` publishes the public signing keys for backends, ``whoami`` shows
the caller's identity, and ``auth`` answers forward-auth subrequests from a
front proxy (2xx = allow, 401/403 = refuse), which sends the original method
and URI in ``X-Forwarded-Method`` / ``X-Forwarded-Uri`` — believed only from a
trusted peer, otherwise a client could ask about any URL but the one it is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import orjson

from proxy.context import Request
from proxy.errors import ProxyError
from proxy.forward import Send
from proxy.paths import BadTarget, normalize_path
from proxy.runtime import RouteTable, Services
from proxy.sign import identity_fields

PREFIX = "/.edgeward/"
Handler = Callable[[Request, RouteTable, Services, Send], Awaitable[None]]


async def _respond(
    req: Request,
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", req.request_id.encode()),
        *(extra or []),
    ]
    req.status = status
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    req.response_started = True
    req.bytes_sent = len(body)


async def jwks(req: Request, table: RouteTable, services: Services, send: Send) -> None:
    await _respond(
        req,
        send,
        200,
        services.keys.jwks_document(),
        b"application/jwk-set+json",
        [(b"cache-control", b"public, max-age=300")],
    )


async def whoami(req: Request, table: RouteTable, services: Services, send: Send) -> None:
    identity = await services.admission.authenticate(req)
    if identity is None:
        raise ProxyError(401, "authentication_required", "no credentials were presented")
    req.identity = identity
    body = {
        "sub": identity.subject,
        "email": identity.email,
        "groups": list(identity.groups),
        "name": identity.name,
        "auth": identity.auth,
        "iss": identity.issuer,
        "exp": identity.expires_at,
    }
    await _respond(
        req, send, 200, orjson.dumps(body), b"application/json", [(b"cache-control", b"no-store")]
    )


async def forward_auth(req: Request, table: RouteTable, services: Services, send: Send) -> None:
    scope_headers: list[tuple[bytes, bytes]] = req.scope["headers"]
    uri = _trusted_header(req, scope_headers, b"x-forwarded-uri")
    method = _trusted_header(req, scope_headers, b"x-forwarded-method")
    if uri is None:
        raise ProxyError(
            400,
            "forward_auth_untrusted",
            "X-Forwarded-Uri is required and only accepted from trusted proxies",
        )
    try:
        req.path = normalize_path(urlsplit(uri.decode("latin-1")).path.encode("latin-1") or b"/")
    except BadTarget as exc:
        raise ProxyError(400, "bad_request_target", str(exc)) from None
    req.method = (method or b"GET").decode("latin-1").upper()
    if host := _trusted_header(req, scope_headers, b"x-forwarded-host"):
        req.host = host.decode("latin-1").lower()
    target = table.match(req)
    await services.admission.admit(req, target.policy)
    headers = []
    if req.identity is not None:
        headers = [(k.encode(), v.encode()) for k, v in identity_fields(req.identity).items()]
    await _respond(req, send, 200, b"", b"text/plain", headers)


def _trusted_header(req: Request, headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    if not req.trusted_peer:
        return None
    return next((v for k, v in headers if k == name), None)


ENDPOINTS: dict[str, Handler] = {
    "jwks.json": jwks,
    "whoami": whoami,
    "auth": forward_auth,
}


async def handle(req: Request, table: RouteTable, services: Services, send: Send) -> None:
    handler = ENDPOINTS.get(req.path[len(PREFIX) :])
    if handler is None:
        raise ProxyError(404, "no_endpoint", "no such proxy endpoint")
    await handler(req, table, services, send)


__all__ = ["PREFIX", "handle"]
