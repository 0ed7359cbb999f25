"""Error responses written by the connection layer itself, before any app runs.

They follow RFC 9457 (problem+json) like the app's errors, carry a request id the
log line repeats, and always say ``Connection: close``: after a malformed or
oversized head the connection's framing can no longer be trusted (RFC 9112
section 11.2), so the server closes it.
"""

from __future__ import annotations

import http
import json
import uuid

from proxy.wire import REQUEST_ID_HEADER

TITLES = {
    400: "Bad Request",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
}


def problem_response(
    status: int, detail: str, default_headers: list[tuple[bytes, bytes]]
) -> tuple[bytes, str]:
    """The raw HTTP/1.1 response bytes and the request id they carry."""
    request_id = uuid.uuid4().hex
    title = TITLES.get(status) or http.HTTPStatus(status).phrase
    body = json.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "request_id": request_id,
        }
    ).encode()
    lines = [f"HTTP/1.1 {status} {title}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        REQUEST_ID_HEADER.encode() + b": " + request_id.encode(),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body, request_id
