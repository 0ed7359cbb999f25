"""The data-plane upstream client: HTTP/1.1 over asyncio and httptools, with keep-alive.

Module map: ``pool`` (entry point) -> ``origin_pool`` (limits, idle list) -> ``dial``
(TCP/TLS) and ``exchange`` (one request) -> ``connection`` (protocol + parser; its
read-idle timer in ``waiting``) -> ``response`` (streamed body). ``framing`` serialises
requests; ``errors`` holds the exception tree.
"""

from proxy.upstream.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRequestError,
    UpstreamTimeout,
)
from proxy.upstream.origin import Origin, Timeouts
from proxy.upstream.pool import UpstreamPool
from proxy.upstream.response import UpstreamResponse

__all__ = [
    "Origin",
    "Timeouts",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamProtocolError",
    "UpstreamRequestError",
    "UpstreamResponse",
    "UpstreamTimeout",
]
