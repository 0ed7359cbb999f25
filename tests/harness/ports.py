"""Loopback ports for child processes, and starting a child again when its port was taken."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

# A child that logs one of these lost the race for a port picked by free_port(): the
# harness starts it again on fresh ports instead of failing the test.
BIND_FAILURES = ("address already in use", "cannot listen on")
START_ATTEMPTS = 3

_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A port nothing listens on now, never one this run handed out before.

    Only for a child process that must be told its port up front (the proxy config
    refuses port 0). The kernel may give a just-closed ephemeral port back on the next
    call, so two calls in a row could yield listen == admin_listen; remembering what was
    handed out rules that out. Another process can still take the port before the child
    binds it: the process starters below retry on a bind failure. In-process servers
    bind port 0 and read the port back instead.
    """
    with _handed_out_lock:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def lost_port_race(output: str) -> bool:
    """Whether a child's output says it could not bind its port (uvicorn or Edgeward)."""
    text = output.lower()
    return any(marker in text for marker in BIND_FAILURES)


class PortTaken(RuntimeError):
    """A child process could not bind the port it was given; start it on fresh ports."""


def retrying(start: Callable[[], contextlib.AbstractContextManager[T]]) -> Iterator[T]:
    """Enter ``start()``; on PortTaken pick again (bounded), so a port race never fails a test."""
    for attempt in range(START_ATTEMPTS):
        try:
            manager = start()
            value = manager.__enter__()
        except PortTaken:
            if attempt == START_ATTEMPTS - 1:
                raise
            continue
        try:
            yield value
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            manager.__exit__(None, None, None)
        return
