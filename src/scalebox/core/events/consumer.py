"""run_consumer: the long-running loop that feeds one group's events to a handler until told to stop.

Background workers (fan-out, dispatch, indexing) are this loop plus a handler; the lifespan starts it
as a task and sets `stop` on shutdown. Tests drive `consume_once` directly or run this with a stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from scalebox.core.events.port import Event, EventBus, Handler, consume_once

logger = logging.getLogger(__name__)

ErrorHook = Callable[[Event | None, Exception], None]
"""Told of each failure after it was logged: the event whose handler raised (None when the bus itself
failed) and the exception. For metrics or alerts; it must not raise."""


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
    assert backoff_seconds > 0, backoff_seconds
    assert backoff_seconds_max >= backoff_seconds, (backoff_seconds_max, backoff_seconds)
    delivery = _Delivery(handler)
    failures = 0
    while not stop.is_set():
        delivery.current = None
        try:
            count = await consume_once(bus, topic, group, delivery, max_events)
            if count == 0:
                await _wait_for_events(bus, topic, group, stop, idle_timeout_seconds)
        # A worker loop must outlive any one failure; the error is logged and retried, never dropped.
        except Exception as exc:
            failures += 1
            delay_seconds = min(backoff_seconds * 2 ** (failures - 1), backoff_seconds_max)
            _log_failure(topic, group, delivery.current, failures, delay_seconds)
            if on_error is not None:
                on_error(delivery.current, exc)
            await _sleep_unless_stopped(stop, delay_seconds)
        else:
            failures = 0
    return delivery.handled


def _log_failure(topic: str, group: str, event: Event | None, failures: int, delay_seconds: float) -> None:
    where = "polling" if event is None else f"handling offset {event.offset}"
    logger.exception(
        "consumer %s/%s failed %s (failure %d in a row); retrying in %.2fs",
        topic,
        group,
        where,
        failures,
        delay_seconds,
    )


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
