"""The proxy's ASGI application: the request pipeline, readable top to bottom.

    request -> match route -> authenticate + decide -> sign -> forward -> respond

Each stage is a small function in its own module; errors from any stage are
``ProxyError`` and are rendered in one place (``_fail``). The proxy's own
endpoints under ``/.edgeward/`` are answered before routing and never forwarded.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from proxy import endpoints, reloading
from proxy.body import NO_BODY, Body, ClientDisconnected, Receive, read_body
from proxy.context import REQUEST_TARGET, Request
from proxy.errors import ProxyError, render
from proxy.forward import Send, relay, send_upstream
from proxy.headers import (
    ClientHeaders,
    Header,
    client_address,
    client_scheme,
    is_trusted,
    upstream_headers,
)
from proxy.metrics import observe_request
from proxy.paths import BadTarget, canonical_host, normalize_path, split_target
from proxy.policy import Allowed
from proxy.runtime import RouteTarget, Services
from proxy.sign import preserved_host
from proxy.snapshot import Snapshot
from proxy.websocket import refuse, relay_websocket

log = logging.getLogger("edgeward")


_HASH = ord("#")  # an int: the cheapest membership test on bytes


def _refuse_host_lines(lines: int, http_version: str | None) -> None:
    """RFC 9112 §3.2: 400 for more than one Host line, or for none in HTTP/1.1."""
    if lines > 1:
        raise BadTarget("more than one Host header")  # which one would be meant?
    if http_version != "1.0":
        raise BadTarget("the Host header is required")


class ProxyApp:
    """The ASGI application every worker serves: one request's path through the pipeline.

    ``http`` reads the current ``Snapshot`` once, parses the target, answers the
    ``/.edgeward/`` endpoints, matches a route, admits (authenticate + decide), then
    reads, signs and forwards the body and relays the response, streamed. Any stage
    may raise ``ProxyError``; ``_fail`` renders it. ``websocket`` runs the same
    admission before relaying frames. ``services`` holds what outlives a reload (the
    upstream pool, control-plane HTTP client, log); ``snapshot`` is replaced whole.
    """

    def __init__(
        self,
        services: Services,
        snapshot: Snapshot,
        config_path: str | None = None,
        worker: int = 0,
    ) -> None:
        self.services = services
        # Replaced whole on reload (one assignment); a request reads it once and
        # runs on that version to the end.
        self.snapshot = snapshot
        self.config_path = config_path
        self.worker = worker  # 0 in a single-process server, else 1..N (in access lines)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        snap = self.snapshot
        req = self.begin(scope, snap)
        try:
            self.parse_target(req)
            if req.path.startswith(endpoints.PREFIX):
                await endpoints.handle(req, snap, send)
                return
            target = snap.table.match(req)
            allowed = await snap.admission.admit(req, target.policy)
            await self.forward(req, snap, target, allowed, receive, send)
        except ProxyError as error:
            await self._fail(req, error, send)
        except ClientDisconnected:
            req.status = req.status or 499  # the client closed before the answer
        except Exception:
            # A bug of ours: the operator gets the traceback, the client a clean 500.
            log.exception("unhandled error in request %s", req.request_id)
            await self._fail(req, ProxyError(500, "internal_error", "internal error"), send)
        finally:
            self.finish(req, snap)

    async def websocket(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        snap = self.snapshot
        req = self.begin(scope, snap)
        try:
            await receive()  # websocket.connect
            self.parse_target(req)
            target = snap.table.match(req)
            await snap.admission.admit(req, target.policy)
            headers = self.outgoing_headers(req, snap, target, NO_BODY)
            await relay_websocket(req, target, headers, receive, send, self.services.tls)
        except ProxyError as error:
            await refuse(req, error, send)
        finally:
            self.finish(req, snap)

    def begin(self, scope: dict[str, Any], snap: Snapshot) -> Request:
        trusted_proxies = snap.trusted_proxies
        headers = ClientHeaders.read(scope["headers"])
        client = scope.get("client")
        peer = client[0] if client else None
        trusted = is_trusted(peer, trusted_proxies)
        scheme = client_scheme(scope["scheme"], headers, trusted)
        req = Request(
            scope=scope,
            request_id=headers.request_id_or_new(),
            method=scope.get("method", "GET"),  # WebSocket scopes have none
            scheme=scheme,
            headers=headers,
            peer=peer,
            trusted_peer=trusted,
        )
        req.client_ip = client_address(peer, headers, trusted_proxies) if trusted else peer
        return req

    def parse_target(self, req: Request) -> None:
        """One path, query and authority, used alike for routing, signing and forwarding."""
        scope = req.scope
        target = scope.get(REQUEST_TARGET)
        if target is None:  # a WebSocket handshake: its server split the target at "?"
            target = scope.get("raw_path") or scope["path"].encode()
            if query := scope.get("query_string"):
                target += b"?" + query
        headers = req.headers
        try:
            if headers.host_lines != 1:
                _refuse_host_lines(headers.host_lines, req.scope.get("http_version"))
            if target[:1] == b"/" and _HASH not in target:  # origin form: the usual case
                raw_path, _, req.query = target.partition(b"?")
            else:
                authority, raw_path, req.query = split_target(target, req.scheme)
                if authority is not None:
                    # RFC 9112 §3.2.2: the target's authority wins over Host, and it is
                    # the one routed, signed and forwarded (``headers.host`` feeds all three).
                    headers.host = authority
            req.path = normalize_path(raw_path)
            req.host = canonical_host(headers.host.decode("latin-1"), req.scheme)
        except BadTarget as exc:
            raise ProxyError(400, "bad_request_target", str(exc)) from None

    async def forward(
        self,
        req: Request,
        snap: Snapshot,
        target: RouteTarget,
        allowed: Allowed,
        receive: Receive,
        send: Send,
    ) -> None:
        """Forward an allowed request; ``allowed`` is the policy's proof, never built here."""
        body = await read_body(
            req.headers,
            receive,
            limit=target.max_body,
            bounds=snap.body_limits,
            buffer_up_to=snap.digest_max_body,
        )
        headers = self.outgoing_headers(req, snap, target, body)
        response = await send_upstream(
            self.services.transport, req, target.origin, headers, body, target.timeouts
        )
        await relay(req, response, receive, send)

    def outgoing_headers(
        self, req: Request, snap: Snapshot, target: RouteTarget, body: Body
    ) -> list[Header]:
        """The forwarded headers and, over exactly those values, the proxy's signature."""
        upstream_scheme = target.origin.scheme
        if target.route.preserve_host:
            host = preserved_host(req.headers.host, req.scheme, upstream_scheme)
        else:
            host = target.origin.authority.encode()  # already without a default port
        headers = upstream_headers(
            req.scope["headers"],
            req.headers,
            host=host,
            peer=req.peer,
            scheme=req.scheme,
            request_id=req.request_id,
            trusted=req.trusted_peer,
        )
        headers += snap.signer.headers(
            req,
            authority=host.decode("latin-1"),
            upstream_scheme=upstream_scheme,
            audience=target.audience,
            body=body,
            identity_headers=target.route.identity_headers,
        )
        return headers

    async def _fail(self, req: Request, error: ProxyError, send: Send) -> None:
        req.status = error.status
        if req.response_started:
            return  # the status line is out; the connection just ends
        headers, body = render(error, req.request_id, req.headers.accept)
        headers.append((b"x-request-id", req.request_id.encode()))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        req.bytes_sent = len(body)

    def finish(self, req: Request, snap: Snapshot) -> None:
        elapsed = time.perf_counter() - req.started
        observe_request(req.method, req.route, req.status, elapsed)
        if snap.access_log:
            self.services.log.write(
                {
                    "type": "access",
                    "ts": round(time.time(), 3),
                    "request_id": req.request_id,
                    "route": req.route,
                    "method": req.method,
                    "path": req.path or req.scope.get("path", ""),
                    "status": req.status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "upstream_ms": req.upstream_ms,
                    "bytes": req.bytes_sent,
                    "client": req.client_ip,
                    "user": req.identity.subject if req.identity else None,
                    "auth": req.identity.auth if req.identity else None,
                    "cache": req.cache,
                    "worker": self.worker,
                }
            )

    async def lifespan(self, receive: Receive, send: Send) -> None:
        watcher = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.config_path:
                    watcher = reloading.start(self, self.config_path)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if watcher is not None:
                    watcher.cancel()
                await self.services.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
