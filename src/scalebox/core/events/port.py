"""The EventBus port: durable topics of keyed events, consumed by named groups at least once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One record of a topic. `offset` is its position in the topic (per partition on Kafka)."""

    topic: str
    key: bytes
    value: bytes
    offset: int
    timestamp: datetime


Handler = Callable[[Event], Awaitable[None]]
BATCH_RECORDS_MAX = 10_000


class EventBus(Protocol):
    """Publish and consume events. Implementations: SqliteEventBus (embedded), MemoryEventBus.

    Delivery is at-least-once: a group's offset is committed only after its handler returned, so an
    event whose handler raised, or whose consumer crashed, is delivered again. Events with the same key
    are delivered to a group in publish order.
    """

    async def publish(self, topic: str, key: bytes, value: bytes) -> int:
        """Append durably; returns the event's offset once it would survive a crash."""
        ...

    async def publish_batch(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        """Append (key, value) records in order, durably and at once; returns their offsets.

        One write for the lot (one fsync on SQLite, one produce request on Kafka): the way to publish
        at a high rate. At most BATCH_RECORDS_MAX records per call.
        """
        ...

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        """The next uncommitted events for `group` (without committing them)."""
        ...

    async def commit(self, topic: str, group: str, offset: int) -> None:
        """Mark every event up to and including `offset` as done for `group`."""
        ...

    async def committed(self, topic: str, group: str) -> int | None:
        """The last committed offset of `group`, or None when it has committed nothing."""
        ...

    async def latest_offset(self, topic: str) -> int:
        """The offset of the topic's newest event (-1 when it never had one): where a consumer that
        only wants what comes next starts, and what consumer lag is measured against."""
        ...

    async def wait(self, topic: str, after_offset: int, timeout_seconds: float) -> bool:
        """Block until `topic` holds an event with an offset above `after_offset` (-1: any event).

        Returns True as soon as one exists (at once if it already does), False after the timeout.
        Idle consumers call it instead of polling in a tight loop.
        """
        ...

    async def trim(self, topic: str, keep_after: datetime) -> int:
        """Retention: drop events older than `keep_after` that every known group has committed."""
        ...

    async def close(self) -> None: ...


async def consume_once(bus: EventBus, topic: str, group: str, handler: Handler, max_events: int = 100) -> int:
    """Deliver one batch to `handler`, committing after each event; returns how many were handled.

    Background workers call this in a loop; tests call it directly. If the handler raises, the events
    before it stay committed and the failing one is delivered again on the next call.
    """
    events = await bus.poll(topic, group, max_events)
    for event in events:
        await handler(event)
        await bus.commit(topic, group, event.offset)
    return len(events)
