"""MemoryEventBus: the EventBus in one process's memory, for tests and throwaway runs.

Same semantics as SqliteEventBus (offsets from 0 per topic, group offsets, trim, wait), nothing durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from scalebox.core.clock import Clock
from scalebox.core.events.port import BATCH_RECORDS_MAX, Event


@dataclass
class _Log:
    """One topic: the events still kept, a contiguous run of offsets, and the next offset to assign."""

    events: list[Event] = field(default_factory=list)
    next_offset: int = 0

    @property
    def first_offset(self) -> int:
        return self.next_offset - len(self.events)


class MemoryEventBus:
    """An EventBus whose log and group offsets live in dicts; lost when the process ends."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._committed: dict[tuple[str, str], int] = {}
        # Replaced on every publish after being set, so a waiter that grabbed it before checking the
        # log cannot miss a publish that lands between its check and its wait.
        self._published = asyncio.Event()

    async def publish(self, topic: str, key: bytes, value: bytes) -> int:
        log = self._logs.setdefault(topic, _Log())
        offset = log.next_offset
        log.events.append(Event(topic, key, value, offset, self._clock.now()))
        log.next_offset += 1
        self._notify()
        return offset

    async def publish_batch(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        assert len(records) <= BATCH_RECORDS_MAX, len(records)
        log = self._logs.setdefault(topic, _Log())
        now = self._clock.now()
        offsets = list(range(log.next_offset, log.next_offset + len(records)))
        log.events.extend(
            Event(topic, key, value, offset, now)
            for (key, value), offset in zip(records, offsets, strict=True)
        )
        log.next_offset += len(records)
        if records:
            self._notify()
        return offsets

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        assert max_events > 0, max_events
        log = self._logs.get(topic)
        if log is None:
            return []
        after = self._committed.get((topic, group), -1)
        start = max(after + 1 - log.first_offset, 0)
        return log.events[start : start + max_events]

    async def commit(self, topic: str, group: str, offset: int) -> None:
        self._committed[(topic, group)] = offset

    async def committed(self, topic: str, group: str) -> int | None:
        return self._committed.get((topic, group))

    async def latest_offset(self, topic: str) -> int:
        return self._latest_offset(topic)

    async def wait(self, topic: str, after_offset: int, timeout_seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while True:
            published = self._published
            if self._latest_offset(topic) > after_offset:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(published.wait(), remaining)

    async def trim(self, topic: str, keep_after: datetime) -> int:
        """Drop the oldest events stamped before `keep_after` that every known group has committed.

        A group is known once it has committed. Only a prefix of the log goes, so offsets stay
        contiguous; with no known group this is plain time-based retention. Returns how many went.
        """
        log = self._logs.get(topic)
        if log is None:
            return 0
        safe_offset = min(
            (offset for (name, _), offset in self._committed.items() if name == topic),
            default=log.next_offset,
        )
        dropped = 0
        for event in log.events:
            if event.offset > safe_offset or event.timestamp >= keep_after:
                break
            dropped += 1
        del log.events[:dropped]
        return dropped

    async def close(self) -> None:
        self._logs.clear()
        self._committed.clear()

    def _latest_offset(self, topic: str) -> int:
        log = self._logs.get(topic)
        return -1 if log is None else log.next_offset - 1

    def _notify(self) -> None:
        self._published.set()
        self._published = asyncio.Event()
