"""The SqlVisitRepository contract over SQLite and PostgreSQL: storing batches (once, whatever the
redelivery), rollups and counters kept in step, pages of visits, summaries, and owner scoping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.db import open_engine, sqlite_url
from scalebox.shortener.analytics import VisitCounts, VisitQuery, VisitSummary
from scalebox.shortener.storage.analytics_sql import SqlVisitRepository
from scalebox.shortener.storage.tables import links, visit_rollups, visits
from tests.shortener.visit_factories import (
    T0,
    add_link,
    all_rollups,
    create_tables,
    link_counters,
    make_stored,
)

DAY = timedelta(days=1)
ALICE, BOB = 10, 20


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "shortener.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    await create_tables(engine)
    # Link 1 and 2 are Alice's (1 tagged "news"), 3 is Bob's (also tagged "news"), 4 has no owner.
    await add_link(engine, 1, owner_id=ALICE, tags=("news",))
    await add_link(engine, 2, owner_id=ALICE)
    await add_link(engine, 3, owner_id=BOB, tags=("news",))
    await add_link(engine, 4)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> SqlVisitRepository:
    return SqlVisitRepository(engine)


async def visit_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(visits))).scalar_one())


async def test_store_batch_round_trips_every_field(repo: SqlVisitRepository) -> None:
    stored = [
        make_stored(0),
        make_stored(1, orphan="base_url", remote_addr=None, latitude=None, timezone=None),
    ]
    assert await repo.store_batch(stored) == 2
    link_page, link_total = await repo.page(VisitQuery())
    orphan_page, orphan_total = await repo.page(VisitQuery(orphan=True))
    assert (link_page, link_total) == ([stored[0]], 1)
    assert (orphan_page, orphan_total) == ([stored[1]], 1)


async def test_store_batch_of_nothing_stores_nothing(repo: SqlVisitRepository, engine: AsyncEngine) -> None:
    assert await repo.store_batch([]) == 0
    assert await visit_count(engine) == 0


async def test_store_batch_counts_visits_and_bot_visits_on_links(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    batch = [
        make_stored(0),
        make_stored(1, bot=True),
        make_stored(2, link_id=2),
        make_stored(3, orphan="regular_404"),
    ]
    assert await repo.store_batch(batch) == 4
    assert await link_counters(engine) == {1: (2, 1), 2: (1, 0), 3: (0, 0), 4: (0, 0)}


async def test_redelivered_batch_is_stored_and_counted_once(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    first = [make_stored(0), make_stored(1, bot=True), make_stored(2, orphan="base_url")]
    assert await repo.store_batch(first) == 3
    counters, rollups = await link_counters(engine), await all_rollups(engine)
    assert await repo.store_batch(first) == 0
    assert (await link_counters(engine), await all_rollups(engine)) == (counters, rollups)
    # A batch overlapping the stored events stores, and counts, only the new one.
    assert await repo.store_batch([*first[1:], make_stored(3)]) == 1
    assert await visit_count(engine) == 4
    assert (await link_counters(engine))[1] == (3, 1)


async def test_store_batch_drops_visits_of_links_deleted_since(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    assert await repo.store_batch([make_stored(0, link_id=999), make_stored(1)]) == 1
    assert [visit.event_id for visit in (await repo.page(VisitQuery()))[0]] == [1]


async def test_rollups_count_each_dimension_per_day_and_bot_flag(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    await repo.store_batch(
        [
            make_stored(0),
            make_stored(1, referer_host="", country_code=None),
            make_stored(2, bot=True),
            make_stored(3, visited_at=T0 + DAY, browser="Firefox"),
        ]
    )
    await repo.store_batch([make_stored(4, visited_at=T0 + DAY, browser="Firefox")])  # an upsert
    rows = set(await all_rollups(engine))
    assert {row for row in rows if row[3] == "total"} == {
        (1, "2026-03-01", False, "total", "", 2),
        (1, "2026-03-01", True, "total", "", 1),
        (1, "2026-03-02", False, "total", "", 2),
    }
    assert (1, "2026-03-01", False, "referrer", "", 1) in rows
    assert (1, "2026-03-01", False, "referrer", "news.example.com", 1) in rows
    assert (1, "2026-03-01", False, "country", "", 1) in rows
    assert (1, "2026-03-02", False, "browser", "Firefox", 2) in rows
    assert (1, "2026-03-01", True, "device", "bot", 1) in rows


async def test_daily_sums_totals_per_day_for_a_link_or_an_owner(repo: SqlVisitRepository) -> None:
    await repo.store_batch(
        [
            make_stored(0),
            make_stored(1, bot=True),
            make_stored(2, link_id=2, visited_at=T0 + DAY),
            make_stored(3, link_id=3, visited_at=T0 + DAY),
            make_stored(4, visited_at=T0 + 3 * DAY),
        ]
    )
    window = {"start_day": "2026-03-01", "end_day": "2026-03-02"}
    assert await repo.daily(owner_id=None, link_id=1, include_bots=True, **window) == [("2026-03-01", 2)]
    assert await repo.daily(owner_id=None, link_id=1, include_bots=False, **window) == [("2026-03-01", 1)]
    assert await repo.daily(owner_id=ALICE, link_id=None, include_bots=True, **window) == [
        ("2026-03-01", 2),
        ("2026-03-02", 1),
    ]
    assert await repo.daily(owner_id=None, link_id=None, include_bots=False, **window) == [
        ("2026-03-01", 1),
        ("2026-03-02", 2),
    ]
    # A link of somebody else is empty, not an error: the service decides what that means.
    assert await repo.daily(owner_id=BOB, link_id=1, include_bots=True, **window) == []


async def test_top_ranks_values_by_visits_then_by_value(repo: SqlVisitRepository) -> None:
    await repo.store_batch(
        [
            make_stored(0, referer_host="a.example"),
            make_stored(1, referer_host="b.example"),
            make_stored(2, referer_host="b.example"),
            make_stored(3, referer_host="c.example", link_id=2),
            make_stored(4, referer_host="z.example", link_id=3),
            make_stored(5, referer_host="b.example", bot=True),
        ]
    )
    common: dict[str, Any] = {"start_day": "2026-03-01", "end_day": "2026-03-01", "dimension": "referrer"}
    assert await repo.top(owner_id=ALICE, link_id=None, include_bots=False, limit=10, **common) == [
        ("b.example", 2),
        ("a.example", 1),
        ("c.example", 1),
    ]
    assert await repo.top(owner_id=None, link_id=None, include_bots=True, limit=2, **common) == [
        ("b.example", 3),
        ("a.example", 1),
    ]
    assert await repo.top(owner_id=None, link_id=3, include_bots=True, limit=10, **common) == [
        ("z.example", 1)
    ]


async def test_page_of_a_link_is_newest_first_with_total(repo: SqlVisitRepository) -> None:
    await repo.store_batch([make_stored(n, visited_at=T0 + n * DAY) for n in range(5)])
    await repo.store_batch([make_stored(5, link_id=2)])
    page, total = await repo.page(VisitQuery(link_id=1, limit=2, offset=1))
    assert ([visit.event_id for visit in page], total) == ([3, 2], 5)


async def test_page_breaks_ties_in_time_by_event_id(repo: SqlVisitRepository) -> None:
    await repo.store_batch([make_stored(n) for n in (4, 2, 9)])
    page, _ = await repo.page(VisitQuery())
    assert [visit.event_id for visit in page] == [9, 4, 2]


async def test_page_filters_by_time_range_and_bots(repo: SqlVisitRepository) -> None:
    await repo.store_batch([make_stored(n, visited_at=T0 + n * DAY, bot=n % 2 == 1) for n in range(6)])
    page, total = await repo.page(VisitQuery(start=T0 + DAY, end=T0 + 4 * DAY))
    assert ([visit.event_id for visit in page], total) == ([4, 3, 2, 1], 4)
    page, total = await repo.page(VisitQuery(start=T0 + DAY, exclude_bots=True))
    assert ([visit.event_id for visit in page], total) == ([4, 2], 2)


async def test_page_of_a_tag_is_scoped_to_the_owner(repo: SqlVisitRepository) -> None:
    await repo.store_batch([make_stored(0, link_id=1), make_stored(1, link_id=2), make_stored(2, link_id=3)])
    assert {v.event_id for v in (await repo.page(VisitQuery(tag="news")))[0]} == {0, 2}
    assert [v.event_id for v in (await repo.page(VisitQuery(owner_id=ALICE, tag="news")))[0]] == [0]
    assert (await repo.page(VisitQuery(tag="nothing"))) == ([], 0)


async def test_page_of_an_owner_sees_only_their_links(repo: SqlVisitRepository) -> None:
    await repo.store_batch(
        [
            make_stored(0, link_id=1),
            make_stored(1, link_id=2),
            make_stored(2, link_id=3),
            make_stored(3, link_id=4),
        ]
    )
    await repo.store_batch([make_stored(4, orphan="base_url")])
    assert {v.event_id for v in (await repo.page(VisitQuery(owner_id=ALICE)))[0]} == {0, 1}
    assert (await repo.page(VisitQuery(owner_id=BOB)))[1] == 1
    assert (await repo.page(VisitQuery(owner_id=ALICE, link_id=3))) == ([], 0)
    assert (await repo.page(VisitQuery()))[1] == 4  # administrators: every link visit, no orphans


async def test_page_of_orphans_filters_by_kind(repo: SqlVisitRepository) -> None:
    await repo.store_batch(
        [
            make_stored(0, orphan="base_url"),
            make_stored(1, orphan="invalid_short_url", code="nope"),
            make_stored(2, orphan="regular_404"),
            make_stored(3),
        ]
    )
    assert {v.event_id for v in (await repo.page(VisitQuery(orphan=True)))[0]} == {0, 1, 2}
    only, total = await repo.page(VisitQuery(orphan=True, kind="invalid_short_url"))
    assert ([(v.event_id, v.code) for v in only], total) == ([(1, "nope")], 1)


async def test_summary_counts_link_and_orphan_visits_by_scope(repo: SqlVisitRepository) -> None:
    await repo.store_batch(
        [
            make_stored(0, link_id=1),
            make_stored(1, link_id=2, bot=True),
            make_stored(2, link_id=3),
            make_stored(3, orphan="base_url"),
            make_stored(4, orphan="regular_404", bot=True),
        ]
    )
    assert await repo.summary(None) == VisitSummary(VisitCounts(3, 1), VisitCounts(2, 1))
    assert await repo.summary(ALICE) == VisitSummary(VisitCounts(2, 1), VisitCounts(0, 0))
    assert (await repo.summary(ALICE)).non_orphan.non_bots == 1
    assert await repo.summary(99) == VisitSummary(VisitCounts(0, 0), VisitCounts(0, 0))


async def test_reset_forgets_visits_rollups_and_counters(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    await repo.store_batch([make_stored(0), make_stored(1, bot=True), make_stored(2, orphan="base_url")])
    await repo.reset()
    assert await visit_count(engine) == 0
    assert await all_rollups(engine) == []
    assert set((await link_counters(engine)).values()) == {(0, 0)}
    assert await repo.store_batch([make_stored(0)]) == 1  # the same events store again after a reset


async def test_deleting_a_link_deletes_its_visits_and_rollups(
    repo: SqlVisitRepository, engine: AsyncEngine
) -> None:
    await repo.store_batch(
        [make_stored(0, link_id=1), make_stored(1, link_id=2), make_stored(2, orphan="base_url")]
    )
    async with engine.begin() as conn:
        await conn.execute(delete(links).where(links.c.id == 1))
    assert {v.event_id for v in (await repo.page(VisitQuery()))[0]} == {1}
    async with engine.connect() as conn:
        linked = await conn.execute(select(visit_rollups.c.link_id).distinct())
        assert set(linked.scalars()) == {2}
    assert (await repo.page(VisitQuery(orphan=True)))[1] == 1


async def test_large_batch_spans_several_id_chunks(repo: SqlVisitRepository, engine: AsyncEngine) -> None:
    batch = [make_stored(n, link_id=1 + n % 4, bot=n % 7 == 0) for n in range(2500)]
    assert await repo.store_batch(batch) == 2500
    assert await repo.store_batch([*batch[1000:], make_stored(2500)]) == 1
    counters = await link_counters(engine)
    assert sum(seen for seen, _ in counters.values()) == 2501
    assert sum(bots for _, bots in counters.values()) == sum(1 for n in range(2500) if n % 7 == 0)
