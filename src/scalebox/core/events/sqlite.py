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
never run on the caller's thread: each ends in an fsync, whose tail (several milliseconds now and
then) must not stall the caller's event loop. They run in a worker thread, or with
`writer="process"` in a writer process fed through a pipe (core/sqlite_log.py), which spares a busy
server the same GIL hand-offs the reads avoid.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from scalebox.core import sqlite_log
from scalebox.core.clock import Clock
from scalebox.core.events.port import BATCH_RECORDS_MAX, Event
from scalebox.core.sqlite_inline import is_busy

_T = TypeVar("_T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SqliteEventBus:
    """A durable EventBus in a SQLite file; `publish` returns only after the event is fsynced.

    `writer` says where writes run: "thread" (a worker thread of this process) or "process" (a
    writer process fed through a pipe, started at the first write and again after it died; see
    core/sqlite_log.py for why a busy server wants it). Either way a write returns once committed.
    """

    def __init__(
        self,
        path: Path,
        clock: Clock,
        *,
        busy_timeout_seconds: float = 10.0,
        poll_interval_seconds: float = 0.05,
        writer: Literal["thread", "process"] = "thread",
    ) -> None:
        self._clock = clock
        self._poll_interval_seconds = poll_interval_seconds
        self._lock = threading.Lock()  # one connection, used from worker threads one at a time
        self._connection = sqlite_log.connect(path, busy_timeout_seconds)
        # The caller's own connection, for reads: no busy wait, so the event loop never sleeps on a
        # lock (SQLITE_BUSY at once, and the read moves to a worker thread).
        self._inline = sqlite_log.connect(path, busy_timeout_seconds)
        self._inline.execute("PRAGMA busy_timeout = 0")
        self._process = _WriterProcess(path, busy_timeout_seconds) if writer == "process" else None
        # Replaced on every publish after being set, so a waiter that grabbed it before checking the
        # log cannot miss an in-process publish that lands between its check and its wait.
        self._published = asyncio.Event()

    async def publish(self, topic: str, key: bytes, value: bytes) -> int:
        timestamp_us = _encode_timestamp(self._clock.now())
        offset: int = await self._write("event", topic, key, value, timestamp_us)
        self._published.set()
        self._published = asyncio.Event()
        return offset

    async def publish_batch(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        assert len(records) <= BATCH_RECORDS_MAX, len(records)
        if not records:
            return []
        timestamp_us = _encode_timestamp(self._clock.now())
        first: int = await self._write("events", topic, list(records), timestamp_us)
        self._published.set()
        self._published = asyncio.Event()
        return list(range(first, first + len(records)))

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        assert max_events > 0, max_events
        return await self._now(lambda conn: _select_events(conn, topic, group, max_events))

    async def commit(self, topic: str, group: str, offset: int) -> None:
        await self._write("commit", topic, group, offset)

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
        deleted: int = await self._write("trim", topic, cut_us)
        return deleted

    async def close(self) -> None:
        if self._process is not None:
            await self._process.close()
        self._inline.close()
        await self._run(lambda conn: conn.close())

    async def _write(self, operation: str, *arguments: Any) -> Any:
        """One of sqlite_log.WRITES, in the writer process or a worker thread."""
        if self._process is not None:
            return await self._process.call(operation, arguments)
        write = sqlite_log.WRITES[operation]
        return await self._run(lambda conn: write(conn, *arguments))

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


class _WriterProcess:
    """`python -m scalebox.core.sqlite_log`, fed write requests through its stdin (see there).

    Requests are answered in order, so each call queues a future as it writes its frame and the
    reader task resolves them first to last. If the writer dies, the calls in flight fail (their
    writes may or may not have committed, as with a broker connection lost mid-produce) and the next
    call starts a new writer.
    """

    def __init__(self, path: Path, busy_timeout_seconds: float) -> None:
        self._arguments = (str(path), repr(busy_timeout_seconds))
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._starting = asyncio.Lock()
        self._closed = False

    async def call(self, operation: str, arguments: tuple[Any, ...]) -> Any:
        frame = sqlite_log.encode_frame((operation, arguments))
        process = await self._running()
        assert process.stdin is not None
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        process.stdin.write(frame)
        with contextlib.suppress(ConnectionError):  # the writer died: its reader fails this call
            await process.stdin.drain()
        return await answer

    async def _running(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed event log.")
            if (
                self._process is None
                or self._process.returncode is not None
                or self._reader is None
                or self._reader.done()
            ):
                if self._process is not None:
                    await self._stop()
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "scalebox.core.sqlite_log",
                    *self._arguments,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    start_new_session=True,  # signals to our process group are ours to act on
                )
                self._reader = asyncio.create_task(self._read(self._process), name="sqlite-log-writer")
            return self._process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while True:
                header = await process.stdout.readexactly(sqlite_log.FRAME_HEADER.size)
                (length,) = sqlite_log.FRAME_HEADER.unpack(header)
                answer = marshal.loads(await process.stdout.readexactly(length))
                waiting = self._waiting.popleft()
                if waiting.done():
                    continue  # its caller was cancelled
                if answer[0] == "ok":
                    waiting.set_result(answer[1])
                else:
                    waiting.set_exception(sqlite3.OperationalError(answer[1]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            lost = EventBusWriterError(f"the event log's writer process (pid {process.pid}) went away")
            while self._waiting:
                waiting = self._waiting.popleft()
                if not waiting.done():
                    waiting.set_exception(lost)

    async def close(self) -> None:
        async with self._starting:
            self._closed = True
            await self._stop()

    async def _stop(self) -> None:
        process, reader = self._process, self._reader
        self._process = self._reader = None
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()  # EOF: the writer finishes what it read, answers, and exits
        try:
            async with asyncio.timeout(_WRITER_EXIT_SECONDS):
                if reader is not None:
                    await reader
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


class EventBusWriterError(ConnectionError):
    """The writer process died with this write in flight: it may or may not have been committed."""


_WRITER_EXIT_SECONDS = 30.0


def _select_events(conn: sqlite3.Connection, topic: str, group: str, max_events: int) -> list[Event]:
    rows = conn.execute(
        'SELECT "offset", key, value, timestamp_us FROM events WHERE topic = ? AND "offset" > COALESCE('
        "(SELECT committed_offset FROM group_offsets WHERE topic = ? AND group_name = ?), -1)"
        ' ORDER BY "offset" LIMIT ?',
        (topic, topic, group, max_events),
    ).fetchall()
    return [Event(topic, key, value, offset, _decode_timestamp(us)) for offset, key, value, us in rows]


def _select_group_offset(conn: sqlite3.Connection, topic: str, group: str) -> int | None:
    row = conn.execute(
        "SELECT committed_offset FROM group_offsets WHERE topic = ? AND group_name = ?", (topic, group)
    ).fetchone()
    return None if row is None else int(row[0])


def _select_latest_offset(conn: sqlite3.Connection, topic: str) -> int:
    row = conn.execute("SELECT next_offset FROM topics WHERE topic = ?", (topic,)).fetchone()
    return -1 if row is None else int(row[0]) - 1


def _encode_timestamp(moment: datetime) -> int:
    assert moment.tzinfo is not None, "event timestamps are aware datetimes"
    return (moment - _EPOCH) // _MICROSECOND


def _decode_timestamp(timestamp_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=timestamp_us)
