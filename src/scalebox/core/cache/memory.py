"""MemoryCache: the in-process Cache, least-recently-used eviction with a TTL on every entry.

An OrderedDict rather than cachetools.TLRUCache: TLRUCache keeps a heap entry per write until that
write's TTL passes, so rewriting one hot key grows memory without bound; here an entry is one slot.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from scalebox.core.clock import Clock


@dataclass(frozen=True, slots=True)
class _Entry:
    value: bytes
    expires_at: float  # on the clock's monotonic scale


class MemoryCache:
    """Holds at most `max_entries` keys; past that, the least recently used key goes first.

    Expiry is read from `clock.monotonic()`, so a FakeClock drives it in tests. An expired entry is
    dropped when next read, or when it reaches the least-recently-used end.
    """

    def __init__(self, max_entries: int, clock: Clock) -> None:
        assert max_entries > 0, max_entries
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock.monotonic() >= entry.expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = _Entry(value, self._clock.monotonic() + ttl_seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def close(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)
