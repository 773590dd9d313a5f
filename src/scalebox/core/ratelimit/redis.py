"""RedisRateLimiter: the shared RateLimiter, a sliding-window log per key in a Redis sorted set.

One Lua script trims, counts and adds atomically, so any number of app processes share one limit
exactly. Time comes from the injected clock, never from Redis, so a FakeClock drives it in tests.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random

import redis.asyncio
from redis.exceptions import NoScriptError

from scalebox.core.clock import Clock
from scalebox.core.ratelimit.port import Decision, check_limit

# KEYS[1]: sorted set of hits, scored by hit time in seconds since the Unix epoch.
# ARGV: cutoff (hits at or before it have left the window), now, limit, a unique member, key TTL in ms.
# Times travel as strings and are never computed on in Lua: Lua would format numbers with 14 digits
# when passing them to redis.call, and the window's edges must match MemoryRateLimiter's exactly.
# Replies {1, count after adding} when allowed, {0, count, oldest score} when refused.
_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
    return {1, count + 1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, oldest[2]}
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    """A RateLimiter in Redis under `namespace` + key; `close()` closes the client.

    It reads `clock.now()` (wall time), not the monotonic clock, because every process sharing the
    Redis must agree on the time scale; a hit at t stops counting once the clock reaches t + window.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        clock: Clock,
        namespace: str = "",
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._namespace = namespace
        # Members must be unique even for hits at the same instant from many processes; the token
        # tells this limiter's members apart from other processes', the counter its own.
        self._token = f"{(rng or random.Random()).getrandbits(64):016x}"
        self._sequence = itertools.count()

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        check_limit(limit, window_seconds)
        now = self._clock.now().timestamp()
        member = f"{now!r}:{self._token}:{next(self._sequence)}"
        ttl_ms = math.ceil(window_seconds * 1000)
        arguments = (repr(now - window_seconds), repr(now), limit, member, ttl_ms)
        reply = await self._evaluate(self._namespace + key, arguments)
        allowed, count = bool(reply[0]), int(reply[1])
        if allowed:
            return Decision(allowed=True, remaining=limit - count, retry_after_seconds=0.0)
        oldest = float(reply[2])
        return Decision(allowed=False, remaining=0, retry_after_seconds=oldest + window_seconds - now)

    @classmethod
    def from_url(cls, url: str, clock: Clock, namespace: str = "") -> RedisRateLimiter:
        """Connect lazily to the Redis at `url` (redis-py URL syntax), with a client of its own."""
        return cls(redis.asyncio.Redis.from_url(url), clock, namespace)

    async def close(self) -> None:
        await self._client.aclose()

    async def _evaluate(self, key: str, arguments: tuple[str | int, ...]) -> list[int | bytes]:
        """EVALSHA, loading the script first if this Redis has not seen it (or flushed it)."""
        try:
            reply = await self._client.evalsha(_SCRIPT_SHA, 1, key, *arguments)
        except NoScriptError:
            loaded_sha = await self._client.script_load(_SCRIPT)
            assert loaded_sha == _SCRIPT_SHA, (loaded_sha, _SCRIPT_SHA)
            reply = await self._client.evalsha(_SCRIPT_SHA, 1, key, *arguments)
        assert isinstance(reply, list), reply
        return reply
