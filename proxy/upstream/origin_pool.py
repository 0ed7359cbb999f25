"""Connections of one origin: the slot limit, the idle list, and waiters for a slot.

Slots count open connections (and ones being opened) against ``max_connections``.
A released connection goes straight to the oldest waiter if there is one; a closed
connection passes its slot on the same way, so a waiter is never overtaken.
Idle connections are kept newest-last (reuse the warmest, expire from the front) and
swept by one timer per origin rather than one per connection. New connections are
dialled here too (``dial``: TCP, and TLS with SNI, within the connect timeout).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from proxy.upstream.connection import Connection
from proxy.upstream.transport import Origin, UpstreamConnectError, UpstreamTimeout

log = logging.getLogger("edgeward.upstream")


@dataclass(slots=True)
class Limits:
    max_connections: int
    max_idle: int
    idle_timeout: float


@dataclass(slots=True)
class Counters:
    created: int = 0
    reused: int = 0
    stray: int = 0  # connections dropped for bytes after a response


class OriginPool:
    """Leases connections to one origin; owns their slots."""

    def __init__(
        self, origin: Origin, limits: Limits, counters: Counters, ssl_context: ssl.SSLContext
    ) -> None:
        self.origin = origin
        self._limits = limits
        self._counters = counters
        self._ssl = ssl_context
        self._loop = asyncio.get_running_loop()
        self.idle: deque[Connection] = deque()
        self.slots = 0
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self.closed = False

    # -- leasing ------------------------------------------------------------------------

    async def acquire(self, timeout: float, fresh: bool = False) -> Connection:
        """An idle connection (unless ``fresh``), a new one, or one freed within ``timeout``."""
        if not fresh:
            conn = self._pop_idle()
            if conn is not None:
                return conn
        elif self.idle and self.slots >= self._limits.max_connections:
            self.discard(self.idle.popleft())  # make room for the fresh connection
        if self.slots < self._limits.max_connections:
            self.slots += 1
            return await self._open(timeout)
        return await self._wait_for_slot(timeout)

    def release(self, conn: Connection) -> None:
        """Take back a connection whose exchange left it reusable."""
        if self.closed:
            self.discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._counters.reused += 1
                waiter.set_result(conn)
                return
        if len(self.idle) >= self._limits.max_idle:
            self.discard(conn)
            return
        conn.pooled = True
        conn.idle_since = self._loop.time()
        self.idle.append(conn)
        if self._sweeper is None:
            self._arm_sweeper()

    def discard(self, conn: Connection) -> None:
        """Close a connection and give its slot away (idempotent per connection)."""
        conn.abort()
        if conn.slot_held:
            conn.slot_held = False
            self._free_slot()

    def on_idle_lost(self, conn: Connection) -> None:
        """The server closed a pooled connection: forget it before anyone picks it."""
        if conn.pooled:
            conn.pooled = False
            self.idle.remove(conn)
        self.discard(conn)

    def on_stray(self, conn: Connection) -> None:
        """The upstream sent bytes no request asked for; the connection closes itself."""
        self._counters.stray += 1
        log.warning(
            "upstream %s sent bytes no request asked for (past a response's end); "
            "connection closed",
            self.origin.authority,
        )

    def close(self) -> None:
        self.closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    UpstreamConnectError("upstream pool is closed", code="upstream_pool_closed")
                )
        while self.idle:
            self.discard(self.idle.pop())
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # -- internals ----------------------------------------------------------------------

    def _pop_idle(self) -> Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            conn.pooled = False
            if conn.usable:
                self._counters.reused += 1
                return conn
            self.discard(conn)
        return None

    async def _open(self, timeout: float) -> Connection:
        try:
            conn = await dial(self.origin, self._make_connection, self._ssl, timeout)
        except BaseException:
            self._free_slot()
            raise
        self._counters.created += 1
        return conn

    def _make_connection(self) -> Connection:
        return Connection(self._loop, self.on_idle_lost, self.on_stray)

    async def _wait_for_slot(self, timeout: float) -> Connection:
        deadline = self._loop.time() + timeout
        fut: asyncio.Future[Connection | None] = self._loop.create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout_at(deadline):
                handed = await fut
        except BaseException as exc:
            self._pass_on(fut)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(
                    f"no free connection to {self.origin.authority} within {timeout:g}s",
                    code="upstream_pool_timeout",
                ) from exc
            raise
        if handed is not None:
            return handed if handed.usable else await self._replace(handed, deadline)
        return await self._open(max(deadline - self._loop.time(), 0.0))

    async def _replace(self, dead: Connection, deadline: float) -> Connection:
        # The handed-over connection died on the way; its slot is ours for a new one.
        dead.slot_held = False
        dead.abort()
        return await self._open(max(deadline - self._loop.time(), 0.0))

    def _pass_on(self, fut: asyncio.Future[Connection | None]) -> None:
        """A waiter gave up; whatever it was handed meanwhile must not leak."""
        if not fut.done() or fut.cancelled() or fut.exception() is not None:
            fut.cancel()
            if fut in self._waiters:
                self._waiters.remove(fut)
            return
        handed = fut.result()
        if handed is None:
            self._free_slot()
        elif handed.usable:
            self.release(handed)
        else:
            self.discard(handed)

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self.slots -= 1

    def _arm_sweeper(self) -> None:
        self._sweeper = None
        if self.idle:
            when = self.idle[0].idle_since + self._limits.idle_timeout
            self._sweeper = self._loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        cutoff = self._loop.time() - self._limits.idle_timeout + 0.001
        while self.idle and self.idle[0].idle_since <= cutoff:
            conn = self.idle.popleft()
            conn.pooled = False
            self.discard(conn)
        self._arm_sweeper()


# -- opening a connection: the one place where socket, DNS and TLS exceptions
# become upstream errors.
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
