"""The visit recorder (buffer, batches, bounds, failure) and the link LRU, without a server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from scalebox.core.clock import FakeClock
from scalebox.core.events import Event, MemoryEventBus
from scalebox.shortener.domain import VISITS_PER_EVENT_MAX, Link, Visit, check_target, visit_arrays
from scalebox.shortener.service.redirects import (
    VISITS_TOPIC,
    LinkLru,
    VisitRecorder,
    decode_link,
    encode_link,
)
from scalebox.shortener.storage.sql import rules_from_json

TIMEOUT_SECONDS = 10.0


def visit(number: int) -> Visit:
    return Visit("valid", number, f"c{number}", number, "ua", "", "10.0.0.1", f"/c{number}")


def link(**changes: object) -> Link:
    target = check_target("https://example.com/")
    return Link(
        id=7,
        code="Abc1234",
        long_url=target.url,
        target_host=target.host,
        url_hash=target.url_hash,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ).with_changes(**changes)


def published_times(events: list[Event]) -> list[int]:
    return [Visit.from_wire(array).at_ms for event in events for array in visit_arrays(event.value)]


async def test_a_batch_larger_than_an_event_is_split() -> None:
    bus = MemoryEventBus(FakeClock())
    recorder = VisitRecorder(bus)
    for number in range(VISITS_PER_EVENT_MAX + 5):
        recorder.record(visit(number))
    assert await recorder.flush() == VISITS_PER_EVENT_MAX + 5
    events = await bus.poll(VISITS_TOPIC, "g", 100)
    assert [len(visit_arrays(event.value)) for event in events] == [VISITS_PER_EVENT_MAX, 5]
    assert published_times(events) == list(range(VISITS_PER_EVENT_MAX + 5))


async def test_flush_publishes_in_order_in_bounded_batches() -> None:
    bus = MemoryEventBus(FakeClock())
    recorder = VisitRecorder(bus, batch_max=3)
    for number in range(7):
        recorder.record(visit(number))
    assert recorder.buffered == 7
    assert await recorder.flush() == 7
    events = await bus.poll(VISITS_TOPIC, "g", 100)
    assert [len(visit_arrays(event.value)) for event in events] == [3, 3, 1]  # one event per publish
    assert published_times(events) == list(range(7))
    assert (recorder.recorded, recorder.published, recorder.dropped, recorder.buffered) == (7, 7, 0, 0)


async def test_a_full_buffer_drops_and_counts_instead_of_blocking() -> None:
    recorder = VisitRecorder(MemoryEventBus(FakeClock()), buffer_max=5)
    for number in range(8):
        recorder.record(visit(number))
    assert (recorder.recorded, recorder.dropped, recorder.buffered) == (5, 3, 5)


class FailingBus(MemoryEventBus):
    def __init__(self) -> None:
        super().__init__(FakeClock())
        self.fail = True

    async def publish_batch(self, topic: str, records: object) -> list[int]:  # type: ignore[override]
        if self.fail:
            raise ConnectionError("event log unreachable")
        return await super().publish_batch(topic, records)  # type: ignore[arg-type]


async def test_a_failed_publish_keeps_the_visits_for_the_next_try() -> None:
    bus = FailingBus()
    recorder = VisitRecorder(bus, batch_max=2)
    for number in range(3):
        recorder.record(visit(number))
    with pytest.raises(ConnectionError):
        await recorder.flush()
    assert (recorder.buffered, recorder.failures, recorder.published) == (3, 1, 0)
    bus.fail = False
    assert await recorder.flush() == 3
    assert published_times(await bus.poll(VISITS_TOPIC, "g")) == [0, 1, 2]


async def test_run_flushes_on_a_full_batch_and_on_stop() -> None:
    bus = MemoryEventBus(FakeClock())
    recorder = VisitRecorder(bus, flush_seconds=3600.0, batch_max=4)
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    for number in range(4):
        recorder.record(visit(number))
    assert await bus.wait(VISITS_TOPIC, -1, TIMEOUT_SECONDS)  # a full batch wakes the publisher at once
    recorder.record(visit(4))
    stop.set()
    await asyncio.wait_for(task, TIMEOUT_SECONDS)
    assert recorder.published == 5
    assert recorder.buffered == 0


def test_unstored_counts_this_process_redirects_until_the_stored_count_catches_up() -> None:
    recorder = VisitRecorder(MemoryEventBus(FakeClock()))
    limited = link(max_visits=10, visits=4)
    assert recorder.unstored(limited) == 0
    for _ in range(3):
        recorder.record(visit(1), limited)
    assert recorder.unstored(limited) == 3
    assert recorder.unstored(limited.with_changes(visits=6)) == 1  # two of the three were stored
    assert recorder.unstored(limited.with_changes(visits=9)) == 0  # other processes' visits too


def test_lru_expires_evicts_and_bounds() -> None:
    clock = FakeClock()
    lru = LinkLru(2, clock.monotonic)
    lru.put("a", link(), 10)
    lru.put("b", None, 1)
    assert lru.get("a") == (True, link())
    assert lru.get("b") == (True, None)
    clock.advance(seconds=1)
    assert lru.get("b") == (False, None)
    lru.put("c", link(code="c"), 10)
    lru.put("d", link(code="d"), 10)  # a was used least recently
    assert lru.get("a") == (False, None)
    assert len(lru) == 2
    lru.put("d", link(), 0)  # no lifetime left: not cached at all
    assert lru.get("d") == (False, None)


def test_links_survive_the_shared_cache_encoding() -> None:
    rich = link(
        title="T",
        tags=("a", "b"),
        valid_until=datetime(2027, 1, 1, tzinfo=UTC),
        max_visits=3,
        redirect_type=308,
        rules=rules_from_json(
            '[{"longUrl":"https://x.example/","conditions":[{"type":"device","matchValue":"ios"}]}]'
        ),
        visits=2,
    )
    assert decode_link(encode_link(rich)) == rich
