"""run_consumer and run_batch_consumer: the long-running loops that feed one group's events to a handler.

Background workers (fan-out, dispatch, indexing, analytics) are a loop plus a handler; the lifespan
starts it as a task and sets `stop` on shutdown. Tests drive `consume_once` / `consume_batch_once`
directly or run a loop with a stop event. Batch handlers are for high rates: one commit per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from scalebox.core.events.port import BATCH_RECORDS_MAX, Event, EventBus, Handler, consume_once

logger = logging.getLogger(__name__)

ErrorHook = Callable[[Event | None, Exception], None]
"""Told of each failure after it was logged: the event whose handler raised (None when the bus itself
failed) and the exception. For metrics or alerts; it must not raise."""

BatchHandler = Callable[[list[Event]], Awaitable[None]]
"""Handles a batch of events, in offset order, in one call; the group commits once it returned."""


@dataclass
class _Delivery:
    """Wraps the handler to remember which event is in hand, so a failure can name it."""

    handler: Handler
    current: Event | None = None
    handled: int = 0

    async def __call__(self, event: Event) -> None:
        self.current = event
        await self.handler(event)
        self.handled += 1


async def run_consumer(
    bus: EventBus,
    topic: str,
    group: str,
    handler: Handler,
    *,
    stop: asyncio.Event,
    idle_timeout_seconds: float = 1.0,
    max_events: int = 100,
    on_error: ErrorHook | None = None,
    backoff_seconds: float = 0.1,
    backoff_seconds_max: float = 30.0,
) -> int:
    """Consume `topic` as `group` until `stop` is set; returns how many handler calls succeeded.

    When the group is caught up it blocks in `bus.wait` (up to `idle_timeout_seconds` at a time) or
    until `stop` is set. A failure, whether the handler raised or the bus did, is logged, passed to
    `on_error`, and retried after an exponential backoff: the failing event is delivered again rather
    than skipped, so a poison event stalls its group loudly instead of being lost quietly.
    """
    delivery = _Delivery(handler)

    async def step() -> int:
        delivery.current = None
        return await consume_once(bus, topic, group, delivery, max_events)

    def in_hand() -> tuple[Event | None, str]:
        event = delivery.current
        return event, "polling" if event is None else f"handling offset {event.offset}"

    loop = _Loop(
        bus, topic, group, stop, idle_timeout_seconds, on_error, backoff_seconds, backoff_seconds_max
    )
    await loop.run(step, in_hand)
    return delivery.handled


async def consume_batch_once(
    bus: EventBus, topic: str, group: str, batch_handler: BatchHandler, max_events: int = 1000
) -> int:
    """Deliver up to `max_events` events to `batch_handler` in one call, then commit once.

    The commit, at the last event's offset, happens only after the handler returned: if it raises,
    nothing is committed and the whole batch is delivered again. One commit per batch instead of one
    per event is what lets a consumer keep up with tens of thousands of events a second.
    """
    assert 0 < max_events <= BATCH_RECORDS_MAX, max_events
    events = await bus.poll(topic, group, max_events)
    if events:
        await batch_handler(events)
        await bus.commit(topic, group, events[-1].offset)
    return len(events)


async def run_batch_consumer(
    bus: EventBus,
    topic: str,
    group: str,
    batch_handler: BatchHandler,
    *,
    stop: asyncio.Event,
    idle_timeout_seconds: float = 1.0,
    max_events: int = 1000,
    on_error: ErrorHook | None = None,
    backoff_seconds: float = 0.1,
    backoff_seconds_max: float = 30.0,
) -> int:
    """`run_consumer` for batch handlers: returns how many events were handled in successful batches.

    Idling, stopping and backoff work as in `run_consumer`. A failed batch is delivered again whole
    (its handler must tolerate seeing events twice, as every at-least-once handler must), and
    `on_error` is told the batch's first event.
    """
    delivery = _BatchDelivery(batch_handler)

    async def step() -> int:
        delivery.current = []
        return await consume_batch_once(bus, topic, group, delivery, max_events)

    def in_hand() -> tuple[Event | None, str]:
        batch = delivery.current
        if not batch:
            return None, "polling"
        return batch[0], f"handling offsets {batch[0].offset}..{batch[-1].offset}"

    loop = _Loop(
        bus, topic, group, stop, idle_timeout_seconds, on_error, backoff_seconds, backoff_seconds_max
    )
    await loop.run(step, in_hand)
    return delivery.handled


@dataclass
class _BatchDelivery:
    """Wraps a batch handler to remember the batch in hand, so a failure can name it."""

    handler: BatchHandler
    current: list[Event] = field(default_factory=list)
    handled: int = 0

    async def __call__(self, events: list[Event]) -> None:
        self.current = events
        await self.handler(events)
        self.handled += len(events)


@dataclass
class _Loop:
    """The part both loops share: idle waits, stop, and logged retries with exponential backoff."""

    bus: EventBus
    topic: str
    group: str
    stop: asyncio.Event
    idle_timeout_seconds: float
    on_error: ErrorHook | None
    backoff_seconds: float
    backoff_seconds_max: float

    def __post_init__(self) -> None:
        assert self.backoff_seconds > 0, self.backoff_seconds
        assert self.backoff_seconds_max >= self.backoff_seconds, (
            self.backoff_seconds_max,
            self.backoff_seconds,
        )

    async def run(
        self, step: Callable[[], Awaitable[int]], in_hand: Callable[[], tuple[Event | None, str]]
    ) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                if await step() == 0:
                    await _wait_for_events(
                        self.bus, self.topic, self.group, self.stop, self.idle_timeout_seconds
                    )
            # A worker loop must outlive any one failure; the error is logged and retried, never dropped.
            except Exception as exc:
                failures += 1
                delay_seconds = min(self.backoff_seconds * 2 ** (failures - 1), self.backoff_seconds_max)
                event, where = in_hand()
                logger.exception(
                    "consumer %s/%s failed %s (failure %d in a row); retrying in %.2fs",
                    self.topic,
                    self.group,
                    where,
                    failures,
                    delay_seconds,
                )
                if self.on_error is not None:
                    self.on_error(event, exc)
                await _sleep_unless_stopped(self.stop, delay_seconds)
            else:
                failures = 0


async def _wait_for_events(
    bus: EventBus, topic: str, group: str, stop: asyncio.Event, timeout_seconds: float
) -> None:
    """Return when the topic grows past the group's commit, `stop` is set, or the timeout passes."""
    committed = await bus.committed(topic, group)
    after_offset = -1 if committed is None else committed
    waiting = asyncio.ensure_future(bus.wait(topic, after_offset, timeout_seconds))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not waiting.done():
            waiting.cancel()
        await asyncio.gather(waiting, stopping, return_exceptions=True)
    if not waiting.cancelled():
        waiting.result()  # re-raises a failure of the bus, which the loop then logs and retries


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
