"""MemoryRateLimiter: the in-process RateLimiter, an exact sliding-window log of hit times per key.

Each key keeps at most `limit` timestamps (refused hits are not logged), and at most `max_keys` keys
are tracked; past that, the least recently hit key is forgotten, which can only let more through.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from scalebox.core.clock import Clock
from scalebox.core.ratelimit.port import Decision, check_limit


class MemoryRateLimiter:
    """Counts hits per key in this process over a sliding window read from `clock.monotonic()`.

    A hit at time t stops counting once the clock reaches t + window_seconds.
    """

    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        assert max_keys > 0, max_keys
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()  # least recently hit key first

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        check_limit(limit, window_seconds)
        now = self._clock.monotonic()
        hits = self._hits_of(key)
        cutoff = now - window_seconds
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) < limit:
            hits.append(now)
            return Decision(allowed=True, remaining=limit - len(hits), retry_after_seconds=0.0)
        return Decision(allowed=False, remaining=0, retry_after_seconds=hits[0] + window_seconds - now)

    async def close(self) -> None:
        self._hits.clear()

    def _hits_of(self, key: str) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        return hits
