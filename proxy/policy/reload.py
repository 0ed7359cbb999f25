"""Hot reload of a file-backed value (the config): on change of the file, or on SIGHUP.

The file is polled by its ``(mtime_ns, size, inode)`` stamp, taken through
symlinks: an editor's save, an atomic replace by rename and a Kubernetes
ConfigMap's symlink swap all change it. A new file that fails to load is
reported through ``on_error`` and the running value is kept (``apply`` is not
called), so a typo never takes the proxy down or weakens its policy.

Two writes within one filesystem timestamp tick that keep the size and inode
are indistinguishable by stamp; SIGHUP forces a reload for that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")
Stamp: TypeAlias = tuple[int, int, int] | None


def file_stamp(path: Path) -> Stamp:
    """``(mtime_ns, size, inode)`` of ``path``, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Reloader(Generic[T]):
    """Reloads ``path`` with ``load`` and hands each good value to ``apply``.

    Build it before the first load of the file, so a change made between that
    load and the start of ``run`` is seen (at worst it is loaded twice).
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        apply: Callable[[T], None],
        on_error: Callable[[Exception], None],
        interval: float = 1.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.path = path
        self.interval = interval
        self._load = load
        self._apply = apply
        self._on_error = on_error
        self._stamp = file_stamp(path)
        self._wake = asyncio.Event()

    def trigger(self) -> None:
        """Ask ``run`` to reload now, changed or not (the SIGHUP handler)."""
        self._wake.set()

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make SIGHUP call ``trigger`` on ``loop`` (remove with ``remove_signal_handler``)."""
        loop.add_signal_handler(signal.SIGHUP, self.trigger)

    async def run(self) -> None:
        """Poll every ``interval`` seconds, or sooner on ``trigger``, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            forced = self._wake.is_set()
            self._wake.clear()
            self.check(force=forced)

    def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``); True when a new value was applied."""
        stamp = file_stamp(self.path)
        if stamp == self._stamp and not force:
            return False
        # Remember the stamp even when loading fails: a broken file is reported
        # once, not every interval, and the next edit is tried again.
        self._stamp = stamp
        try:
            value = self._load(self.path)
        except Exception as exc:  # any failure of the loader keeps the old value
            self._on_error(exc)
            return False
        try:
            self._apply(value)
        except Exception as exc:  # reported, and the watch goes on
            self._on_error(exc)
            return False
        return True
