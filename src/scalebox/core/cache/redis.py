"""RedisCache: the shared Cache, one Redis string per key with a millisecond expiry (SET ... PX).

Every app process pointed at the same Redis sees the same entries; Redis's own maxmemory policy
(allkeys-lru is the usual choice) bounds its size.
"""

from __future__ import annotations

import math

import redis.asyncio


class RedisCache:
    """A Cache in Redis. Keys are stored under `namespace` + key; the client must return bytes.

    `close()` closes the client, so give each RedisCache a client of its own (open_cache does).
    """

    def __init__(self, client: redis.asyncio.Redis, namespace: str = "") -> None:
        self._client = client
        self._namespace = namespace

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._namespace + key)
        if value is None:
            return None
        assert isinstance(value, bytes), "RedisCache needs a client made with decode_responses=False"
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            await self.delete(key)
            return
        # PX takes whole milliseconds; round up so a tiny positive TTL still stores, as in memory.
        await self._client.set(self._namespace + key, value, px=max(1, math.ceil(ttl_seconds * 1000)))

    async def delete(self, key: str) -> None:
        await self._client.delete(self._namespace + key)

    @classmethod
    def from_url(cls, url: str, namespace: str = "") -> RedisCache:
        """Connect lazily to the Redis at `url` (redis-py URL syntax), with a client of its own."""
        return cls(redis.asyncio.Redis.from_url(url), namespace)

    async def close(self) -> None:
        await self._client.aclose()
