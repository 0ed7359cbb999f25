"""Opening a connection: TCP (and TLS with SNI) within the connect timeout.

The one place where socket, DNS and TLS exceptions become upstream errors.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

from proxy.upstream.connection import Connection
from proxy.upstream.errors import UpstreamConnectError, UpstreamTimeout
from proxy.upstream.origin import Origin


def default_ssl_context() -> ssl.SSLContext:
    """System trust store, hostname checking on, and only HTTP/1.1 offered in ALPN."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    return context


async def dial(
    origin: Origin,
    factory: Callable[[], Connection],
    ssl_context: ssl.SSLContext,
    timeout: float,
) -> Connection:
    """Connect to ``origin`` or raise UpstreamConnectError / UpstreamTimeout."""
    loop = asyncio.get_running_loop()
    tls = ssl_context if origin.tls else None
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                factory,
                origin.host,
                origin.port,
                ssl=tls,
                # SNI and certificate name checks use the origin's host (RFC 6066 §3).
                server_hostname=origin.host if tls is not None else None,
            )
    except TimeoutError as exc:
        raise UpstreamTimeout(
            f"connect to {origin.authority} timed out after {timeout:g}s",
            code="upstream_connect_timeout",
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise UpstreamConnectError(
            f"TLS certificate of {origin.authority} not trusted", code="upstream_tls_verify"
        ) from exc
    except ssl.SSLError as exc:
        raise UpstreamConnectError(
            f"TLS handshake with {origin.authority} failed", code="upstream_tls"
        ) from exc
    except socket.gaierror as exc:
        raise UpstreamConnectError(f"cannot resolve {origin.host}", code="upstream_dns") from exc
    except ConnectionRefusedError as exc:
        raise UpstreamConnectError(
            f"connection to {origin.authority} refused", code="upstream_refused"
        ) from exc
    except OSError as exc:
        raise UpstreamConnectError(
            f"cannot connect to {origin.authority}", code="upstream_connect_failed"
        ) from exc
    return conn
