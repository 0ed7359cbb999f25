"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from proxy.upstream import UpstreamPool


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    """A fresh upstream connection pool, closed after the test."""
    pool = UpstreamPool()
    yield pool
    await pool.aclose()
