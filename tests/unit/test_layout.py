"""The test layout's two rules, checked on the sources (tests/README.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
UNIT = sorted((TESTS / "unit").glob("test_*.py"))
ALL = sorted(TESTS.rglob("test_*.py"))

# Anything that starts a child process belongs in tests/e2e.
PROCESS_STARTERS = {
    "subprocess",
    "multiprocessing",
    "edgeward",
    "run_process",
    "run_proxy",
    "run_backend",
    "serving",
    "start",
    "oidc_provider",
}


def imported(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``import`` and ``from ... import`` in ``path``."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", UNIT, ids=lambda p: p.name)
def test_unit_tests_start_no_process(path: Path) -> None:
    starters = [
        f"{module}.{name}"
        for module, name in imported(path)
        if module.split(".")[0] in PROCESS_STARTERS
        or (module.startswith("tests.") and name in PROCESS_STARTERS)
    ]
    assert starters == [], f"{path.name} starts processes: move it to tests/e2e"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_test_imports_a_private_name(path: Path) -> None:
    private = [
        f"{module}.{name}"
        for module, name in imported(path)
        if module.split(".")[0] in {"proxy", "demo_backend"}
        and any(
            part.startswith("_") and not part.startswith("__")
            for part in [*module.split("."), name]
        )
    ]
    assert private == [], f"{path.name} imports private names: test through the public API"
