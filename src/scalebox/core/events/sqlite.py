"""SqliteEventBus: the embedded durable EventBus, an append-only log per topic in one SQLite file.

Several processes may share the file: SQLite's locks serialise writers (each waits up to the busy
timeout) and WAL lets readers run beside a writer. Every commit is fsynced (synchronous=FULL).

Reads (polls, offsets, a waiting consumer's checks) run on the caller's thread whenever SQLite can
answer at once, not in a worker thread: they are short, and a worker thread is the costlier choice
in a busy uvloop server. uvloop releases the GIL around its I/O and takes it back for every
callback, so a thread waiting for the GIL is woken by each of those releases and usually loses the
race again. The shortener's link-change listener polling through `asyncio.to_thread` every 50 ms
cost its redirect path a large share of its throughput that way (docs/benchmarks.md, Shortener).
When another connection holds a lock a read needs (SQLITE_BUSY), the read goes to a worker thread,
which waits for the lock there (up to the busy timeout). Writes (publishes, group commits, trims)
run in a worker thread: each ends in an fsync, whose tail (several milliseconds now and then) must
not stall the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from scalebox.core.clock import Clock
from scalebox.core.events.port import BATCH_RECORDS_MAX, Event
from scalebox.core.sqlite_inline import is_busy

_T = TypeVar("_T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# "offset" is an SQL keyword, hence the quotes. topics.next_offset is the high-water mark: it is never
# lowered, so trimming a whole topic never makes an offset be handed out twice.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY,
    next_offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    topic TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    timestamp_us INTEGER NOT NULL,
    PRIMARY KEY (topic, "offset")
);
CREATE TABLE IF NOT EXISTS group_offsets (
    topic TEXT NOT NULL,
    group_name TEXT NOT NULL,
    committed_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, group_name)
);
"""

# A prefix of the log goes: at most up to the slowest known group's commit, and never past the first
# event stamped at or after the cut (so offsets stay contiguous even if wall time stepped back).
_TRIM = """
DELETE FROM events
WHERE topic = :topic
  AND "offset" <= COALESCE(
      (SELECT MIN(committed_offset) FROM group_offsets WHERE topic = :topic), "offset")
  AND "offset" < COALESCE(
      (SELECT MIN("offset") FROM events WHERE topic = :topic AND timestamp_us >= :cut_us), "offset" + 1)
"""


