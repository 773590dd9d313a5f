"""SingleFlight: concurrent calls for one key share one in-flight load (a cache miss on a hot key
becomes one database read, not one per waiting request)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """`await flight.run(key, load)`: the first caller for `key` runs `load()`; callers arriving
    while it runs get its result (or its exception) instead of running their own."""

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)  # a waiter cancelled must not cancel the load
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a load nobody else awaited is not logged as lost
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    def __len__(self) -> int:
        return len(self._inflight)
