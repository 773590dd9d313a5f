"""The EventBus contract, run over every adapter, plus SQLite's durability and run_consumer's loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import scalebox
import scalebox.core.events
from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError
from scalebox.core.events import (
    Event,
    KafkaEventBus,
    MemoryEventBus,
    SqliteEventBus,
    consume_once,
    open_event_bus,
    run_consumer,
)

Bus = MemoryEventBus | SqliteEventBus | KafkaEventBus
TIMEOUT_SECONDS = 10.0  # bounds every wait on a condition; generous so a slow CI box never flakes
TRIM_ON_KAFKA = "trim is a no-op on Kafka: the broker owns retention (retention.ms, retention.bytes)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "sqlite-process", "kafka"])
async def bus(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Bus]:
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


def skip_trim_on_kafka(bus: Bus) -> None:
    if isinstance(bus, KafkaEventBus):
        pytest.skip(TRIM_ON_KAFKA)


async def publish_many(bus: Bus, topic: str, count: int) -> list[int]:
    return [await bus.publish(topic, b"k%d" % i, b"v%d" % i) for i in range(count)]


async def test_publish_returns_increasing_offsets_per_topic(bus: Bus) -> None:
    assert await publish_many(bus, "a", 3) == [0, 1, 2]
    assert await publish_many(bus, "b", 2) == [0, 1]
    assert await bus.publish("a", b"", b"") == 3


async def test_publish_batch_appends_in_order_after_single_publishes(bus: Bus, clock: FakeClock) -> None:
    await bus.publish("a", b"k", b"first")
    assert await bus.publish_batch("a", [(b"x", b"1"), (b"y", b"2"), (b"x", b"3")]) == [1, 2, 3]
    assert await bus.publish_batch("a", []) == []
    assert await bus.publish("a", b"k", b"last") == 4
    assert await bus.publish_batch("b", [(b"", b"only")]) == [0]
    events = await bus.poll("a", "g")
    assert [(event.key, event.value, event.offset) for event in events] == [
        (b"k", b"first", 0),
        (b"x", b"1", 1),
        (b"y", b"2", 2),
        (b"x", b"3", 3),
        (b"k", b"last", 4),
    ]
    assert {event.timestamp for event in events} == {clock.now()}


async def test_latest_offset_tracks_the_newest_event(bus: Bus) -> None:
    assert await bus.latest_offset("a") == -1
    await publish_many(bus, "a", 3)
    await bus.publish_batch("a", [(b"", b"x"), (b"", b"y")])
    assert await bus.latest_offset("a") == 4
    assert await bus.latest_offset("b") == -1


async def test_publish_batch_wakes_a_waiting_consumer(bus: Bus) -> None:
    waiting = asyncio.ensure_future(bus.wait("a", -1, TIMEOUT_SECONDS))
    await asyncio.sleep(0)
    await bus.publish_batch("a", [(b"k", b"v")])
    assert await asyncio.wait_for(waiting, TIMEOUT_SECONDS) is True


async def test_poll_returns_events_in_order_for_new_group(bus: Bus, clock: FakeClock) -> None:
    await publish_many(bus, "a", 2)
    events = await bus.poll("a", "g")
    assert events == [
        Event("a", b"k0", b"v0", 0, clock.now()),
        Event("a", b"k1", b"v1", 1, clock.now()),
    ]


async def test_poll_returns_events_after_committed_offset(bus: Bus) -> None:
    await publish_many(bus, "a", 4)
    await bus.commit("a", "g", 1)
    assert [event.offset for event in await bus.poll("a", "g")] == [2, 3]
    assert [event.offset for event in await bus.poll("a", "g", max_events=1)] == [2]


async def test_poll_does_not_commit_when_called_twice(bus: Bus) -> None:
    await publish_many(bus, "a", 2)
    assert await bus.poll("a", "g") == await bus.poll("a", "g")
    assert await bus.committed("a", "g") is None


async def test_commit_then_poll_resumes_after_commit(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    await bus.commit("a", "g", 0)
    assert await bus.committed("a", "g") == 0
    await bus.commit("a", "g", 2)
    assert await bus.poll("a", "g") == []
    assert await bus.publish("a", b"k", b"late") == 3
    assert [event.value for event in await bus.poll("a", "g")] == [b"late"]


async def test_groups_consume_independently(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    await bus.commit("a", "fast", 2)
    assert [event.offset for event in await bus.poll("a", "slow")] == [0, 1, 2]
    assert await bus.poll("a", "fast") == []
    assert await bus.committed("a", "slow") is None


async def test_topics_are_isolated(bus: Bus) -> None:
    await publish_many(bus, "a", 2)
    await bus.commit("a", "g", 1)
    assert await bus.poll("b", "g") == []
    assert await bus.committed("b", "g") is None


async def test_consume_once_redelivers_event_whose_handler_raised(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    seen: list[int] = []

    async def fail_on_second(event: Event) -> None:
        seen.append(event.offset)
        if event.offset == 1 and seen.count(1) == 1:
            raise RuntimeError("handler crashed")

    with pytest.raises(RuntimeError, match="handler crashed"):
        await consume_once(bus, "a", "g", fail_on_second)
    assert await bus.committed("a", "g") == 0
    assert await consume_once(bus, "a", "g", fail_on_second) == 2
    assert seen == [0, 1, 1, 2]


async def test_wait_returns_at_once_when_newer_event_exists(bus: Bus) -> None:
    await publish_many(bus, "a", 2)
    assert await asyncio.wait_for(bus.wait("a", 0, timeout_seconds=TIMEOUT_SECONDS), TIMEOUT_SECONDS)


async def test_wait_wakes_on_publish_before_timeout(bus: Bus) -> None:
    waiting = asyncio.create_task(bus.wait("a", -1, timeout_seconds=TIMEOUT_SECONDS * 10))
    await asyncio.sleep(0)  # let the waiter start before the publish
    await bus.publish("a", b"k", b"v")
    assert await asyncio.wait_for(waiting, TIMEOUT_SECONDS)


async def test_wait_returns_false_when_nothing_arrives(bus: Bus) -> None:
    await publish_many(bus, "a", 1)
    assert not await bus.wait("a", 0, timeout_seconds=0.02)
    assert not await bus.wait("other", -1, timeout_seconds=0.0)


async def test_trim_keeps_uncommitted_events(bus: Bus, clock: FakeClock) -> None:
    skip_trim_on_kafka(bus)
    await publish_many(bus, "a", 2)
    clock.advance(seconds=10)
    await bus.publish("a", b"k", b"new")
    await bus.commit("a", "ahead", 1)
    await bus.commit("a", "behind", 0)
    assert await bus.trim("a", keep_after=clock.now()) == 1
    assert [event.offset for event in await bus.poll("a", "behind")] == [1, 2]
    assert [event.offset for event in await bus.poll("a", "ahead")] == [2]
    assert [event.offset for event in await bus.poll("a", "newcomer")] == [1, 2]


async def test_trim_keeps_events_newer_than_cut(bus: Bus, clock: FakeClock) -> None:
    skip_trim_on_kafka(bus)
    await publish_many(bus, "a", 1)
    clock.advance(seconds=10)
    await publish_many(bus, "a", 1)
    await bus.commit("a", "g", 1)
    assert await bus.trim("a", keep_after=clock.now() - timedelta(seconds=5)) == 1
    assert [event.offset for event in await bus.poll("a", "other")] == [1]


async def test_trim_without_groups_drops_old_events_and_keeps_offsets(bus: Bus, clock: FakeClock) -> None:
    skip_trim_on_kafka(bus)
    await publish_many(bus, "a", 2)
    clock.advance(seconds=1)
    assert await bus.trim("a", keep_after=clock.now()) == 2
    assert await bus.trim("b", keep_after=clock.now()) == 0
    assert await bus.poll("a", "g") == []
    assert await bus.publish("a", b"k", b"v") == 2


async def test_run_consumer_handles_events_until_stopped(bus: Bus) -> None:
    await publish_many(bus, "a", 3)
    stop, seen, enough = asyncio.Event(), list[int](), asyncio.Event()

    async def record(event: Event) -> None:
        seen.append(event.offset)
        if len(seen) == 5:
            enough.set()

    task = asyncio.create_task(run_consumer(bus, "a", "g", record, stop=stop, idle_timeout_seconds=0.05))
    await bus.publish("a", b"k", b"v")  # lands while the loop runs or idles
    await bus.publish("a", b"k", b"v")
    await asyncio.wait_for(enough.wait(), TIMEOUT_SECONDS)
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 5
    assert seen == [0, 1, 2, 3, 4]
    assert await bus.committed("a", "g") == 4


async def test_run_consumer_logs_and_retries_failed_handler(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    await publish_many(bus, "a", 3)
    stop, seen, failures = asyncio.Event(), list[int](), list[tuple[int | None, str]]()

    async def fail_once_on_offset_1(event: Event) -> None:
        seen.append(event.offset)
        if event.offset == 1 and seen.count(1) == 1:
            raise ValueError("poison")
        if event.offset == 2:
            stop.set()

    def on_error(event: Event | None, exc: Exception) -> None:
        failures.append((None if event is None else event.offset, str(exc)))

    with caplog.at_level(logging.ERROR, logger="scalebox.core.events.consumer"):
        handled = await asyncio.wait_for(
            run_consumer(
                bus, "a", "g", fail_once_on_offset_1, stop=stop, on_error=on_error, backoff_seconds=0.01
            ),
            TIMEOUT_SECONDS,
        )
    assert (handled, seen, failures) == (3, [0, 1, 1, 2], [(1, "poison")])
    [record] = caplog.records
    assert "handling offset 1" in record.getMessage()
    assert record.exc_info is not None


async def test_run_consumer_returns_promptly_when_stopped_while_idle(bus: Bus) -> None:
    stop = asyncio.Event()

    async def never_called(event: Event) -> None:
        raise AssertionError(event)

    task = asyncio.create_task(
        run_consumer(bus, "a", "g", never_called, stop=stop, idle_timeout_seconds=3600)
    )
    await asyncio.sleep(0)  # let it reach its idle wait
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT_SECONDS) == 0


async def test_sqlite_keeps_events_and_offsets_after_reopen(tmp_path: Path, clock: FakeClock) -> None:
    first = SqliteEventBus(tmp_path / "e.db", clock)
    await publish_many(first, "a", 3)
    await first.commit("a", "g", 1)
    await first.close()
    second = SqliteEventBus(tmp_path / "e.db", clock)
    try:
        assert await second.committed("a", "g") == 1
        assert [event.value for event in await second.poll("a", "g")] == [b"v2"]
        assert await second.publish("a", b"k", b"v") == 3
    finally:
        await second.close()


async def test_sqlite_instances_on_one_file_share_events_and_offsets(
    tmp_path: Path, clock: FakeClock
) -> None:
    one, two = SqliteEventBus(tmp_path / "e.db", clock), SqliteEventBus(tmp_path / "e.db", clock)
    try:
        assert await one.publish("a", b"k", b"from one") == 0
        assert await two.publish("a", b"k", b"from two") == 1
        assert [event.value for event in await two.poll("a", "g")] == [b"from one", b"from two"]
        await two.commit("a", "g", 0)
        assert await one.committed("a", "g") == 0
        assert [event.offset for event in await one.poll("a", "g")] == [1]
        waiting = asyncio.create_task(one.wait("a", 1, timeout_seconds=TIMEOUT_SECONDS * 10))
        await two.publish("a", b"k", b"seen by polling")
        assert await asyncio.wait_for(waiting, TIMEOUT_SECONDS)
    finally:
        await one.close()
        await two.close()


async def test_sqlite_wait_wakes_on_own_publish_without_polling(tmp_path: Path, clock: FakeClock) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", clock, poll_interval_seconds=3600)
    try:
        waiting = asyncio.create_task(bus.wait("a", -1, timeout_seconds=3600))
        await asyncio.sleep(0)  # let the waiter start before the publish
        await bus.publish("a", b"k", b"v")
        assert await asyncio.wait_for(waiting, TIMEOUT_SECONDS)
    finally:
        await bus.close()


async def test_sqlite_reads_run_on_the_callers_thread_when_no_lock_is_held(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", clock)

    async def no_thread(*args: object) -> None:
        raise AssertionError("a read SQLite could answer at once went to a worker thread")

    try:
        assert await bus.publish_batch("a", [(b"k", b"v"), (b"k", b"w")]) == [0, 1]
        await bus.commit("a", "g", 0)
        monkeypatch.setattr(asyncio, "to_thread", no_thread)
        assert [event.value for event in await bus.poll("a", "g")] == [b"w"]
        assert await bus.committed("a", "g") == 0
        assert await bus.latest_offset("a") == 1
        assert await bus.wait("a", 0, timeout_seconds=TIMEOUT_SECONDS)
    finally:
        monkeypatch.undo()
        await bus.close()


async def test_sqlite_read_that_finds_the_file_busy_is_retried_in_a_thread(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In WAL mode readers are only kept out briefly (recovery, a restarting checkpoint), too briefly
    # to arrange here; the caller's connection is stood in for by one that reports SQLITE_BUSY.
    bus = SqliteEventBus(tmp_path / "e.db", clock)
    await bus.publish("a", b"k", b"v")
    threads: list[str] = []
    to_thread = asyncio.to_thread

    async def counting(function: Any, *args: Any) -> Any:
        threads.append(function.__name__)
        return await to_thread(function, *args)

    class Busy:
        def execute(self, *args: object) -> None:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise busy

    real = bus._inline
    try:
        monkeypatch.setattr(bus, "_inline", Busy())
        monkeypatch.setattr(asyncio, "to_thread", counting)
        assert [event.value for event in await bus.poll("a", "g")] == [b"v"]
        assert await bus.latest_offset("a") == 0
        assert len(threads) == 2
    finally:
        monkeypatch.undo()
        assert bus._inline is real
        await bus.close()


async def test_run_consumer_logs_and_retries_when_bus_fails(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", clock)
    await bus.close()  # every call now raises, as a broken disk would
    stop, failures = asyncio.Event(), list[tuple[Event | None, Exception]]()

    def on_error(event: Event | None, exc: Exception) -> None:
        failures.append((event, exc))
        if len(failures) == 2:
            stop.set()

    async def never_called(event: Event) -> None:
        raise AssertionError(event)

    with caplog.at_level(logging.ERROR, logger="scalebox.core.events.consumer"):
        handled = await asyncio.wait_for(
            run_consumer(bus, "a", "g", never_called, stop=stop, on_error=on_error, backoff_seconds=0.01),
            TIMEOUT_SECONDS,
        )
    assert handled == 0
    assert [event for event, _ in failures] == [None, None]
    assert ["failed polling" in record.getMessage() for record in caplog.records] == [True, True]
    assert "failure 2 in a row" in caplog.records[1].getMessage()


_PUBLISHER = """
import asyncio, sys
from pathlib import Path
from scalebox.core.clock import SystemClock
from scalebox.core.events import SqliteEventBus

