"""Fixtures shared by the unit and end-to-end tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from proxy.upstream import UpstreamPool


@pytest.fixture
async def pool() -> AsyncIterator[UpstreamPool]:
    """A fresh upstream connection pool, closed after the test."""
    pool = UpstreamPool()
    yield pool
    await pool.aclose()


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """httpx's default client TLS context, built once: loading the CA bundle costs ~70 ms."""
    return httpx.create_ssl_context()


@pytest.fixture
async def http(tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh async HTTP client (2 s timeout) for code that takes one, closed after the test."""
    async with httpx.AsyncClient(timeout=2, verify=tls_context) as client:
        yield client
