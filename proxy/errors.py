"""The proxy's one error type and its rendering (RFC 9457 problem+json or HTML).

Every stage raises ``ProxyError`` with an HTTP status and a stable ``code``;
``render`` turns it into a response in exactly one place. Lower-layer
exceptions (upstream, auth, store) are translated where they are caught, so the
client never sees a stack trace.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson

PROBLEM_JSON = b"application/problem+json"


@dataclass(slots=True)
class ProxyError(Exception):
    status: int
    code: str
    detail: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Close the client connection after answering (framing could not be trusted).
    close: bool = False

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


def prefers_html(accept: bytes) -> bool:
    """True when a browser asked for a page: text/html listed before any JSON type."""
    if b"text/html" not in accept:
        return False
    html_at = accept.find(b"text/html")
    json_at = accept.find(b"json")
    return json_at < 0 or html_at < json_at


def render(
    error: ProxyError, request_id: str, accept: bytes
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body for an error response."""
    if prefers_html(accept):
        body = _html(error, request_id)
        content_type = b"text/html; charset=utf-8"
    else:
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": error.title,
                "status": error.status,
                "detail": error.detail or error.title,
                "code": error.code,
                "request_id": request_id,
            }
        )
        content_type = PROBLEM_JSON
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *error.headers,
    ]
    if error.close:
        headers.append((b"connection", b"close"))
    return headers, body


def _html(error: ProxyError, request_id: str) -> bytes:
    title = html.escape(f"{error.status} {error.title}")
    detail = html.escape(error.detail or error.title)
    rid = html.escape(request_id)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width'><title>{title}</title>"
        "<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:4em auto;"
        "padding:0 1em;color:#222}small{color:#777}</style></head><body>"
        f"<h1>{title}</h1><p>{detail}</p><p><small>Request ID: {rid}</small></p>"
        "</body></html>"
    ).encode()
