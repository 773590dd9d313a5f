"""The cache port and its adapters; `open_cache` picks one from a URL setting."""

from __future__ import annotations

from scalebox.core.adapter_url import parse_adapter_url
from scalebox.core.cache.memory import MemoryCache
from scalebox.core.cache.port import Cache
from scalebox.core.cache.redis import RedisCache
from scalebox.core.clock import Clock

__all__ = ["Cache", "MemoryCache", "RedisCache", "open_cache"]

_MAX_ENTRIES_DEFAULT = 10_000


def open_cache(url: str, *, clock: Clock) -> Cache:
    """`memory://?max_entries=10000` or `redis://host:port/db?namespace=prefix:` (also rediss://).

    Other query parameters of a Redis URL go to redis-py as connection options.
    """
    parsed = parse_adapter_url(
        url, kind="cache", size_option="max_entries", size_default=_MAX_ENTRIES_DEFAULT
    )
    if parsed.scheme == "memory":
        return MemoryCache(parsed.size, clock)
    return RedisCache.from_url(parsed.redis_url, parsed.namespace)