async def main() -> None:
    bus = SqliteEventBus(Path(sys.argv[1]), SystemClock(), writer=sys.argv[2])
    for i in range(1_000_000):
        offset = await bus.publish("a", b"k", b"event-%d" % i)
        print(offset, flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("writer", ["thread", "process"])
async def test_sqlite_keeps_acknowledged_events_after_kill_9(
    tmp_path: Path, clock: FakeClock, writer: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(scalebox.__file__).parents[1])}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _PUBLISHER, str(tmp_path / "e.db"), writer,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert child.stdout is not None
    printed = b""
    try:
        while printed.count(b"\n") < 200:  # acknowledged, and the child is still publishing when it dies
            line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_SECONDS)
            assert line, "the publisher exited before it was killed"
            printed += line
    finally:
        child.kill()  # SIGKILL: no atexit, no finally, no close in the child
        rest, stderr = await asyncio.wait_for(child.communicate(), TIMEOUT_SECONDS)
    assert child.returncode == -9, stderr
    # Only whole lines were surely printed after the publish returned; a torn last line is dropped.
    acknowledged = [int(line) for line in (printed + rest).split(b"\n")[:-1]]
    assert acknowledged == list(range(len(acknowledged)))
    stored = await _read_all(tmp_path / "e.db", clock)
    assert stored[: len(acknowledged)] == [b"event-%d" % offset for offset in acknowledged]


