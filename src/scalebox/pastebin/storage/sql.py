"""SQLAlchemy Core adapters of PasteRepository and ReportRepository, for SQLite and PostgreSQL.

Adapters translate and delegate: every rule (what is listed, what expires) is decided by the service
or by the domain predicates mirrored in `_listed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scalebox.pastebin.domain import Paste, PasteFile, Visibility
from scalebox.pastebin.errors import IdCollisionError
from scalebox.pastebin.ports import Report
from scalebox.pastebin.storage.tables import contents, files, pastes, reports, terms, views

_BATCH_ROWS_MAX = 500


def _upsert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _listed(now: datetime) -> ColumnElement[bool]:
    # Mirrors domain.Paste.is_listed, so discovery filters in SQL rather than in Python.
    return and_(
        pastes.c.visibility == Visibility.PUBLIC.value,
        pastes.c.burn_after_reading.is_(False),
        pastes.c.encrypted.is_(False),
        pastes.c.hidden.is_(False),
        or_(pastes.c.expires_at.is_(None), pastes.c.expires_at > now),
    )


class SqlPasteRepository:
    """PasteRepository over an AsyncEngine (SQLite with WAL, or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, paste: Paste, now: datetime) -> None:
        row = {
            "id": paste.id,
            "owner_id": paste.owner_id,
            "title": paste.title,
            "visibility": paste.visibility.value,
            "burn_after_reading": paste.burn_after_reading,
            "encrypted": paste.encrypted,
            "created_at": paste.created_at,
            "expires_at": paste.expires_at,
            "removal_hash": paste.removal_hash,
            "source": paste.source,
            "view_count": 0,
            "scan_verdict": paste.scan_verdict,
            "hidden": paste.hidden,
        }
        file_rows = [
            {
                "paste_id": paste.id,
                "position": f.position,
                "name": f.name,
                "lexer": f.lexer,
                "content_hash": f.content_hash,
                "size_bytes": f.size_bytes,
            }
            for f in paste.files
        ]
        try:
            async with self._engine.begin() as conn:
                await conn.execute(pastes.insert().values(row))
                await conn.execute(files.insert(), file_rows)
                for digest in sorted({f.content_hash for f in paste.files}):
                    statement = _upsert(conn, contents).values(content_hash=digest, last_ref_at=now)
                    await conn.execute(
                        statement.on_conflict_do_update(
                            index_elements=["content_hash"], set_={"last_ref_at": now}
                        )
                    )
        except IntegrityError as exc:
            raise IdCollisionError(f"paste id {paste.id} is taken") from exc

    async def get(self, paste_id: str) -> Paste | None:
        async with self._engine.connect() as conn:
            found = await self._load(conn, pastes.c.id == paste_id, limit=1)
        return found[0] if found else None

    async def get_by_removal_hash(self, removal_hash: str) -> Paste | None:
        async with self._engine.connect() as conn:
            found = await self._load(conn, pastes.c.removal_hash == removal_hash, limit=1)
        return found[0] if found else None

    async def delete(self, paste_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(pastes).where(pastes.c.id == paste_id))
        return result.rowcount == 1

    async def list_recent(self, now: datetime, limit: int) -> list[Paste]:
        async with self._engine.connect() as conn:
            return await self._load(conn, _listed(now), limit=limit)

    async def list_by_owner(self, owner_id: int, limit: int, offset: int = 0) -> list[Paste]:
        async with self._engine.connect() as conn:
            return await self._load(conn, pastes.c.owner_id == owner_id, limit=limit, offset=offset)

    async def list_trending(self, since: datetime, now: datetime, limit: int) -> list[tuple[Paste, int]]:
        recent = func.sum(views.c.count).label("recent")
        query = (
            select(views.c.paste_id, recent)
            .join(pastes, pastes.c.id == views.c.paste_id)
            .where(views.c.bucket >= since, _listed(now))
            .group_by(views.c.paste_id)
            .order_by(recent.desc(), views.c.paste_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            ranked = [(row.paste_id, int(row.recent)) for row in await conn.execute(query)]
            loaded = {p.id: p for p in await self._load(conn, pastes.c.id.in_([pid for pid, _ in ranked]))}
        return [(loaded[pid], count) for pid, count in ranked if pid in loaded]

    async def count(self, now: datetime) -> int:
        query = (
            select(func.count())
            .select_from(pastes)
            .where(or_(pastes.c.expires_at.is_(None), pastes.c.expires_at > now))
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def add_views(self, counts: Mapping[str, int], bucket: datetime) -> None:
        if not counts:
            return
        async with self._engine.begin() as conn:
            live = set(
                (await conn.execute(select(pastes.c.id).where(pastes.c.id.in_(list(counts))))).scalars()
            )
            for paste_id in sorted(live):  # sorted: a stable lock order across writers
                count = counts[paste_id]
                await conn.execute(
                    update(pastes)
                    .where(pastes.c.id == paste_id)
                    .values(view_count=pastes.c.view_count + count)
                )
                statement = _upsert(conn, views).values(paste_id=paste_id, bucket=bucket, count=count)
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["paste_id", "bucket"], set_={"count": views.c.count + count}
                    )
                )

    async def prune_views(self, before: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(views).where(views.c.bucket < before))
        return int(result.rowcount)

    async def delete_expired(self, now: datetime, limit: int) -> list[str]:
        async with self._engine.begin() as conn:
            query = (
                select(pastes.c.id)
                .where(pastes.c.expires_at <= now)
                .order_by(pastes.c.expires_at)
                .limit(limit)
            )
            expired = list((await conn.execute(query)).scalars())
            if expired:
                await conn.execute(delete(pastes).where(pastes.c.id.in_(expired)))
        return expired

    async def list_orphan_contents(self, unreferenced_since: datetime, limit: int) -> list[str]:
        referenced = select(files.c.content_hash).where(files.c.content_hash == contents.c.content_hash)
        query = (
            select(contents.c.content_hash)
            .where(contents.c.last_ref_at < unreferenced_since, ~referenced.exists())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def reap_content(
        self, digest: str, unreferenced_since: datetime, delete_blobs: Callable[[], Awaitable[None]]
    ) -> bool:
        referenced = select(files.c.content_hash).where(files.c.content_hash == digest)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(contents).where(
                    contents.c.content_hash == digest,
                    contents.c.last_ref_at < unreferenced_since,
                    ~referenced.exists(),
                )
            )
            if result.rowcount != 1:
                return False  # referenced again since it was listed
            # Still inside the transaction: a create of the same content waits on our lock, and
            # re-checks its blob after its own commit (see PasteService.create).
            await delete_blobs()
        return True

    async def set_scan_verdict(self, paste_id: str, verdict: str | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(pastes).where(pastes.c.id == paste_id).values(scan_verdict=verdict))

    async def set_hidden(self, paste_id: str, hidden: bool) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(pastes).where(pastes.c.id == paste_id).values(hidden=hidden))

    async def index_terms(self, paste_id: str, words: Iterable[str]) -> None:
        rows = [{"term": term, "paste_id": paste_id} for term in sorted(set(words))]
        async with self._engine.begin() as conn:
            await conn.execute(delete(terms).where(terms.c.paste_id == paste_id))
            for start in range(0, len(rows), _BATCH_ROWS_MAX):
                await conn.execute(terms.insert(), rows[start : start + _BATCH_ROWS_MAX])

    async def search(self, words: list[str], now: datetime, limit: int) -> list[Paste]:
        if not words:
            return []
        matching = (
            select(terms.c.paste_id)
            .where(terms.c.term.in_(words))
            .group_by(terms.c.paste_id)
            .having(func.count(terms.c.term) == len(set(words)))
        )
        async with self._engine.connect() as conn:
            return await self._load(conn, and_(pastes.c.id.in_(matching), _listed(now)), limit=limit)

    async def _load(
        self, conn: AsyncConnection, where: ColumnElement[bool], *, limit: int | None = None, offset: int = 0
    ) -> list[Paste]:
        query = select(pastes).where(where).order_by(pastes.c.created_at.desc(), pastes.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = list(await conn.execute(query))
        if not rows:
            return []
        file_query = (
            select(files)
            .where(files.c.paste_id.in_([row.id for row in rows]))
            .order_by(files.c.paste_id, files.c.position)
        )
        by_paste: dict[str, list[PasteFile]] = {}
        for f in await conn.execute(file_query):
            by_paste.setdefault(f.paste_id, []).append(
                PasteFile(f.position, f.name, f.lexer, f.content_hash, f.size_bytes)
            )
        return [_paste(row, by_paste.get(row.id, ())) for row in rows]


def _paste(row: Row[Any], paste_files: Sequence[PasteFile]) -> Paste:
    return Paste(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        visibility=Visibility(row.visibility),
        burn_after_reading=row.burn_after_reading,
        encrypted=row.encrypted,
        created_at=row.created_at,
        expires_at=row.expires_at,
        removal_hash=row.removal_hash,
        files=tuple(paste_files),
        source=row.source,
        view_count=row.view_count,
        scan_verdict=row.scan_verdict,
        hidden=row.hidden,
    )


class SqlReportRepository:
    """ReportRepository over an AsyncEngine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, paste_id: str, reporter_id: int | None, reason: str, now: datetime) -> Report:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                reports.insert().values(
                    paste_id=paste_id, reporter_id=reporter_id, reason=reason, created_at=now
                )
            )
            report_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Report(report_id, paste_id, reporter_id, reason, now)

    async def list_open(self, limit: int) -> list[Report]:
        query = select(reports).where(reports.c.resolved_at.is_(None)).order_by(reports.c.id).limit(limit)
        async with self._engine.connect() as conn:
            return [
                Report(r.id, r.paste_id, r.reporter_id, r.reason, r.created_at, r.resolved_at, r.resolution)
                for r in await conn.execute(query)
            ]

    async def resolve(self, report_id: int, resolution: str, now: datetime) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(reports)
                .where(reports.c.id == report_id, reports.c.resolved_at.is_(None))
                .values(resolved_at=now, resolution=resolution)
            )
        return result.rowcount == 1

    async def resolve_for_paste(self, paste_id: str, resolution: str, now: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(reports)
                .where(reports.c.paste_id == paste_id, reports.c.resolved_at.is_(None))
                .values(resolved_at=now, resolution=resolution)
            )
        return int(result.rowcount)
