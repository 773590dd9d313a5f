"""An aiosqlite-shaped SQLite connection that runs every call on the caller's thread.

SQLAlchemy's `sqlite+aiosqlite` dialect drives whatever connection `open_engine` hands it through
`async_creator`; aiosqlite itself sends each call to a thread of its own and waits for the answer.
In a busy uvloop server that hop is the expensive part: uvloop releases the GIL around its I/O and
takes it back for every callback, so a thread waiting for the GIL is woken by each release and
usually loses the race again, and every statement pays for hundreds of futile wake-ups. (The object
store's small PUT, six statements in one transaction, measured about 7 ms of server CPU that way.)
SQLite answers a typical statement here in microseconds from the page cache, so running it inline
is cheaper than any hand-off; a statement that must wait for another process's write lock waits in a
worker thread instead (the connection's own busy timeout is zero, so SQLite says so at once).

What the dialect's adapter (sqlalchemy.dialects.sqlite.aiosqlite) uses of aiosqlite is all here:
`cursor()` as an async context manager, awaitable `execute`/`executemany`/`fetch*`/`close`,
`commit`, `rollback`, `create_function`, `isolation_level`, and the `_conn`, `_connection` and
`_tx` attributes it reaches into.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

BUSY_TIMEOUT_MS = 10_000
"""How long a statement that found the database locked waits for it, in a worker thread."""


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (SQLITE_BUSY and its variants)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY


async def _call(conn: sqlite3.Connection, function: Callable[[], _T]) -> _T:
    """`function()` now; if SQLite reports the database busy, again in a worker thread that waits up
    to BUSY_TIMEOUT_MS for the lock (the busy timeout is raised for that call only)."""
    try:
        return function()
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            raise

    def waiting() -> _T:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            return function()
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    return await asyncio.to_thread(waiting)


class InlineCursor:
    """aiosqlite's Cursor, minus the thread."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = self._cursor
        if parameters is None:
            await _call(self._connection._conn, lambda: cursor.execute(sql))
        else:
            await _call(self._connection._conn, lambda: cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)  # a generator could not be run a second time in the thread
        cursor = self._cursor
        await _call(self._connection._conn, lambda: cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _CursorContext:
    """What `InlineConnection.cursor()` returns: awaitable, and an async context manager, as in aiosqlite."""

    def __init__(self, make: Callable[[], InlineCursor]) -> None:
        self._make = make

    def __await__(self) -> Any:
        return self._ready().__await__()

    async def _ready(self) -> InlineCursor:
        return self._make()

    async def __aenter__(self) -> InlineCursor:
        return self._make()

    async def __aexit__(self, *exc: object) -> None:
        return None


class _RunNow:
    """Stands in for aiosqlite's request queue, which the adapter's isolation-level setter fills."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiter, as aiosqlite's thread does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """aiosqlite's Connection, minus the thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # the adapter checks it before commit
        self._tx = _RunNow()

    def cursor(self) -> _CursorContext:
        return _CursorContext(lambda: InlineCursor(self, self._conn.cursor()))

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = InlineCursor(self, self._conn.cursor())
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await _call(self._conn, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (the adapter's terminate); closing twice is harmless."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value


def inline_creator(path: Path | str) -> Callable[[], Any]:
    """The `async_creator` for an engine on the SQLite file at `path`."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")
        return InlineConnection(conn)

    return connect
