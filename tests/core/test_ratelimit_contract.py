"""The RateLimiter contract, run over every adapter; a FakeClock drives both, Redis included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio

import scalebox.core.ratelimit
from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError
from scalebox.core.ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    open_rate_limiter,
)

WINDOW_SECONDS = 10.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        limiter: RateLimiter = MemoryRateLimiter(clock)
    else:
        url, namespace = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")
        limiter = RedisRateLimiter.from_url(url, clock, namespace)
    yield limiter
    await limiter.close()


def allowed(remaining: int) -> Decision:
    return Decision(allowed=True, remaining=remaining, retry_after_seconds=0.0)


def refused(retry_after_seconds: float) -> Decision:
    # approx compares equal to any float close enough, so whole Decisions (and lists of them) compare.
    return Decision(
        allowed=False, remaining=0, retry_after_seconds=cast(float, pytest.approx(retry_after_seconds))
    )


async def hit(limiter: RateLimiter, key: str = "k", limit: int = 3) -> Decision:
    return await limiter.hit(key, limit, WINDOW_SECONDS)


async def test_hit_allows_exactly_limit_within_window(limiter: RateLimiter) -> None:
    assert [await hit(limiter) for _ in range(3)] == [allowed(2), allowed(1), allowed(0)]
    assert await hit(limiter) == refused(WINDOW_SECONDS)


async def test_refused_hit_retry_after_is_within_window(limiter: RateLimiter, clock: FakeClock) -> None:
    await hit(limiter, limit=1)
    clock.advance(seconds=4)
    decision = await hit(limiter, limit=1)
    assert decision == refused(6.0)
    assert 0 < decision.retry_after_seconds <= WINDOW_SECONDS


async def test_refused_hits_are_not_counted(limiter: RateLimiter, clock: FakeClock) -> None:
    await hit(limiter, limit=2)
    await hit(limiter, limit=2)
    clock.advance(seconds=5)
    assert [await hit(limiter, limit=2) for _ in range(3)] == [refused(5.0)] * 3
    clock.advance(seconds=5)  # the first two left the window; the refused ones never entered it
    assert [await hit(limiter, limit=2) for _ in range(2)] == [allowed(1), allowed(0)]


async def test_window_slides_one_hit_at_a_time(limiter: RateLimiter, clock: FakeClock) -> None:
    for _ in range(3):  # hits at t=0, 1, 2
        assert (await hit(limiter)).allowed
        clock.advance(seconds=1)
    assert await hit(limiter) == refused(7.0)  # at t=3 the t=0 hit has 7 s left
    clock.advance(seconds=7)  # t=10: the t=0 hit leaves, exactly at its window's end
    assert await hit(limiter) == allowed(0)
    assert await hit(limiter) == refused(1.0)
    clock.advance(seconds=1)  # t=11: the t=1 hit leaves
    assert await hit(limiter) == allowed(0)
    assert await hit(limiter) == refused(1.0)
    clock.advance(seconds=1)  # t=12: the t=2 hit leaves; next to go is the t=10 hit
    assert await hit(limiter) == allowed(0)
    assert await hit(limiter) == refused(8.0)


async def test_keys_are_independent(limiter: RateLimiter) -> None:
    await hit(limiter, key="alice", limit=1)
    assert not (await hit(limiter, key="alice", limit=1)).allowed
    assert await hit(limiter, key="bob", limit=1) == allowed(0)


async def test_concurrent_hits_allow_exactly_limit(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit("k", 10, WINDOW_SECONDS) for _ in range(50)))
    assert sum(decision.allowed for decision in decisions) == 10
    assert sorted(decision.remaining for decision in decisions if decision.allowed) == list(range(10))


@pytest.mark.parametrize(("limit", "window_seconds"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0)])
async def test_hit_rejects_impossible_limit(limiter: RateLimiter, limit: int, window_seconds: float) -> None:
    with pytest.raises(InvalidError):
        await limiter.hit("k", limit, window_seconds)


async def test_memory_forgets_least_recently_hit_key_beyond_max_keys(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock, max_keys=2)
    for key in ["a", "b", "a", "c"]:  # b is the least recently hit when c arrives
        await limiter.hit(key, 1, WINDOW_SECONDS)
    assert (await limiter.hit("b", 1, WINDOW_SECONDS)).allowed
    assert not (await limiter.hit("c", 1, WINDOW_SECONDS)).allowed


@pytest.mark.redis
async def test_redis_limiters_share_one_count(redis_url: str, redis_namespace: str, clock: FakeClock) -> None:
    # Two limiters with their own connections stand for two app processes behind a load balancer.
    one = RedisRateLimiter.from_url(redis_url, clock, redis_namespace)
    two = RedisRateLimiter.from_url(redis_url, clock, redis_namespace)
    try:
        assert (await one.hit("k", 2, WINDOW_SECONDS)).allowed
        assert await two.hit("k", 2, WINDOW_SECONDS) == allowed(0)
        assert not (await one.hit("k", 2, WINDOW_SECONDS)).allowed
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_reloads_script_after_flush(
    redis_url: str, redis_namespace: str, clock: FakeClock
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, clock, redis_namespace)
    try:
        assert (await limiter.hit("k", 2, WINDOW_SECONDS)).allowed
        await client.script_flush()  # as after a Redis restart or failover
        assert await limiter.hit("k", 2, WINDOW_SECONDS) == allowed(0)
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_open_rate_limiter_reads_redis_url(
    redis_url: str, redis_namespace: str, clock: FakeClock
) -> None:
    limiter = open_rate_limiter(f"{redis_url}?namespace={redis_namespace}", clock=clock)
    probe = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        await limiter.hit("k", 1, WINDOW_SECONDS)
        assert await probe.zcard(f"{redis_namespace}k") == 1
        assert 0 < await probe.pttl(f"{redis_namespace}k") <= WINDOW_SECONDS * 1000
    finally:
        await limiter.close()
        await probe.aclose()


async def test_open_rate_limiter_reads_memory_max_keys(clock: FakeClock) -> None:
    assert isinstance(open_rate_limiter("memory://", clock=clock), MemoryRateLimiter)
    limiter = open_rate_limiter("memory://?max_keys=1", clock=clock)
    await limiter.hit("a", 1, WINDOW_SECONDS)
    await limiter.hit("b", 1, WINDOW_SECONDS)  # forgets a
    assert (await limiter.hit("a", 1, WINDOW_SECONDS)).allowed


@pytest.mark.parametrize("url", ["memcached://x", "memory://?max_keys=0", "memory://?window=1", "memory://h"])
def test_open_rate_limiter_rejects_bad_url(url: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidError):
        open_rate_limiter(url, clock=clock)


def test_all_names_are_exported() -> None:
    for name in scalebox.core.ratelimit.__all__:
        assert hasattr(scalebox.core.ratelimit, name), name