class SqliteEventBus:
    """A durable EventBus in a SQLite file; `publish` returns only after the event is fsynced."""

    def __init__(
        self,
        path: Path,
        clock: Clock,
        *,
        busy_timeout_seconds: float = 10.0,
        poll_interval_seconds: float = 0.05,
    ) -> None:
        self._clock = clock
        self._poll_interval_seconds = poll_interval_seconds
        self._lock = threading.Lock()  # one connection, used from worker threads one at a time
        self._connection = _connect(path, busy_timeout_seconds)
        # The caller's own connection, for reads: no busy wait, so the event loop never sleeps on a
        # lock (SQLITE_BUSY at once, and the read moves to a worker thread).
        self._inline = _connect(path, busy_timeout_seconds)
        self._inline.execute("PRAGMA busy_timeout = 0")
        # Replaced on every publish after being set, so a waiter that grabbed it before checking the
        # log cannot miss an in-process publish that lands between its check and its wait.
        self._published = asyncio.Event()

    async def publish(self, topic: str, key: bytes, value: bytes) -> int:
        timestamp_us = _encode_timestamp(self._clock.now())
        offset = await self._run(lambda conn: _insert_event(conn, topic, key, value, timestamp_us))
        self._published.set()
        self._published = asyncio.Event()
        return offset

    async def publish_batch(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        assert len(records) <= BATCH_RECORDS_MAX, len(records)
        if not records:
            return []
        timestamp_us = _encode_timestamp(self._clock.now())
        first = await self._run(lambda conn: _insert_events(conn, topic, records, timestamp_us))
        self._published.set()
        self._published = asyncio.Event()
        return list(range(first, first + len(records)))

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        assert max_events > 0, max_events
        return await self._now(lambda conn: _select_events(conn, topic, group, max_events))

    async def commit(self, topic: str, group: str, offset: int) -> None:
        await self._run(lambda conn: _upsert_group_offset(conn, topic, group, offset))

    async def committed(self, topic: str, group: str) -> int | None:
        return await self._now(lambda conn: _select_group_offset(conn, topic, group))

    async def latest_offset(self, topic: str) -> int:
        return await self._now(lambda conn: _select_latest_offset(conn, topic))

    async def wait(self, topic: str, after_offset: int, timeout_seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while True:
            published = self._published
            if await self._now(lambda conn: _select_latest_offset(conn, topic)) > after_offset:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # Other processes' publishes ring no bell here, so look again after a short interval.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(published.wait(), min(remaining, self._poll_interval_seconds))

    async def trim(self, topic: str, keep_after: datetime) -> int:
        """Drop the oldest events stamped before `keep_after` that every known group has committed.

        A group is known once it has committed. Only a prefix of the log goes, so offsets stay
        contiguous; with no known group this is plain time-based retention. Returns how many went.
        """
        cut_us = _encode_timestamp(keep_after)
        return await self._run(lambda conn: _delete_prefix(conn, topic, cut_us))

    async def close(self) -> None:
        self._inline.close()
        await self._run(lambda conn: conn.close())

    async def _now(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """`operation` (one short read) here and now, unless another connection holds a lock it
        needs: then in a worker thread that waits for it."""
        try:
            result = operation(self._inline)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            return await self._run(operation)
        await asyncio.sleep(0)  # a consumer looping over a busy topic still lets other tasks run
        return result

    async def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        def locked() -> _T:
            with self._lock:
                return operation(self._connection)

        return await asyncio.to_thread(locked)


def _connect(path: Path, busy_timeout_seconds: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; writes that need one open it themselves.
    conn = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(_SCHEMA)
    return conn


@contextlib.contextmanager
def _immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _insert_event(conn: sqlite3.Connection, topic: str, key: bytes, value: bytes, timestamp_us: int) -> int:
    with _immediate_transaction(conn):
        rows = conn.execute(
            "INSERT INTO topics (topic, next_offset) VALUES (?, 1)"
            " ON CONFLICT (topic) DO UPDATE SET next_offset = next_offset + 1"
            " RETURNING next_offset - 1",
            (topic,),
        ).fetchall()
        offset: int = rows[0][0]
        conn.execute(
            'INSERT INTO events (topic, "offset", key, value, timestamp_us) VALUES (?, ?, ?, ?, ?)',
            (topic, offset, key, value, timestamp_us),
        )
    return offset


def _insert_events(
    conn: sqlite3.Connection, topic: str, records: Sequence[tuple[bytes, bytes]], timestamp_us: int
) -> int:
    with _immediate_transaction(conn):
        rows = conn.execute(
            "INSERT INTO topics (topic, next_offset) VALUES (?, ?)"
            " ON CONFLICT (topic) DO UPDATE SET next_offset = next_offset + excluded.next_offset"
            " RETURNING next_offset - ?",
            (topic, len(records), len(records)),
        ).fetchall()
        first: int = rows[0][0]
        conn.executemany(
            'INSERT INTO events (topic, "offset", key, value, timestamp_us) VALUES (?, ?, ?, ?, ?)',
            [(topic, first + index, key, value, timestamp_us) for index, (key, value) in enumerate(records)],
        )
    return first


def _select_events(conn: sqlite3.Connection, topic: str, group: str, max_events: int) -> list[Event]:
    rows = conn.execute(
        'SELECT "offset", key, value, timestamp_us FROM events WHERE topic = ? AND "offset" > COALESCE('
        "(SELECT committed_offset FROM group_offsets WHERE topic = ? AND group_name = ?), -1)"
        ' ORDER BY "offset" LIMIT ?',
        (topic, topic, group, max_events),
    ).fetchall()
    return [Event(topic, key, value, offset, _decode_timestamp(us)) for offset, key, value, us in rows]


def _upsert_group_offset(conn: sqlite3.Connection, topic: str, group: str, offset: int) -> None:
    conn.execute(
        "INSERT INTO group_offsets (topic, group_name, committed_offset) VALUES (?, ?, ?)"
        " ON CONFLICT (topic, group_name) DO UPDATE SET committed_offset = excluded.committed_offset",
        (topic, group, offset),
    )


def _select_group_offset(conn: sqlite3.Connection, topic: str, group: str) -> int | None:
    row = conn.execute(
        "SELECT committed_offset FROM group_offsets WHERE topic = ? AND group_name = ?", (topic, group)
    ).fetchone()
    return None if row is None else int(row[0])


def _select_latest_offset(conn: sqlite3.Connection, topic: str) -> int:
    row = conn.execute("SELECT next_offset FROM topics WHERE topic = ?", (topic,)).fetchone()
    return -1 if row is None else int(row[0]) - 1


def _delete_prefix(conn: sqlite3.Connection, topic: str, cut_us: int) -> int:
    with _immediate_transaction(conn):
        return conn.execute(_TRIM, {"topic": topic, "cut_us": cut_us}).rowcount


def _encode_timestamp(moment: datetime) -> int:
    assert moment.tzinfo is not None, "event timestamps are aware datetimes"
    return (moment - _EPOCH) // _MICROSECOND


def _decode_timestamp(timestamp_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=timestamp_us)
