"""The proxy's own endpoints under ``/.edgeward/``: answered here, never forwarded.

``jwks.json`` publishes the public signing keys for backends, ``whoami`` shows
the caller's identity, and ``auth`` answers forward-auth subrequests from a
front proxy (2xx = allow, 401/403 = refuse; no route is 403), which sends the original
method, URI and host in ``X-Forwarded-Method`` / ``-Uri`` / ``-Host`` — believed only
from a trusted peer, otherwise a client could ask about any URL but the one it is on,
and each required: a missing one is a 400, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import orjson

from proxy.admission import authentication_required
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.forward import Send
from proxy.paths import BadTarget, canonical_host, normalize_path, split_target
from proxy.snapshot import Snapshot

PREFIX = "/.edgeward/"
# RFC 9110 §5.6.2: a method is a token.
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
Handler = Callable[[Request, Snapshot, Send], Awaitable[None]]


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


async def jwks(req: Request, snap: Snapshot, send: Send) -> None:
    await _respond(
        req,
        send,
        200,
        snap.keys.jwks_document(),
        b"application/jwk-set+json",
        [(b"cache-control", b"public, max-age=300")],
    )


async def whoami(req: Request, snap: Snapshot, send: Send) -> None:
    identity = await snap.admission.authenticate(req)
    if identity is None:
        raise authentication_required("no credentials were presented")
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


async def forward_auth(req: Request, snap: Snapshot, send: Send) -> None:
    if not req.trusted_peer:
        raise ProxyError(
            400,
            "forward_auth_untrusted",
            "forward-auth answers trusted proxies only: X-Forwarded-Uri, -Method and -Host "
            "are believed from them alone",
        )
    try:
        _describe_original(req, req.scope["headers"])
    except BadTarget as exc:
        raise ProxyError(400, "bad_request_target", str(exc)) from None
    try:
        target = snap.table.match(req)
    except ProxyError as exc:
        if exc.status != 404:
            raise
        # A front proxy knows only 2xx / 401 / 403 (anything else is its own 500):
        # no route for the original request means it may not pass.
        raise ProxyError(403, exc.code, "no route matches the original request") from None
    await snap.admission.admit(req, target.policy)
    headers = [(b"cache-control", b"no-store")]
    if req.identity is not None:
        fields = snap.signer.identity_fields(req.identity)  # as forwarded requests carry
        headers += [(k.encode(), v.encode()) for k, v in fields.items()]
    await _respond(req, send, 200, b"", b"text/plain", headers)


def _describe_original(req: Request, headers: list[tuple[bytes, bytes]]) -> None:
    """Point ``req`` at the original request the front proxy asks about.

    Method, URI, host and client address are each required: the subrequest's own
    (``GET``, its Host, its peer) describe the front proxy's hop, not the request being judged, so a
    front proxy that forgot one is told so rather than having a guess judged.
    The URI is taken in origin form only (RFC 9112 §3.2.1) and normalised like any
    request target: a general URI parser would read ``//admin/x`` as authority
    ``admin`` and path ``/x`` and authorise a path other than the one forwarded.
    """
    uri = _required(headers, "X-Forwarded-Uri", "path and query")
    method = _required(headers, "X-Forwarded-Method", "method")
    host = _required(headers, "X-Forwarded-Host", "host")
    # Else the client address would be the front proxy's own, and ip_ranges rules
    # would judge it (a deny never matching, an allow of its network admitting all);
    # ProxyApp.begin already took the client from it, the peer being trusted.
    _required(headers, "X-Forwarded-For", "client address")
    proto = _one(headers, b"x-forwarded-proto")
    if proto is not None:
        if proto not in (b"http", b"https"):
            raise BadTarget("X-Forwarded-Proto must be http or https")
        req.scheme = proto.decode("ascii")
    authority, raw_path, req.query = split_target(uri, req.scheme)
    if authority is not None:
        raise BadTarget("X-Forwarded-Uri must be a path (origin form), not a URL")
    req.path = normalize_path(raw_path)
    if not _TOKEN.match(method):
        raise BadTarget("X-Forwarded-Method is not an HTTP method")
    req.method = method.decode("ascii").upper()
    req.host = canonical_host(host.decode("latin-1"), req.scheme)


def _required(headers: list[tuple[bytes, bytes]], name: str, what: str) -> bytes:
    value = _one(headers, name.lower().encode())
    if value is None:
        detail = f"{name} is required: the front proxy must send the original request's {what}"
        raise ProxyError(400, "forward_auth_header_missing", detail)
    return value


def _one(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of a header that must appear at most once (a repeat is ambiguous)."""
    values = [v for k, v in headers if k == name]
    if len(values) > 1:
        raise BadTarget(f"{name.decode()} is repeated")
    return values[0] if values else None


ENDPOINTS: dict[str, Handler] = {
    "jwks.json": jwks,
    "whoami": whoami,
    "auth": forward_auth,
}


async def handle(req: Request, snap: Snapshot, send: Send) -> None:
    handler = ENDPOINTS.get(req.path[len(PREFIX) :])
    if handler is None:
        raise ProxyError(404, "no_endpoint", "no such proxy endpoint")
    await handler(req, snap, send)


__all__ = ["PREFIX", "handle"]
