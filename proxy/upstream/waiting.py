"""Waiting for progress on one upstream connection, bounded by a read-idle timer.

Why one lazy timer instead of ``asyncio.wait_for`` around each wait: the timer is
armed once and, when it fires, re-arms itself at ``last byte + read`` if bytes came
in meanwhile. A busy connection therefore costs one ``loop.time()`` per read, not a
timer (or a task) per chunk.
"""

from __future__ import annotations

import asyncio

_TIMER_SLACK = 0.001  # the loop may run a timer up to its clock resolution early


class IdleBoundedWait:
    """``wait()`` until ``_wake()``; ``_read_timeout`` of silence calls ``_idle_timeout()``.

    The subclass stamps ``_last_rx`` on every read and turns the timeout into a failure
    (which must wake the waiter).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._wait_since = 0.0
        self._last_rx = 0.0
        self._read_timeout = 30.0

    async def wait(self) -> None:
        """Wait for any progress; the read-idle timer turns silence into a failure."""
        fut = self._loop.create_future()
        self._waiter = fut
        now = self._loop.time()
        self._wait_since = now
        deadline = now + self._read_timeout
        if self._timer is None or self._timer_at > deadline:
            self._arm_timer(deadline)
        try:
            await fut
        finally:
            self._waiter = None

    def _idle_timeout(self) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm_timer(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None:
            return  # nobody waits; the next wait() re-arms
        deadline = max(self._last_rx, self._wait_since) + self._read_timeout
        if self._loop.time() + _TIMER_SLACK >= deadline:
            self._idle_timeout()
        else:
            self._arm_timer(deadline)
