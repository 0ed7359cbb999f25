"""``python -m fuzz TARGET [--seconds N] [--replay FILE...] [-- LIBFUZZER_ARGS]``.

Runs one target under atheris for a bounded time, starting from the committed
seeds in ``fuzz/corpus/TARGET/`` and writing what it finds to ``.fuzz/TARGET/``
(new corpus entries, crash and timeout reproducers; not committed). ``--replay``
runs files through the target without atheris and prints each outcome.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import traceback
from pathlib import Path
from types import ModuleType

from fuzz import TARGETS, _support

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".fuzz"


def _load(name: str, instrument: bool) -> ModuleType:
    # Before the target is imported, so its proxy imports are instrumented.
    _support.FUZZING = instrument
    return importlib.import_module(f"fuzz.{name}")


def _dictionary(tokens: tuple[bytes, ...]) -> str:
    """libFuzzer's -dict format: one quoted token a line, bytes as \\xNN escapes."""
    lines = []
    for token in tokens:
        escaped = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token
        )
        lines.append(f'"{escaped}"')
    return "\n".join(lines) + "\n"


def replay(name: str, files: list[str]) -> int:
    target = _load(name, instrument=False)
    failed = 0
    for file in files:
        try:
            target.TestOneInput(Path(file).read_bytes())
        except Exception:
            failed += 1
            print(f"{file}: FAILED", file=sys.stderr)
            traceback.print_exc()
        else:
            print(f"{file}: ok", file=sys.stderr)
    return 1 if failed else 0


def fuzz(name: str, seconds: int, extra: list[str]) -> None:
    import atheris

    target = _load(name, instrument=True)
    work = WORK / name
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    dict_file = work / f"{name}.dict"
    dict_file.write_text(_dictionary(target.DICTIONARY))
    argv = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        f"-max_len={target.MAX_LEN}",
        "-timeout=10",  # one input running this long is a hang: reported as a crash
        "-rss_limit_mb=2048",
        f"-dict={dict_file}",
        f"-artifact_prefix={work}/",
        "-print_final_stats=1",
        *extra,
        str(work / "corpus"),  # first: where new inputs go
        str(HERE / "corpus" / name),
    ]

    def guarded(data: bytes) -> None:
        # Saved here too, under the name libFuzzer gives it: its own crash file can
        # be lost when its timeout alarm fires while it handles the Python exception.
        try:
            target.TestOneInput(data)
        except BaseException:
            digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            (work / f"crash-{digest}").write_bytes(data)
            raise

    atheris.Setup(argv, guarded)
    atheris.Fuzz()  # exits the process when done


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time (default 60)")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run files, no atheris")
    args, extra = parser.parse_known_args()
    if args.replay:
        return replay(args.target, args.replay)
    fuzz(args.target, args.seconds, [a for a in extra if a != "--"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
