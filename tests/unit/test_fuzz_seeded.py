"""The fuzz targets (fuzz/) in a short, deterministic pass, without atheris.

Each target gets its committed seeds and a fixed number of seeded mutations of
them; the pass must raise nothing and reach both the accepting and the refusing
side of its parser. Each reproducer in fuzz/crashes/ must still fail with its
known-bug flag on (else the bug is fixed: move the file into the corpus and drop
the flag) and pass with it off (so this pass stays green until then).
"""

from __future__ import annotations

import importlib
import random
from pathlib import Path
from types import ModuleType

import pytest

from fuzz import TARGETS, _support

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
SEED = 20261201
# Mutations per target, sized to keep the whole pass within a few seconds.
MUTATIONS = {
    "paths": 3000,
    "headers": 1000,
    "upstream": 1500,
    "jws": 400,
    "verify": 400,
    "config": 150,
}
# Outcomes the pass must reach: accepting and refusing paths of each parser.
REACHED = {
    "paths": {
        "path accepted",
        "path refused",
        "host accepted",
        "host refused",
        "absolute-form",
        "target refused",
    },
    "headers": {"trusted", "untrusted", "malformed_token", "multiple_authorization_headers"},
    "upstream": {"reusable", "not reusable", "upstream_protocol_error", "upstream_reset"},
    "jws": {"accepted", "malformed_token", "bad_signature", "unsupported_crit", "invalid_claim"},
    "verify": {"app ran", "malformed_signature", "bad_signature", "bad_assertion"},
    "config": {"valid", "invalid"},
}
CRASHES = sorted(p for p in (FUZZ / "crashes").glob("*/*") if p.is_file())


def _target(name: str) -> ModuleType:
    return importlib.import_module(f"fuzz.{name}")


def _seeds(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FUZZ / "corpus" / name).iterdir())]


@pytest.mark.parametrize("name", TARGETS)
def test_seeds_and_mutations_hold_every_property(name: str) -> None:
    target = _target(name)
    seeds = _seeds(name)
    assert len(seeds) >= 5, "a handful of hand-written seeds per target"
    target.OUTCOMES.clear()
    for data in seeds:
        target.TestOneInput(data)
    rng = random.Random(f"{SEED}:{name}")
    for i in range(MUTATIONS[name]):
        data = _support.mutate(rng.choice(seeds), rng, target.DICTIONARY, seeds, target.MAX_LEN)
        try:
            target.TestOneInput(data)
        except Exception as exc:
            raise AssertionError(f"{name} mutation {i} fails; input: {data!r}") from exc
    missing = REACHED[name] - set(target.OUTCOMES)
    assert not missing, f"{name} never reached {sorted(missing)}: {dict(target.OUTCOMES)}"


def test_every_reproducer_fails_only_with_its_flag() -> None:
    # One test over every open finding (none may be open): a parametrized test would
    # be a skip, not a pass, once the last finding is fixed.
    for path in CRASHES:
        _reproducer_fails_only_with_its_flag(path)


def _reproducer_fails_only_with_its_flag(path: Path) -> None:
    target = _target(path.parent.name)
    flag = path.name.partition("--")[0]
    assert flag in target.KNOWN_BUGS, f"{path.name}: name it after a flag of KNOWN_BUGS"
    data = path.read_bytes()
    target.TestOneInput(data)  # tolerated while the flag is off
    with _support.checking(flag):
        try:
            target.TestOneInput(data)
        except Exception:
            return
    pytest.fail(
        f"{path} no longer fails: the bug is fixed. Move the file into fuzz/corpus/"
        f"{path.parent.name}/ and remove the {flag!r} flag from fuzz/{path.parent.name}.py"
    )


def test_every_target_has_seeds_and_a_dictionary() -> None:
    for name in TARGETS:
        target = _target(name)
        assert target.DICTIONARY and target.MAX_LEN >= 256
        assert all(len(seed) <= target.MAX_LEN for seed in _seeds(name)), name
