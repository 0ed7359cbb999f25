"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import run_backend


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    """The demo backend as a process (unverified), one per test module."""
    with run_backend() as url:
        yield url
