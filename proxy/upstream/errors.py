"""Errors of the upstream client: one typed exception per way a forward can fail.

The tree, and the status the proxy answers with::

    UpstreamError                    .code: a stable string for logs and metrics
    ├── UpstreamConnectError         502  refused, reset, DNS, TLS, EOF before a response
    ├── UpstreamTimeout              504  connect (incl. TLS handshake), pool slot, read idle
    ├── UpstreamProtocolError        502  the upstream sent something that is not HTTP/1.1
    └── UpstreamRequestError         400  the request itself could not be framed or sent
                                          (body length differs from Content-Length,
                                          CR/LF/NUL in a header)

Lower-layer exceptions (OSError, ssl.SSLError, httptools errors) are translated into
these in exactly one place each (connecting in ``pool``, reading in ``connection``);
callers never see the lower ones and never compare messages, only ``code``.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Base of every upstream failure; ``code`` is stable, the message is for humans."""

    code: str = "upstream_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UpstreamConnectError(UpstreamError):
    """No usable response: refused, reset, DNS or TLS failure, EOF before a response."""

    code = "upstream_connect_failed"

    def __init__(self, message: str, *, code: str | None = None, before_response: bool = False):
        super().__init__(message, code=code)
        # True when the upstream closed or reset before sending a single response byte:
        # the only case in which a request without a body may be retried (RFC 9112 §9.3.1).
        self.before_response = before_response


class UpstreamTimeout(UpstreamError):
    """Connect, pool slot or read-idle timeout."""

    code = "upstream_timeout"


class UpstreamProtocolError(UpstreamError):
    """Malformed or unexpected response (bad framing, 101, oversized header block)."""

    code = "upstream_protocol_error"


class UpstreamRequestError(UpstreamError):
    """The request could not be sent as given: the caller's input was inconsistent."""

    code = "upstream_request_invalid"
