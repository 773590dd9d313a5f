"""AnalyticsService on real SQLite: bad events are skipped without stalling the group, queries are
validated and bounded, and charts list every day of their range."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import scalebox.shortener.service
from scalebox.core.clock import FakeClock
from scalebox.core.db import open_engine, sqlite_url
from scalebox.core.errors import InvalidError
from scalebox.core.events import Event
from scalebox.shortener.analytics import Enricher
from scalebox.shortener.domain import VISITS_PER_EVENT_MAX, encode_visits, visit_wire
from scalebox.shortener.ports import StoredVisit
from scalebox.shortener.service.analytics import VISITS_PAGE_MAX, AnalyticsService, VisitWindow
from scalebox.shortener.storage.analytics_sql import SqlVisitRepository
from tests.shortener.visit_factories import (
    DAY_MS,
    T0,
    T0_MS,
    add_link,
    create_tables,
    link_counters,
    make_visit,
)

ALICE = 10


@pytest.fixture(scope="module")
def enricher() -> Iterator[Enricher]:
    enricher = Enricher(agent_cache_size=100)  # loading ua-parser's matchers takes a moment: once
    yield enricher
    enricher.close()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(sqlite_url(tmp_path / "shortener.db"))
    await create_tables(engine)
    await add_link(engine, 1, owner_id=ALICE, tags=("news",))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def service(engine: AsyncEngine, enricher: Enricher) -> AnalyticsService:
    # The clock stands two days after T0, so the default chart ends on 2026-03-03.
    clock = FakeClock(current=T0 + timedelta(days=2))
    return AnalyticsService(SqlVisitRepository(engine), enricher, clock)


def event(offset: int, value: bytes) -> Event:
    return Event("shortener.visits", b"", value, offset, T0)


async def test_handle_batch_skips_undecodable_and_unstorable_events(
    service: AnalyticsService, caplog: pytest.LogCaptureFixture
) -> None:
    good = make_visit().encode()
    batch = [
        event(0, good),
        event(1, b"\xff\xfe"),
        event(2, b"[1, 2]"),
        event(3, b"{}"),
        event(4, json.dumps(["sideways", 0, None, None, "", "", "", "", ""]).encode()),
        event(5, json.dumps(["valid", T0_MS, "c1", "one", "", "", "", "", ""]).encode()),
        event(6, json.dumps(["valid", -5, "c1", 1, "", "", "", "", ""]).encode()),
        event(7, good),
    ]
    with caplog.at_level(logging.WARNING, logger="scalebox.shortener.service.analytics"):
        await service.handle_batch(batch)
    page = await service.non_orphan_visits(None, VisitWindow())
    assert [visit.event_id for visit in page.visits] == [7 * VISITS_PER_EVENT_MAX, 0]
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "skipping visit event shortener.visits@1",
        "skipping visit shortener.visits@2[0]",
        "skipping visit event shortener.visits@3",
        *(f"skipping visit shortener.visits@{offset}[0]" for offset in range(4, 7)),
    ]


async def test_a_batch_event_stores_each_visit_and_skips_only_its_bad_ones(service: AnalyticsService) -> None:
    good = make_visit().fields()
    value = json.dumps([visit_wire(good), ["valid", "not a time"], visit_wire(good)]).encode()
    await service.handle_batch([event(3, value), event(3, value)])  # delivered twice: stored once
    page = await service.non_orphan_visits(None, VisitWindow())
    assert sorted(visit.event_id for visit in page.visits) == [
        3 * VISITS_PER_EVENT_MAX,
        3 * VISITS_PER_EVENT_MAX + 2,
    ]
    assert encode_visits([good, good]) == json.dumps([visit_wire(good)] * 2, separators=(",", ":")).encode()


class RecordingRepository(SqlVisitRepository):
    """The real repository, noting how many visits each of its transactions was given."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.batch_sizes: list[int] = []

    async def store_batch(self, batch: Sequence[StoredVisit]) -> int:
        self.batch_sizes.append(len(batch))
        return await super().store_batch(batch)


async def test_a_poll_is_stored_in_transactions_of_bounded_size(
    engine: AsyncEngine, enricher: Enricher
) -> None:
    repo = RecordingRepository(engine)
    service = AnalyticsService(repo, enricher, FakeClock(current=T0), store_visits_max=3)
    visit = make_visit().fields()
    # 8 visits in events of 2, 5 and 1: the second event is split across transactions.
    events = [event(offset, encode_visits([visit] * size)) for offset, size in enumerate((2, 5, 1))]
    await service.handle_batch(events)
    assert repo.batch_sizes == [3, 3, 2]
    assert (await service.non_orphan_visits(None, VisitWindow())).total == 8
    assert await link_counters(engine) == {1: (8, 0)}
    await service.handle_batch(events)  # delivered again: every chunk finds its visits stored
    assert (await service.non_orphan_visits(None, VisitWindow())).total == 8
    assert await link_counters(engine) == {1: (8, 0)}


