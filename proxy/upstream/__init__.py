"""The data-plane upstream client: HTTP/1.1 over asyncio and httptools, with keep-alive.

Module map: ``transport`` (the seam: the ``Transport`` protocol the forwarder calls,
``Origin``, ``Timeouts`` and the error tree) is implemented by ``pool``
(``UpstreamPool``, the entry point) -> ``origin_pool`` (limits, idle list, dialling
TCP/TLS) and ``exchange`` (framing and one request) -> ``connection`` (protocol +
parser; its read-idle timer in ``waiting``) -> ``response`` (streamed body).
"""

from proxy.upstream.pool import UpstreamPool
from proxy.upstream.response import UpstreamResponse
from proxy.upstream.transport import (
    DEFAULT_TIMEOUTS,
    Origin,
    Timeouts,
    Transport,
    TransportResponse,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamTimeout,
)

__all__ = [
    "DEFAULT_TIMEOUTS",
    "Origin",
    "Timeouts",
    "Transport",
    "TransportResponse",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRequestError",
    "UpstreamResponse",
    "UpstreamTimeout",
]
