"""What every fuzz target shares: optional instrumentation, input slicing, drivers.

This module imports nothing from ``proxy``: the runner must be able to import it
before a target, so that the target's own ``proxy`` imports are the first ones
and atheris can instrument them.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Set by the runner (``python -m fuzz``) before it imports a target; the seeded
# pytest pass leaves it False and runs the code uninstrumented.
FUZZING = False


# Known-bug flags: a property that current code is known to break (a reproducer
# in fuzz/crashes/, or a fix under way elsewhere) is only asserted when its flag is
# on, so the seeded pass stays green; ``FUZZ_CHECK=flag,...`` or ``FUZZ_STRICT=1``.
ENABLED: set[str] = {name for name in os.environ.get("FUZZ_CHECK", "").split(",") if name}
STRICT = os.environ.get("FUZZ_STRICT") == "1"


def check_enabled(name: str) -> bool:
    """Whether the property guarded by the known-bug flag ``name`` is asserted."""
    return STRICT or name in ENABLED


@contextlib.contextmanager
def checking(*names: str) -> Iterator[None]:
    """Assert the properties behind ``names`` inside the block (replaying reproducers)."""
    before = set(ENABLED)
    ENABLED.update(names)
    try:
        yield
    finally:
        ENABLED.clear()
        ENABLED.update(before)


def instrumented(*packages: str) -> contextlib.AbstractContextManager[object]:
    """Instrument ``packages`` imported inside the block, when running under atheris."""
    if not FUZZING:
        return contextlib.nullcontext()
    import atheris

    cm: contextlib.AbstractContextManager[object] = atheris.instrument_imports(
        include=list(packages)
    )
    return cm


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop (cheap per input).

    The targets' async entry points (bearer authentication, the verifier) only
    suspend for network fetches, which their fixed key sets never trigger; if one
    does suspend, that is a harness error worth failing loudly on.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise AssertionError("the coroutine suspended: the fixed key set should make it synchronous")


class Reader:
    """Consumes a fuzz input front to back; running out yields zeros / empty bytes."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def pick(self, options: Sequence[T]) -> T:
        return options[self.byte() % len(options)]

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


def mutate(
    data: bytes, rng: random.Random, tokens: Sequence[bytes], others: Sequence[bytes], max_len: int
) -> bytes:
    """One to four random edits of ``data`` (the seeded pass's stand-in for libFuzzer).

    Byte flips, inserts, deletions, duplications, dictionary tokens and splices
    with another seed: enough to reach the error paths next to each seed.
    """
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            i = min(at, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3 and buf:
            del buf[at : at + rng.randint(1, 8)]
        elif op == 4 and buf:
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 16)]
        elif op == 5 and tokens:
            token = rng.choice(tokens)
            if rng.random() < 0.5:
                buf[at:at] = token
            else:
                buf[at : at + len(token)] = token
        elif others:
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            buf[at:] = other[cut:]
    return bytes(buf[:max_len])
