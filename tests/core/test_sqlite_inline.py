"""SQLite engines from `open_engine` run statements on the caller's thread (core/sqlite_inline.py):
transactions, errors and rollbacks behave as through aiosqlite, and a statement that finds the file
locked by another writer waits for it in a worker thread while the event loop keeps turning."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.db import open_engine, sqlite_url

TIMEOUT_SECONDS = 10.0
metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(sqlite_url(tmp_path / "t.db"), pool_size=1)  # one connection: the one checked
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(items.c.name).order_by(items.c.id))).scalars())


async def test_statements_and_commits_run_without_a_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_thread(*args: object) -> None:
        raise AssertionError("a statement SQLite could run at once went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    async with engine.begin() as conn:
        await conn.execute(insert(items), [{"name": "a"}, {"name": "b"}])
        inserted = await conn.execute(insert(items).values(name="c"))
        assert inserted.inserted_primary_key == (3,)
    assert await names(engine) == ["a", "b", "c"]
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0


async def test_errors_and_rollbacks_behave_as_through_aiosqlite(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(items).values(name="a"))

    async def insert_b_then_a_again() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(items).values(name="b"))
            await conn.execute(insert(items).values(name="a"))  # unique: the whole transaction goes

    with pytest.raises(IntegrityError):
        await insert_b_then_a_again()
    assert await names(engine) == ["a"]
    async with engine.connect() as conn:
        await conn.execute(insert(items).values(name="c"))
        await conn.rollback()
    assert await names(engine) == ["a"]


async def test_a_write_waits_for_another_writers_lock_in_a_thread(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's writer, as far as the engine can tell
        holder.execute("INSERT INTO items (name) VALUES ('first')")

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(insert(items).values(name="second"))

        writing = asyncio.create_task(write())
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.005)
            ticks += 1
        assert not writing.done()
        holder.execute("COMMIT")
        await asyncio.wait_for(writing, TIMEOUT_SECONDS)
    finally:
        holder.close()
    assert await names(engine) == ["first", "second"]
    async with engine.connect() as conn:  # the wait raised the busy timeout for that call only
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0