async def _read_all(path: Path, clock: FakeClock) -> list[bytes]:
    bus = SqliteEventBus(path, clock)
    try:
        return [event.value for event in await bus.poll("a", "audit", max_events=10_000_000)]
    finally:
        await bus.close()


@pytest.mark.parametrize(
    ("url", "file_name"),
    [
        ("memory://", None),
        ("sqlite:e.db", "e.db"),
        ("sqlite:///{tmp}/abs.db", "abs.db"),
        ("sqlite:e.db?writer=process", "e.db"),
        ("sqlite:e.db?writer=thread", "e.db"),
    ],
)
async def test_open_event_bus_picks_adapter_from_url(
    url: str, file_name: str | None, tmp_path: Path, clock: FakeClock
) -> None:
    bus = open_event_bus(url.format(tmp=tmp_path), clock=clock, base_dir=tmp_path)
    try:
        assert isinstance(bus, MemoryEventBus if file_name is None else SqliteEventBus)
        assert await bus.publish("a", b"k", b"v") == 0
    finally:
        await bus.close()
    if file_name is not None:
        assert await asyncio.to_thread((tmp_path / file_name).exists)


@pytest.mark.parametrize(
    "url",
    ["kafka://", "sqlite:", "sqlite://host/e.db", "memory://x", "sqlite:e.db?writer=fork", "sqlite:e.db?x=1"],
)
def test_open_event_bus_rejects_unsupported_url(url: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidError, match="unsupported event bus URL"):
        open_event_bus(url, clock=clock)


def test_all_names_are_exported() -> None:
    for name in scalebox.core.events.__all__:
        assert hasattr(scalebox.core.events, name), name
