"""The Cache port: bytes by key with a time to live, in process (LRU) or shared (Redis)."""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    """A best-effort cache: a miss is always allowed, a hit is never older than its TTL.

    Implementations: MemoryCache (LRU with per-entry TTL), RedisCache.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store; a ttl_seconds <= 0 stores nothing (and drops any old value)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...
