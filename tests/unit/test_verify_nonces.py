"""Replay memory: one contract, run against the memory and the Redis store."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxy.verify import MemoryNonceStore, NonceStore, RedisNonceStore, VerificationError
from tests.harness import free_port


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[NonceStore]:
    if request.param == "memory":
        yield MemoryNonceStore()
        return
    client = redis.asyncio.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        yield RedisNonceStore(client, prefix=f"test:{secrets.token_hex(4)}:")
    finally:
        await client.aclose()


async def test_first_use_accepted_second_refused(store: NonceStore) -> None:
    nonce = secrets.token_urlsafe(16)
    assert await store.add(nonce, 30) is True
    assert await store.add(nonce, 30) is False
    assert await store.add(secrets.token_urlsafe(16), 30) is True


async def test_redis_entry_expires_with_the_signature() -> None:
    client = redis.asyncio.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        prefix = f"test:{secrets.token_hex(4)}:"
        await RedisNonceStore(client, prefix=prefix).add("n1", 30)
        ttl = await client.ttl(prefix + "n1")
        assert 0 < ttl <= 31
    finally:
        await client.aclose()


async def test_redis_down_fails_closed() -> None:
    client = redis.asyncio.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        with pytest.raises(VerificationError) as caught:
            await RedisNonceStore(client).add("n1", 30)
        assert caught.value.code == "nonce_store_unavailable"
    finally:
        await client.aclose()


async def test_memory_entries_expire() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock)
    assert await store.add("n1", 30)
    clock.now += 29
    assert not await store.add("n1", 30)
    clock.now += 2
    assert await store.add("n1", 30)


async def test_memory_store_is_bounded() -> None:
    store = MemoryNonceStore(max_entries=3)
    for i in range(10):
        assert await store.add(f"n{i}", 30)
    assert len(store) == 3
    assert not await store.add("n9", 30)  # the newest are still remembered
