"""The SQL of SqliteEventBus's log file, and the writer process that can run its writes.

Standard library only, and outside the `events` package on purpose: `python -m
scalebox.core.sqlite_log PATH BUSY_TIMEOUT` starts the writer without importing the event bus
adapters (Kafka's client among them), in a few tens of milliseconds.

Why a writer process: every write to the log ends in an fsync, which must not stall the caller's
event loop, so SqliteEventBus runs writes off the loop. In a worker thread each write costs a busy
uvloop server far more than the write itself: the thread must win the GIL back after every SQLite
call, and it is woken by each of the loop's many GIL releases, losing the race most times. Measured
on the shortener under wrk, publishing visits every 50 ms from a thread took 15-20 µs of the
server's CPU per redirect, about a third of it (docs/benchmarks.md). A process shares no GIL: the
server writes a frame to a pipe, the writer commits and answers.

The protocol on the writer's stdin and stdout: frames of a 4-byte big-endian length and a
`marshal`-encoded body. A request is `(operation, arguments)`; the answer, in request order, is
`("ok", result)` or `("error", message)`. The writer ends at EOF on its stdin (its parent
closed the bus, or died), after finishing every request it had read.
"""

from __future__ import annotations

import contextlib
import marshal
import signal
import sqlite3
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 256 * 1024 * 1024  # a batch of BATCH_RECORDS_MAX events of 1 MiB is far below

# "offset" is an SQL keyword, hence the quotes. topics.next_offset is the high-water mark: it is never
# lowered, so trimming a whole topic never makes an offset be handed out twice.
SCHEMA = """
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


def connect(path: Path, busy_timeout_seconds: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit transactions; writes that need one open it themselves.
    conn = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(SCHEMA)
    return conn


@contextlib.contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def insert_event(conn: sqlite3.Connection, topic: str, key: bytes, value: bytes, timestamp_us: int) -> int:
    with immediate_transaction(conn):
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


def insert_events(
    conn: sqlite3.Connection, topic: str, records: Sequence[tuple[bytes, bytes]], timestamp_us: int
) -> int:
    with immediate_transaction(conn):
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


def upsert_group_offset(conn: sqlite3.Connection, topic: str, group: str, offset: int) -> None:
    conn.execute(
        "INSERT INTO group_offsets (topic, group_name, committed_offset) VALUES (?, ?, ?)"
        " ON CONFLICT (topic, group_name) DO UPDATE SET committed_offset = excluded.committed_offset",
        (topic, group, offset),
    )


def delete_prefix(conn: sqlite3.Connection, topic: str, cut_us: int) -> int:
    with immediate_transaction(conn):
        return conn.execute(_TRIM, {"topic": topic, "cut_us": cut_us}).rowcount


# The writes a writer process runs, by the name a request gives.
WRITES: dict[str, Callable[..., Any]] = {
    "event": insert_event,
    "events": insert_events,
    "commit": upsert_group_offset,
    "trim": delete_prefix,
}


def encode_frame(body: Any) -> bytes:
    data = marshal.dumps(body)
    if len(data) > FRAME_BYTES_MAX:
        raise ValueError(
            f"a write of {len(data)} bytes is over the writer's {FRAME_BYTES_MAX}-byte frame limit"
        )
    return FRAME_HEADER.pack(len(data)) + data


def _read_frame(stream: BinaryIO) -> Any | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None  # EOF: the parent is gone or done
    (length,) = FRAME_HEADER.unpack(header)
    if length > FRAME_BYTES_MAX:
        raise ValueError(f"frame of {length} bytes is over the {FRAME_BYTES_MAX}-byte limit")
    body = stream.read(length)
    if len(body) < length:
        return None
    return marshal.loads(body)


def serve_writes(conn: sqlite3.Connection, requests: BinaryIO, answers: BinaryIO) -> int:
    """Run each request read from `requests` on `conn` and answer it, until EOF; returns how many."""
    served = 0
    while (request := _read_frame(requests)) is not None:
        operation, arguments = request
        try:
            answer: tuple[Any, ...] = ("ok", WRITES[operation](conn, *arguments))
        except sqlite3.Error as exc:  # the caller's to handle; the writer goes on
            name = getattr(exc, "sqlite_errorname", type(exc).__name__)
            answer = ("error", f"{exc} ({name})")
        answers.write(encode_frame(answer))
        answers.flush()
        served += 1
    return served


def main(argv: list[str]) -> int:
    path, busy_timeout_seconds = Path(argv[0]), float(argv[1])
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when writing stops
    # (it closes our stdin), so its last writes at shutdown still land.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = connect(path, busy_timeout_seconds)
    try:
        serve_writes(conn, sys.stdin.buffer, sys.stdout.buffer)
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
