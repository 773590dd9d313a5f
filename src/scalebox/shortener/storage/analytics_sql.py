"""SqlVisitRepository: stored visits, their daily rollups and the links' visit counters (SQLite and
PostgreSQL). One transaction per batch keeps the three in step; event ids make redelivery harmless."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scalebox.shortener.analytics import (
    Dimension,
    VisitCounts,
    VisitQuery,
    VisitSummary,
    day_of,
    rollup_values,
)
from scalebox.shortener.ports import StoredVisit
from scalebox.shortener.storage.tables import link_tags, links, visit_rollups, visits

_IN_CHUNK = 1000  # ids per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits
_FIELDS = tuple(field.name for field in fields(StoredVisit))
_ROLLUP_KEY = ("link_id", "day", "is_bot", "dimension", "value")
RollupKey = tuple[int, str, bool, str, str]


class SqlVisitRepository:
    """Visits, rollups and counters over an AsyncEngine (SQLite with WAL, or PostgreSQL).

    `owner_id` None means every link (administrators); otherwise only visits of that owner's links.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes: _Writes | None = None  # compiled on first use, for the engine's dialect

    async def store_batch(self, batch: Sequence[StoredVisit]) -> int:
        """Store the visits not stored yet, with their rollups and counters; returns how many were new.

        Delivery is at least once, so some may be stored already: those are skipped, not counted
        twice. A visit to a link deleted since its redirect is dropped: its link's visits went too.
        Two writers racing on one event make one fail on the key and retry, seeing it stored.
        """
        by_event = {visit.event_id: visit for visit in batch}
        if not by_event:
            return 0
        async with self._engine.begin() as conn:
            writes = self._writes or _compile_writes(conn.dialect)
            self._writes = writes
            stored = await _present(conn, visits.c.event_id, by_event)
            fresh = [visit for event_id, visit in by_event.items() if event_id not in stored]
            live = await _present(conn, links.c.id, {v.link_id for v in fresh if v.link_id is not None})
            fresh = [visit for visit in fresh if visit.link_id is None or visit.link_id in live]
            if not fresh:
                return 0
            rows, days = writes.visit_rows(fresh)
            await conn.exec_driver_sql(writes.insert_visit, rows)
            rollups, counters = _tally(fresh, days)
            if rollups:
                await conn.exec_driver_sql(writes.upsert_rollup, writes.rollup_rows(rollups))
            if counters:
                await conn.exec_driver_sql(writes.add_counts, _counter_rows(counters))
        return len(fresh)

    async def page(self, query: VisitQuery) -> tuple[list[StoredVisit], int]:
        """The page of visits `query` asks for, newest first, and how many match in all."""
        conditions = _visit_conditions(query)
        listing = (
            select(*(visits.c[name] for name in _FIELDS))
            .where(*conditions)
            .order_by(visits.c.visited_at.desc(), visits.c.event_id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        counting = select(func.count()).select_from(visits).where(*conditions)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(listing)).all()
            total = int((await conn.execute(counting)).scalar_one())
        return [StoredVisit(**row._asdict()) for row in rows], total

    async def summary(self, owner_id: int | None) -> VisitSummary:
        """Link visits from the links' counters; orphan visits (administrators only, else zero)."""
        owned = select(
            func.coalesce(func.sum(links.c.visits), 0), func.coalesce(func.sum(links.c.bot_visits), 0)
        ).where(*_owner_filter(links.c.owner_id, owner_id))
        orphans = select(func.count(), func.coalesce(func.sum(case((visits.c.is_bot, 1), else_=0)), 0)).where(
            visits.c.kind != "valid"
        )
        async with self._engine.connect() as conn:
            link_total, link_bots = (await conn.execute(owned)).one()
            orphan_total, orphan_bots = (
                (0, 0) if owner_id is not None else (await conn.execute(orphans)).one()
            )
        return VisitSummary(
            non_orphan=VisitCounts(int(link_total), int(link_bots)),
            orphan=VisitCounts(int(orphan_total), int(orphan_bots)),
        )

    async def daily(
        self,
        *,
        owner_id: int | None,
        link_id: int | None,
        start_day: str,
        end_day: str,
        include_bots: bool,
    ) -> list[tuple[str, int]]:
        """Visits per day (days without visits left out), oldest first: one link's, or all the owner's."""
        count = func.sum(visit_rollups.c.count)
        query = (
            select(visit_rollups.c.day, count)
            .where(
                visit_rollups.c.dimension == "total",
                *_rollup_scope(owner_id, link_id, start_day, end_day, include_bots),
            )
            .group_by(visit_rollups.c.day)
            .order_by(visit_rollups.c.day)
        )
        async with self._engine.connect() as conn:
            return [(day, int(total)) for day, total in await conn.execute(query)]

    async def top(
        self,
        *,
        owner_id: int | None,
        link_id: int | None,
        dimension: Dimension,
        start_day: str,
        end_day: str,
        include_bots: bool,
        limit: int,
    ) -> list[tuple[str, int]]:
        """The most frequent values of `dimension` over the days, most visits first, then by value."""
        count = func.sum(visit_rollups.c.count).label("visits")
        query = (
            select(visit_rollups.c.value, count)
            .where(
                visit_rollups.c.dimension == dimension,
                *_rollup_scope(owner_id, link_id, start_day, end_day, include_bots),
            )
            .group_by(visit_rollups.c.value)
            .order_by(count.desc(), visit_rollups.c.value)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [(value, int(total)) for value, total in await conn.execute(query)]

    async def reset(self) -> None:
        """Forget every stored visit, rollup and counter, so replaying the topic rebuilds them."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(visits))
            await conn.execute(delete(visit_rollups))
            await conn.execute(
                update(links)
                .where((links.c.visits != 0) | (links.c.bot_visits != 0))
                .values(visits=0, bot_visits=0)
            )


_COUNTER_UPDATE = (
    update(links)
    .where(links.c.id == bindparam("b_id"))
    .values(
        visits=links.c.visits + bindparam("b_visits"),
        bot_visits=links.c.bot_visits + bindparam("b_bots"),
    )
)


@dataclass(frozen=True, slots=True)
class _Writes:
    """A batch's three statements compiled once for the engine's dialect, run with plain tuples.

    Executing a Core statement with one dict per row costs more than the database's own work; these
    skip that, applying only the value conversions SQLAlchemy itself would (checked on compiling).
    """

    insert_visit: str
    upsert_rollup: str
    add_counts: str
    moment: Callable[[Any], Any]  # visited_at
    flag: Callable[[Any], Any]  # is_bot
    number: Callable[[Any], Any]  # latitude, longitude

    def visit_rows(self, fresh: Sequence[StoredVisit]) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Parameters in _VISIT_COLUMNS order, and the day of each visit."""
        flag, number = self.flag, self.number
        # Under load a batch's visits share milliseconds: each moment is converted once.
        moments: dict[datetime, tuple[Any, str]] = {}
        rows, days = [], []
        for v in fresh:
            stamp = moments.get(v.visited_at)
            if stamp is None:
                stamp = moments[v.visited_at] = (self.moment(v.visited_at), day_of(v.visited_at))
            rows.append(
                (
                    v.event_id, v.kind, stamp[0], stamp[1], v.link_id, v.code, v.referer,
                    v.referer_host, v.remote_addr, v.user_agent, v.browser, v.os, v.device,
                    flag(v.is_bot), v.country_code, v.country_name, v.region_name, v.city_name,
                    number(v.latitude), number(v.longitude), v.timezone, v.visited_url, v.redirect_url,
                )
            )  # fmt: skip
            days.append(stamp[1])
        return rows, days

    def rollup_rows(self, rollups: Counter[RollupKey]) -> list[tuple[Any, ...]]:
        # Sorted: concurrent writers then take row locks in one order and cannot deadlock each other.
        flag = self.flag
        return [
            (link_id, day, flag(is_bot), dimension, value, count)
            for (link_id, day, is_bot, dimension, value), count in sorted(rollups.items())
        ]


_VISIT_COLUMNS = (
    "event_id", "kind", "visited_at", "day", "link_id", "code", "referer", "referer_host",
    "remote_addr", "user_agent", "browser", "os", "device", "is_bot", "country_code", "country_name",
    "region_name", "city_name", "latitude", "longitude", "timezone", "visited_url", "redirect_url",
)  # fmt: skip
_CONVERTED = frozenset({"visited_at", "is_bot", "latitude", "longitude"})  # see _Writes


def _compile_writes(dialect: Dialect) -> _Writes:
    assert dialect.positional, dialect.name  # tuples of parameters need ? or $n placeholders
    insert_visit = visits.insert().compile(dialect=dialect)
    upsert_rollup = _rollup_upsert(dialect).compile(dialect=dialect)
    add_counts = _COUNTER_UPDATE.compile(dialect=dialect)
    assert tuple(insert_visit.positiontup or ()) == _VISIT_COLUMNS, insert_visit.positiontup
    assert tuple(upsert_rollup.positiontup or ()) == (*_ROLLUP_KEY, "count"), upsert_rollup.positiontup
    assert tuple(add_counts.positiontup or ()) == ("b_visits", "b_bots", "b_id"), add_counts.positiontup
    # Every other parameter goes to the driver as it is, as SQLAlchemy would send it.
    plain = [c for c in (*visits.c, *visit_rollups.c) if c.name not in _CONVERTED]
    plain += [links.c.id, links.c.visits, links.c.bot_visits]
    assert all(_converter(column, dialect) is _unchanged for column in plain), dialect.name
    # One converter per kind of value: the columns sharing it share their type.
    assert type(visit_rollups.c.is_bot.type) is type(visits.c.is_bot.type)
    assert type(visits.c.longitude.type) is type(visits.c.latitude.type)
    return _Writes(
        insert_visit=insert_visit.string,
        upsert_rollup=upsert_rollup.string,
        add_counts=add_counts.string,
        moment=_converter(visits.c.visited_at, dialect),
        flag=_converter(visits.c.is_bot, dialect),
        number=_converter(visits.c.latitude, dialect),
    )


def _converter(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    # The dialect's own variant of the type, as SQLAlchemy uses: SQLite's DATETIME writes its format.
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


async def _present(conn: AsyncConnection, column: Any, wanted: Iterable[int]) -> set[int]:
    """Which of `wanted` appear in `column`: by range when they are dense, else in chunks."""
    ordered = sorted(wanted)
    if ordered and ordered[-1] - ordered[0] < 2 * len(ordered):
        # A batch's event offsets run on without gaps: a range costs two parameters, not a thousand,
        # and reads at most as many rows again as are wanted.
        within = select(column).where(column.between(ordered[0], ordered[-1]))
        return set((await conn.execute(within)).scalars()).intersection(ordered)
    found: set[int] = set()
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        found.update((await conn.execute(select(column).where(column.in_(chunk)))).scalars())
    return found


def _tally(
    fresh: Sequence[StoredVisit], days: Sequence[str]
) -> tuple[Counter[RollupKey], dict[int, tuple[int, int]]]:
    """Rollup increments per key, and (visits, bot visits) per link, for the link visits in `fresh`."""
    # Visits share link, day and values far more often than not: count those first, then spread.
    alike = Counter(
        (visit.link_id, day, visit.is_bot, rollup_values(visit))
        for visit, day in zip(fresh, days, strict=True)
        if visit.link_id is not None
    )
    rollups: Counter[RollupKey] = Counter()
    counters: dict[int, tuple[int, int]] = {}
    for (link_id, day, is_bot, values), count in alike.items():
        for dimension, value in values:
            rollups[(link_id, day, is_bot, dimension, value)] += count
        seen, bots = counters.get(link_id, (0, 0))
        counters[link_id] = (seen + count, bots + (count if is_bot else 0))
    return rollups, counters


def _rollup_upsert(dialect: Dialect) -> Any:
    insert: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = insert(visit_rollups)
    return statement.on_conflict_do_update(
        index_elements=list(_ROLLUP_KEY),
        set_={"count": visit_rollups.c.count + statement.excluded["count"]},
    )


def _counter_rows(counters: dict[int, tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Parameters in (b_visits, b_bots, b_id) order, by link id for the reason rollups are sorted."""
    return [(seen, bots, link_id) for link_id, (seen, bots) in sorted(counters.items())]


def _owner_filter(column: Any, owner_id: int | None) -> list[ColumnElement[bool]]:
    return [] if owner_id is None else [column == owner_id]


def _owned_links(owner_id: int) -> Select[tuple[int]]:
    return select(links.c.id).where(links.c.owner_id == owner_id)


def _visit_conditions(query: VisitQuery) -> list[ColumnElement[bool]]:
    # By kind rather than by link_id: the (kind, visited_at) index then serves newest-first pages.
    conditions: list[ColumnElement[bool]] = []
    if query.orphan:
        if query.kind is not None:
            conditions.append(visits.c.kind == query.kind)
        else:
            conditions.append(visits.c.kind != "valid")
    else:
        conditions.append(visits.c.kind == "valid")
        if query.link_id is not None:
            conditions.append(visits.c.link_id == query.link_id)
        if query.tag is not None:
            tagged = select(link_tags.c.link_id).where(link_tags.c.tag == query.tag)
            conditions.append(visits.c.link_id.in_(tagged))
        if query.owner_id is not None:
            conditions.append(visits.c.link_id.in_(_owned_links(query.owner_id)))
    if query.start is not None:
        conditions.append(visits.c.visited_at >= query.start)
    if query.end is not None:
        conditions.append(visits.c.visited_at <= query.end)
    if query.exclude_bots:
        conditions.append(visits.c.is_bot.is_(False))
    return conditions


def _rollup_scope(
    owner_id: int | None, link_id: int | None, start_day: str, end_day: str, include_bots: bool
) -> list[ColumnElement[bool]]:
    conditions = [visit_rollups.c.day >= start_day, visit_rollups.c.day <= end_day]
    if link_id is not None:
        conditions.append(visit_rollups.c.link_id == link_id)
    if owner_id is not None:
        conditions.append(visit_rollups.c.link_id.in_(_owned_links(owner_id)))
    if not include_bots:
        conditions.append(visit_rollups.c.is_bot.is_(False))
    return conditions
