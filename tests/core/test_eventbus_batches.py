"""Batch consumption over every EventBus adapter: one handler call and one commit per batch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scalebox.core.clock import FakeClock
from scalebox.core.events import (
    Event,
    KafkaEventBus,
    MemoryEventBus,
    SqliteEventBus,
    consume_batch_once,
    run_batch_consumer,
)

Bus = MemoryEventBus | SqliteEventBus | KafkaEventBus
TIMEOUT_SECONDS = 10.0  # bounds every wait on a condition


@pytest.fixture(params=["memory", "sqlite", "sqlite-process", "kafka"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    clock = FakeClock()
    bus: Bus
    if request.param == "memory":
        bus = MemoryEventBus(clock)
    elif request.param == "sqlite":
        bus = SqliteEventBus(tmp_path / "e.db", clock)
    elif request.param == "sqlite-process":
        bus = SqliteEventBus(tmp_path / "e.db", clock, writer="process")
    else:
        # Looked up lazily, so memory and sqlite runs never start a broker. One broker serves the
        # module; the namespace keeps each test's topics and groups apart.
        broker = request.getfixturevalue("kafka_broker")
        bus = KafkaEventBus([broker.bootstrap], clock, namespace=request.getfixturevalue("kafka_namespace"))
    yield bus
    await bus.close()


async def publish_many(bus: Bus, topic: str, count: int) -> None:
    await bus.publish_batch(topic, [(b"k%d" % i, b"v%d" % i) for i in range(count)])


class CountingBus:
    """Passes every call through to a real bus, counting commits (the cost batches exist to cut)."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.commits: list[int] = []

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        return await self.inner.poll(topic, group, max_events)

    async def commit(self, topic: str, group: str, offset: int) -> None:
        self.commits.append(offset)
        await self.inner.commit(topic, group, offset)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_consume_batch_once_hands_over_one_batch_and_commits_once(bus: Bus) -> None:
    await publish_many(bus, "a", 5)
    counting = CountingBus(bus)
    batches: list[list[int]] = []

    async def record(events: list[Event]) -> None:
        batches.append([event.offset for event in events])

    assert await consume_batch_once(counting, "a", "g", record, max_events=3) == 3  # type: ignore[arg-type]
    assert await consume_batch_once(counting, "a", "g", record, max_events=3) == 2  # type: ignore[arg-type]
    assert batches == [[0, 1, 2], [3, 4]]
    assert counting.commits == [2, 4]
    assert await bus.committed("a", "g") == 4


async def test_consume_batch_once_with_nothing_new_neither_calls_nor_commits(bus: Bus) -> None:
    async def never_called(events: list[Event]) -> None:
        raise AssertionError(events)

    assert await consume_batch_once(bus, "a", "g", never_called) == 0
    assert await bus.committed("a", "g") is None


async def test_consume_batch_once_redelivers_whole_batch_when_handler_raised(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    await bus.commit("a", "g", 0)
    calls: list[list[int]] = []

    async def fail_first_time(events: list[Event]) -> None:
        calls.append([event.offset for event in events])
        if len(calls) == 1:
            raise RuntimeError("store failed")

    with pytest.raises(RuntimeError, match="store failed"):
        await consume_batch_once(bus, "a", "g", fail_first_time)
    assert await bus.committed("a", "g") == 0
    assert await consume_batch_once(bus, "a", "g", fail_first_time) == 2
    assert calls == [[1, 2], [1, 2]]
    assert await bus.committed("a", "g") == 2


async def test_consume_batch_once_from_offset_minus_one_replays_the_topic(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    await bus.commit("a", "g", 2)
    await bus.commit("a", "g", -1)  # what a rebuild does: back to before the first event
    seen: list[int] = []

    async def record(events: list[Event]) -> None:
        seen.extend(event.offset for event in events)

    assert await consume_batch_once(bus, "a", "g", record) == 3
    assert seen == [0, 1, 2]


async def test_run_batch_consumer_handles_events_until_stopped(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    stop, seen, enough = asyncio.Event(), list[int](), asyncio.Event()

    async def record(events: list[Event]) -> None:
        seen.extend(event.offset for event in events)
        if len(seen) == 6:
            enough.set()

    task = asyncio.create_task(
        run_batch_consumer(bus, "a", "g", record, stop=stop, idle_timeout_seconds=0.05, max_events=2)
    )
    await publish_many(bus, "a", 3)  # lands while the loop runs or idles
    await asyncio.wait_for(enough.wait(), TIMEOUT_SECONDS)
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 6
    assert seen == [0, 1, 2, 3, 4, 5]
    assert await bus.committed("a", "g") == 5


async def test_run_batch_consumer_logs_and_redelivers_failed_batch(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    await publish_many(bus, "a", 3)
    stop, calls, failures = asyncio.Event(), list[list[int]](), list[tuple[int | None, str]]()

    async def fail_once(events: list[Event]) -> None:
        calls.append([event.offset for event in events])
        if len(calls) == 1:
            raise ValueError("poison")
        stop.set()

    def on_error(event: Event | None, exc: Exception) -> None:
        failures.append((None if event is None else event.offset, str(exc)))

    with caplog.at_level(logging.ERROR, logger="scalebox.core.events.consumer"):
        handled = await asyncio.wait_for(
            run_batch_consumer(bus, "a", "g", fail_once, stop=stop, on_error=on_error, backoff_seconds=0.01),
            TIMEOUT_SECONDS,
        )
    assert (handled, calls, failures) == (3, [[0, 1, 2], [0, 1, 2]], [(0, "poison")])
    [record] = caplog.records
    assert "handling offsets 0..2" in record.getMessage()
    assert record.exc_info is not None
    assert await bus.committed("a", "g") == 2


async def test_run_batch_consumer_returns_promptly_when_stopped_while_idle(bus: Bus) -> None:
    stop = asyncio.Event()

    async def never_called(events: list[Event]) -> None:
        raise AssertionError(events)

    task = asyncio.create_task(
        run_batch_consumer(bus, "a", "g", never_called, stop=stop, idle_timeout_seconds=3600)
    )
    await asyncio.sleep(0)  # let it reach its idle wait
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 0


async def test_run_batch_consumer_returns_promptly_when_stopped_during_backoff(bus: Bus) -> None:
    await publish_many(bus, "a", 1)
    stop, failed = asyncio.Event(), asyncio.Event()

    async def always_fail(events: list[Event]) -> None:
        failed.set()
        raise RuntimeError("down")

    task = asyncio.create_task(
        run_batch_consumer(
            bus,
            "a",
            "g",
            always_fail,
            stop=stop,
            backoff_seconds=3600,
            backoff_seconds_max=3600,
            on_error=lambda _event, _exc: None,
        )
    )
    await asyncio.wait_for(failed.wait(), TIMEOUT_SECONDS)
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 0
    assert await bus.committed("a", "g") is None
