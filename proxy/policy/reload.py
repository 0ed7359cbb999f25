"""Hot reload of a file-backed value (the config): on change of the file, or on SIGHUP.

The file is polled by its ``(mtime_ns, size, inode)`` stamp, taken through
symlinks: an editor's save, an atomic replace by rename and a Kubernetes
ConfigMap's symlink swap all change it. A new file that fails to load is
reported through ``on_error`` and the running value is kept (``apply`` is not
called), so a typo never takes the proxy down or weakens its policy.

A file is loaded only once it has settled: its stamp and the SHA-256 of its
content are the same across ``settle`` seconds, on a poll and on SIGHUP alike.
A writer that truncates the file and writes it in pieces (most editors, ``>``
in a shell, a slow copy) is never caught half-way, so a half-written file can
never replace the running config. The bytes loaded are the bytes compared, read
from one open file, so a rename or symlink swap between reads cannot mix two
versions.

Files the value was built from besides the config (secrets, keys: ``depends``)
are watched by stamp too, and must be settled as well: rotating a mounted
secret reloads without touching the config file.

Two writes within one filesystem timestamp tick that keep the size and inode
are indistinguishable by stamp; SIGHUP forces a reload for that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")
Stamp: TypeAlias = tuple[int, int, int] | None

SETTLE = 1.0  # seconds a file must stay unchanged before it is loaded
MAX_BYTES = 4 * 1024 * 1024  # read at most this (+1) of the file; the loader judges size


def file_stamp(path: Path) -> Stamp:
    """``(mtime_ns, size, inode)`` of ``path``, or None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one read of the file saw: its stamp and content, or why it could not be read."""

    stamp: Stamp
    digest: bytes
    data: bytes
    error: OSError | None = None
    deps: tuple[Stamp, ...] = ()  # the stamps of the files the value depends on

    @classmethod
    def read(cls, path: Path, max_bytes: int, deps: tuple[Path, ...] = ()) -> Sample:
        dep_stamps = tuple(file_stamp(p) for p in deps)
        try:
            # The stamp of the open file, not of the path: it describes exactly the
            # bytes read even when the path is swapped to another file meanwhile.
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                data = f.read(max_bytes + 1)
        except OSError as exc:
            return cls(None, b"", b"", exc, dep_stamps)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        return cls(stamp, hashlib.sha256(data).digest(), data, None, dep_stamps)

    def same_as(self, other: Sample) -> bool:
        if self.deps != other.deps:
            return False
        if self.error is not None or other.error is not None:
            return (
                self.error is not None
                and other.error is not None
                and type(self.error) is type(other.error)
                and self.error.errno == other.error.errno
            )
        return self.stamp == other.stamp and self.digest == other.digest


class Reloader(Generic[T]):
    """Reloads ``path`` with ``load(path, content)`` and hands each good value to ``apply``.

    Build it before the first load of the file, so a change made between that
    load and the start of ``run`` is seen (at worst it is loaded twice).
    """

    def __init__(
        self,
        path: Path,
        load: Callable[[Path, bytes], T],
        apply: Callable[[T], None],
        on_error: Callable[[Exception], None],
        interval: float = 1.0,
        settle: float = SETTLE,
        max_bytes: int = MAX_BYTES,
        depends: Callable[[T], Iterable[Path]] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if settle < 0:
            raise ValueError("settle must not be negative")
        self.path = path
        self.interval = interval
        self.settle = settle
        self.max_bytes = max_bytes
        self._load = load
        self._apply = apply
        self._on_error = on_error
        self._depends = depends
        self._stamp = file_stamp(path)
        self._deps: tuple[Path, ...] = ()
        self._dep_stamps: tuple[Stamp, ...] = ()
        self._wake = asyncio.Event()

    def watch(self, paths: Iterable[Path]) -> None:
        """Reload also when one of ``paths`` changes (what the running value was built from)."""
        self._deps = tuple(paths)
        self._dep_stamps = tuple(file_stamp(p) for p in self._deps)

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
            await self.check(force=forced)

    async def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``); True when a new value was applied.

        Waits until the file has settled; that takes at least ``settle`` seconds.
        """
        if not force and not self._changed():
            return False
        sample = await self.settled()
        # Remember the stamps even when loading fails: a broken file is reported
        # once, not every interval, and the next edit is tried again.
        self._stamp, self._dep_stamps = sample.stamp, sample.deps
        if sample.error is not None:
            self._on_error(sample.error)
            return False
        try:
            value = self._load(self.path, sample.data)
        except Exception as exc:  # any failure of the loader keeps the old value
            self._on_error(exc)
            return False
        try:
            self._apply(value)
        except Exception as exc:  # reported, and the watch goes on
            self._on_error(exc)
            return False
        if self._depends is not None:
            self._watch_after(sample, tuple(self._depends(value)))
        return True

    def _changed(self) -> bool:
        if file_stamp(self.path) != self._stamp:
            return True
        return tuple(file_stamp(p) for p in self._deps) != self._dep_stamps

    def _watch_after(self, sample: Sample, paths: tuple[Path, ...]) -> None:
        # Files watched already keep the stamps seen before the load, so a change
        # made while loading is still noticed; new ones are stamped now.
        seen = dict(zip(self._deps, sample.deps, strict=True))
        self._deps = paths
        self._dep_stamps = tuple(seen[p] if p in seen else file_stamp(p) for p in paths)

    async def settled(self) -> Sample:
        """A sample equal to the one taken ``settle`` seconds before it."""
        last = Sample.read(self.path, self.max_bytes, self._deps)
        while True:
            await asyncio.sleep(self.settle)
            now = Sample.read(self.path, self.max_bytes, self._deps)
            if now.same_as(last):
                return now
            last = now
