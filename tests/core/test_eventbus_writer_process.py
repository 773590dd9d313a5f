"""SqliteEventBus with `writer="process"`: writes go to `python -m scalebox.core.sqlite_log` through a
pipe (the contract suites run this adapter too; these cover what only the process writer has)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scalebox.core import sqlite_log
from scalebox.core.clock import FakeClock
from scalebox.core.events import SqliteEventBus
from scalebox.core.events.sqlite import EventBusWriterError

TIMEOUT_SECONDS = 10.0


def writer_pid(bus: SqliteEventBus) -> int:
    process = bus._process._process  # type: ignore[union-attr]
    assert process is not None
    return process.pid


async def test_writes_run_without_a_thread_and_are_visible_to_other_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", FakeClock(), writer="process")

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a write went to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    try:
        assert await bus.publish_batch("a", [(b"k", b"1"), (b"k", b"2")]) == [0, 1]
        assert await bus.publish("a", b"k", b"3") == 2
        await bus.commit("a", "g", 1)
        # Many writes in flight at once are answered in order, each with its own result.
        offsets = await asyncio.gather(*(bus.publish("b", b"", b"%d" % n) for n in range(50)))
        assert sorted(offsets) == list(range(50))
    finally:
        monkeypatch.undo()
        await bus.close()
    conn = sqlite3.connect(tmp_path / "e.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (53,)
        assert conn.execute("SELECT committed_offset FROM group_offsets").fetchone() == (1,)
        stored = dict(conn.execute("SELECT \"offset\", value FROM events WHERE topic = 'b'").fetchall())
        assert [stored[offset] for offset in offsets] == [b"%d" % n for n in range(50)]
    finally:
        conn.close()


async def publish_until_it_fails(bus: SqliteEventBus) -> None:
    while True:
        await bus.publish("a", b"", b"maybe")


async def test_a_dead_writer_fails_the_writes_in_flight_and_the_next_write_starts_a_new_one(
    tmp_path: Path,
) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", FakeClock(), writer="process")
    try:
        assert await bus.publish("a", b"", b"before") == 0
        first = writer_pid(bus)
        os.kill(first, signal.SIGKILL)
        # The kill lands while a write is queued or in flight: its caller hears of it.
        with pytest.raises(EventBusWriterError):
            await asyncio.wait_for(publish_until_it_fails(bus), TIMEOUT_SECONDS)
        assert await bus.publish("a", b"", b"after") >= 1
        assert writer_pid(bus) != first
        assert (await bus.poll("a", "g", 10))[-1].value == b"after"
    finally:
        await bus.close()


async def test_close_waits_for_writes_in_flight_then_refuses_more(tmp_path: Path) -> None:
    bus = SqliteEventBus(tmp_path / "e.db", FakeClock(), writer="process")
    pending = [asyncio.ensure_future(bus.publish("a", b"", b"%d" % n)) for n in range(20)]
    await asyncio.sleep(0)  # each is ahead of close: writing its frame, or queued to once the writer runs
    await bus.close()
    assert sorted(await asyncio.gather(*pending)) == list(range(20))
    with pytest.raises(sqlite3.ProgrammingError):
        await bus.publish("a", b"", b"late")
    reader = SqliteEventBus(tmp_path / "e.db", FakeClock())
    try:
        assert await reader.latest_offset("a") == 19
    finally:
        await reader.close()


def test_the_writer_answers_errors_in_the_protocol_and_goes_on(tmp_path: Path) -> None:
    conn = sqlite_log.connect(tmp_path / "e.db", 1.0)
    try:
        requests = io.BytesIO(
            sqlite_log.encode_frame(("events", ("a", [(b"k", b"v")], 1)))
            + sqlite_log.encode_frame(("events", ("a", [(b"k", None)], 1)))  # NOT NULL refused
            + sqlite_log.encode_frame(("event", ("a", b"k", b"w", 2)))
            + sqlite_log.FRAME_HEADER.pack(10)  # a torn last frame: EOF mid-frame ends the writer
        )
        answers = io.BytesIO()
        assert sqlite_log.serve_writes(conn, requests, answers) == 3
    finally:
        conn.close()
    answers.seek(0)
    replies: list[Any] = [sqlite_log._read_frame(answers) for _ in range(3)]
    assert replies[0] == ("ok", 0)
    assert replies[1][0] == "error"
    assert "NOT NULL" in replies[1][1]
    assert replies[2] == ("ok", 1)


def test_a_frame_over_the_limit_is_refused_before_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_log, "FRAME_BYTES_MAX", 100)
    with pytest.raises(ValueError, match="frame limit"):
        sqlite_log.encode_frame(("events", ("a", [(b"k", b"x" * 200)], 1)))
    with pytest.raises(ValueError, match="over the 100-byte limit"):
        sqlite_log._read_frame(io.BytesIO(sqlite_log.FRAME_HEADER.pack(101) + b"x" * 101))
