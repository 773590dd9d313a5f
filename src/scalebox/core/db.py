"""The `db` port: SQLAlchemy 2 Core over asyncio; SQLite (WAL) by default, PostgreSQL by URL.

Each system keeps its own Alembic migrations (`<system>/migrations/`) and its own version table, so
systems can share one PostgreSQL database without stepping on each other.
"""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from scalebox.core.sqlite_inline import inline_creator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite stores naive text and hands it back naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "store aware datetimes only"
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_metadata() -> MetaData:
    """Metadata with deterministic constraint names, so migrations are portable across engines."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def open_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An AsyncEngine for `url`: `sqlite+aiosqlite:///file.db` or `postgresql+asyncpg://...`.

    Plain `sqlite:///` and `postgresql://` URLs get their async driver added.
    """
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Statements run on the event loop's thread, not aiosqlite's (see core/sqlite_inline.py).
        engine = create_async_engine(
            parsed,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            async_creator=inline_creator(parsed.database or ":memory:"),
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
        return create_async_engine(
            parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL is durable against a process crash
    # (kill -9) because the WAL is in the OS page cache. The busy timeout stays zero: a statement
    # that finds the database locked by another writer is retried in a worker thread that waits for
    # the lock (up to sqlite_inline.BUSY_TIMEOUT_MS), never on the event loop.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def upgrade(engine: AsyncEngine, package: str, *, version_table: str, revision: str = "head") -> None:
    """Run `package`'s Alembic migrations (e.g. "scalebox.pastebin.migrations") up to `revision`.

    On PostgreSQL an advisory lock serialises processes that start together.
    """
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": version_table})
        await conn.run_sync(_upgrade_sync, package, version_table, revision)


def _upgrade_sync(connection: Connection, package: str, version_table: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(importlib.resources.files(package)))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    command.upgrade(config, revision)


def run_migrations_from_env(target_metadata: MetaData | None = None) -> None:
    """The body of every system's `migrations/env.py`: migrate on the connection `upgrade` passed."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()
