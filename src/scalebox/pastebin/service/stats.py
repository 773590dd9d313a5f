"""Live figures for the console and /metrics: reads per minute and cache hit ratio, per process."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from scalebox.core.clock import Clock

_WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Figures:
    pastes: int
    reads_per_minute: int
    cache_hit_ratio: float | None


class ReadStats:
    """Counts reads in one-second buckets over the last minute, and cache hits and misses."""

    def __init__(self, clock: Clock, registry: CollectorRegistry) -> None:
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, reads], oldest first
        self.hits = 0
        self.misses = 0
        self._reads_total = Counter("scalebox_pastebin_reads", "Paste reads served.", registry=registry)
        self._cache = Counter(
            "scalebox_pastebin_cache_lookups",
            "Paste cache lookups by result.",
            ("result",),
            registry=registry,
        )
        self._created = Counter(
            "scalebox_pastebin_created", "Pastes created.", ("source",), registry=registry
        )

    def record_read(self) -> None:
        second = int(self._clock.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
            self._trim(second)
        self._reads_total.inc()

    def record_cache(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        self._cache.labels("hit" if hit else "miss").inc()

    def record_created(self, source: str) -> None:
        self._created.labels(source).inc()

    def reads_per_minute(self) -> int:
        now = int(self._clock.monotonic())
        self._trim(now)
        return sum(count for _second, count in self._buckets)

    def hit_ratio(self) -> float | None:
        lookups = self.hits + self.misses
        return None if lookups == 0 else self.hits / lookups

    def _trim(self, now: int) -> None:
        while self._buckets and self._buckets[0][0] <= now - _WINDOW_SECONDS:
            self._buckets.popleft()