async def test_pages_report_their_position_and_count(service: AnalyticsService) -> None:
    await service.handle_batch([event(n, make_visit(at_ms=T0_MS + n).encode()) for n in range(5)])
    page = await service.link_visits(ALICE, 1, VisitWindow(page=2, items_per_page=2))
    ids = [visit.event_id // VISITS_PER_EVENT_MAX for visit in page.visits]
    assert (ids, page.total, page.pages) == ([2, 1], 5, 3)
    tagged = await service.tag_visits(ALICE, "news", VisitWindow(items_per_page=VISITS_PAGE_MAX))
    assert tagged.total == 5
    assert (await service.link_visits(ALICE + 1, 1, VisitWindow())).total == 0  # not theirs


async def test_orphan_visits_filter_by_orphan_kind(service: AnalyticsService) -> None:
    orphan = make_visit(kind="base_url", link_id=None, code=None)
    await service.handle_batch([event(0, orphan.encode()), event(1, make_visit().encode())])
    assert (await service.orphan_visits(None, VisitWindow())).total == 1
    assert (await service.orphan_visits("regular_404", VisitWindow())).total == 0
    with pytest.raises(InvalidError, match="orphan visit type"):
        await service.orphan_visits("valid", VisitWindow())


@pytest.mark.parametrize(
    ("window", "field"),
    [
        (VisitWindow(items_per_page=0), "itemsPerPage"),
        (VisitWindow(items_per_page=VISITS_PAGE_MAX + 1), "itemsPerPage"),
        (VisitWindow(page=0), "page"),
        (VisitWindow(page=10_000_000, items_per_page=100), "page"),
        (VisitWindow(start=datetime(2026, 3, 1)), "startDate"),
        (VisitWindow(start=T0, end=T0 - timedelta(seconds=1)), "endDate"),
    ],
)
async def test_visit_windows_out_of_bounds_are_refused(
    service: AnalyticsService, window: VisitWindow, field: str
) -> None:
    with pytest.raises(InvalidError) as caught:
        await service.non_orphan_visits(None, window)
    assert caught.value.field == field


async def test_tag_of_no_or_too_many_characters_is_refused(service: AnalyticsService) -> None:
    for tag in ("", "t" * 65):
        with pytest.raises(InvalidError):
            await service.tag_visits(None, tag, VisitWindow())


async def test_daily_lists_every_day_of_the_default_range(service: AnalyticsService) -> None:
    await service.handle_batch(
        [event(0, make_visit().encode()), event(1, make_visit(at_ms=T0_MS + 2 * DAY_MS).encode())]
    )
    daily = await service.daily(ALICE, link_id=1)
    assert len(daily) == 30
    assert daily[-3:] == [(date(2026, 3, 1), 1), (date(2026, 3, 2), 0), (date(2026, 3, 3), 1)]
    assert sum(count for _, count in daily) == 2


async def test_daily_and_top_refuse_bad_ranges_and_dimensions(service: AnalyticsService) -> None:
    with pytest.raises(InvalidError, match="must not come before"):
        await service.daily(None, start=date(2026, 3, 2), end=date(2026, 3, 1))
    with pytest.raises(InvalidError, match="at most"):
        await service.daily(None, start=date(2020, 1, 1), end=date(2026, 1, 1))
    for dimension in ("total", "planet"):
        with pytest.raises(InvalidError, match="dimension"):
            await service.top(None, dimension)
    with pytest.raises(InvalidError, match="limit"):
        await service.top(None, "browser", limit=101)


async def test_top_counts_bots_only_when_asked(service: AnalyticsService) -> None:
    bot = make_visit(user_agent="curl/8.5.0")
    await service.handle_batch([event(0, make_visit().encode()), event(1, bot.encode())])
    start = end = T0.astimezone(UTC).date()
    assert await service.top(ALICE, "device", start=start, end=end) == [("desktop", 1)]
    assert await service.top(ALICE, "device", start=start, end=end, include_bots=True) == [
        ("bot", 1),
        ("desktop", 1),
    ]


def test_service_package_exports_exist() -> None:
    for name in scalebox.shortener.service.__all__:
        assert hasattr(scalebox.shortener.service, name), name
