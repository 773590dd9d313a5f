"""The Cache contract, run over every adapter (Redis when SCALEBOX_TEST_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio

import scalebox.core.cache
from scalebox.core.cache import Cache, MemoryCache, RedisCache, open_cache
from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError

TIMEOUT_SECONDS = 5.0  # bounds every wait on a condition


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Cache]:
    if request.param == "memory":
        cache: Cache = MemoryCache(max_entries=100, clock=clock)
    else:
        client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
        cache = RedisCache(client, namespace=request.getfixturevalue("redis_namespace"))
    yield cache
    await cache.close()


async def eventually(condition: Callable[[], Awaitable[bool]]) -> bool:
    """True once `condition` holds, False if it still does not after TIMEOUT_SECONDS."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_get_returns_none_when_missing(cache: Cache) -> None:
    assert await cache.get("missing") is None


async def test_get_returns_value_after_set(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=60)
    assert await cache.get("k") == b"v"


async def test_set_overwrites_value(cache: Cache) -> None:
    await cache.set("k", b"old", ttl_seconds=60)
    await cache.set("k", b"new", ttl_seconds=60)
    assert await cache.get("k") == b"new"


async def test_delete_removes_value(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=60)
    await cache.delete("k")
    await cache.delete("never-set")
    assert await cache.get("k") is None


async def test_get_returns_none_after_ttl(cache: Cache, clock: FakeClock) -> None:
    await cache.set("k", b"v", ttl_seconds=0.2)
    await cache.set("other", b"v", ttl_seconds=60)
    clock.advance(seconds=0.2)  # drives MemoryCache; Redis expires on its own clock within 0.2 s

    async def expired() -> bool:
        return await cache.get("k") is None

    assert await eventually(expired)
    assert await cache.get("other") == b"v"


@pytest.mark.parametrize("ttl_seconds", [0, -1.0])
async def test_set_stores_nothing_when_ttl_not_positive(cache: Cache, ttl_seconds: float) -> None:
    await cache.set("k", b"old", ttl_seconds=60)
    await cache.set("k", b"new", ttl_seconds=ttl_seconds)
    await cache.set("fresh", b"v", ttl_seconds=ttl_seconds)
    assert await cache.get("k") is None
    assert await cache.get("fresh") is None


async def test_set_replaces_value_when_ttl_tiny(cache: Cache) -> None:
    await cache.set("k", b"v", ttl_seconds=60)
    await cache.set("k", b"short", ttl_seconds=0.0001)
    assert await cache.get("k") != b"v"


async def test_get_returns_large_value_intact(cache: Cache) -> None:
    value = bytes(range(256)) * 4096  # 1 MiB, every byte value
    await cache.set("big", value, ttl_seconds=60)
    assert await cache.get("big") == value


async def test_empty_value_is_a_hit(cache: Cache) -> None:
    await cache.set("k", b"", ttl_seconds=60)
    assert await cache.get("k") == b""


async def test_memory_keeps_entry_until_ttl_passes(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=10, clock=clock)
    await cache.set("k", b"v", ttl_seconds=10)
    clock.advance(seconds=9.5)
    assert await cache.get("k") == b"v"
    await cache.set("k", b"v2", ttl_seconds=10)  # a rewrite restarts the TTL
    clock.advance(seconds=9.5)
    assert await cache.get("k") == b"v2"


async def test_memory_evicts_least_recently_used_when_full(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.set("a", b"1", ttl_seconds=60)
    await cache.set("b", b"2", ttl_seconds=60)
    assert await cache.get("a") == b"1"  # b is now the least recently used
    await cache.set("c", b"3", ttl_seconds=60)
    assert (await cache.get("a"), await cache.get("b"), await cache.get("c")) == (b"1", None, b"3")
    assert len(cache) == 2


async def test_memory_drops_expired_entry_when_read(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.set("a", b"1", ttl_seconds=1)
    clock.advance(seconds=1)
    assert await cache.get("a") is None
    assert len(cache) == 0


@pytest.mark.redis
async def test_redis_namespaces_do_not_see_each_other(redis_url: str, redis_namespace: str) -> None:
    one = RedisCache(redis.asyncio.Redis.from_url(redis_url), namespace=redis_namespace + "one:")
    two = RedisCache(redis.asyncio.Redis.from_url(redis_url), namespace=redis_namespace + "two:")
    try:
        await one.set("k", b"from one", ttl_seconds=60)
        assert await two.get("k") is None
        await two.delete("k")
        assert await one.get("k") == b"from one"
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_open_cache_reads_redis_url_and_namespace(redis_url: str, redis_namespace: str) -> None:
    cache = open_cache(f"{redis_url}?namespace={redis_namespace}", clock=FakeClock())
    probe = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert isinstance(cache, RedisCache)
        await cache.set("k", b"v", ttl_seconds=60)
        assert await probe.get(f"{redis_namespace}k") == b"v"
    finally:
        await cache.close()
        await probe.aclose()


async def test_open_cache_reads_memory_max_entries(clock: FakeClock) -> None:
    cache = open_cache("memory://?max_entries=1", clock=clock)
    assert isinstance(cache, MemoryCache)
    await cache.set("a", b"1", ttl_seconds=60)
    await cache.set("b", b"2", ttl_seconds=60)
    assert await cache.get("a") is None
    assert isinstance(open_cache("memory://", clock=clock), MemoryCache)


@pytest.mark.parametrize(
    "url", ["memcached://localhost", "memory://?max_entries=0", "memory://?max_entries=x", "memory://?size=1"]
)
def test_open_cache_rejects_bad_url(url: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidError):
        open_cache(url, clock=clock)


def test_all_names_are_exported() -> None:
    for name in scalebox.core.cache.__all__:
        assert hasattr(scalebox.core.cache, name), name
