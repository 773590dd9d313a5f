"""The rate limit port and its adapters; `open_rate_limiter` picks one from a URL setting."""

from __future__ import annotations

from scalebox.core.adapter_url import parse_adapter_url
from scalebox.core.clock import Clock
from scalebox.core.ratelimit.memory import MemoryRateLimiter
from scalebox.core.ratelimit.port import Decision, RateLimiter, check_limit
from scalebox.core.ratelimit.redis import RedisRateLimiter

__all__ = [
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "check_limit",
    "open_rate_limiter",
]

_MAX_KEYS_DEFAULT = 100_000


def open_rate_limiter(url: str, *, clock: Clock) -> RateLimiter:
    """`memory://?max_keys=100000` or `redis://host:port/db?namespace=prefix:` (also rediss://).

    Other query parameters of a Redis URL go to redis-py as connection options.
    """
    parsed = parse_adapter_url(url, kind="rate limit", size_option="max_keys", size_default=_MAX_KEYS_DEFAULT)
    if parsed.scheme == "memory":
        return MemoryRateLimiter(clock, parsed.size)
    return RedisRateLimiter.from_url(parsed.redis_url, clock, parsed.namespace)
