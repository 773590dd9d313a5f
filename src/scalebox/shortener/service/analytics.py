"""Use cases on visits: store batches from the visits topic, page through visits, the dashboard's
charts and top lists, and rebuilding everything by replaying the topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from scalebox.core.clock import Clock
from scalebox.core.errors import InvalidError
from scalebox.core.events import BATCH_RECORDS_MAX, Event, EventBus, consume_batch_once
from scalebox.shortener.analytics import (
    DIMENSIONS,
    Dimension,
    Enricher,
    Enrichment,
    VisitQuery,
    VisitSummary,
    day_of,
    parse_day,
    visit_problem,
)
from scalebox.shortener.domain import (
    TAG_LENGTH_MAX,
    VISIT_KINDS,
    VISITS_PER_EVENT_MAX,
    Visit,
    VisitKind,
    visit_arrays,
)
from scalebox.shortener.ports import StoredVisit
from scalebox.shortener.service.redirects import VISITS_TOPIC

logger = logging.getLogger(__name__)

ANALYTICS_GROUP = "analytics"
VISITS_PAGE_MAX = 5000  # items per page of visits
VISITS_OFFSET_MAX = 10_000_000  # deeper pages cost a scan of every row before them
TOP_VALUES_MAX = 100
CHART_DAYS_DEFAULT = 30
CHART_DAYS_MAX = 731
# A poll's events and a transaction's visits are bounded. An event holds up to VISITS_PER_EVENT_MAX
# visits (about 290 KB), so a consumer behind by a burst took 1,000 such events in one poll and would
# have stored 900,000 visits in one transaction: about 1.5 GB of rows, and SQLite's write lock held
# for over a minute while link writes wait at most sqlite_inline.BUSY_TIMEOUT_MS. Measured on a
# 10,000-link database, 7.4k visits to a transaction cost about 140 µs of CPU a visit, 20k about
# 118 µs and 41k about 121 µs: the pages a transaction dirties are written once per commit.
POLL_EVENTS_MAX = 256  # events a poll takes: at most about 74 MB of them
STORE_VISITS_MAX = 20_000  # visits per transaction: about 35 MB of rows, the write lock for about 2 s


class VisitRepository(Protocol):
    """What analytics needs from storage (SqlVisitRepository). See its docstrings for the contract."""

    async def store_batch(self, batch: Sequence[StoredVisit]) -> int: ...

    async def page(self, query: VisitQuery) -> tuple[list[StoredVisit], int]: ...

    async def summary(self, owner_id: int | None) -> VisitSummary: ...

    async def daily(
        self, *, owner_id: int | None, link_id: int | None, start_day: str, end_day: str, include_bots: bool
    ) -> list[tuple[str, int]]: ...

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
    ) -> list[tuple[str, int]]: ...

    async def reset(self) -> None: ...


@dataclass(frozen=True, slots=True)
class VisitWindow:
    """Which visits of a scope a caller wants: a time range (inclusive), bots or not, and a page."""

    start: datetime | None = None
    end: datetime | None = None
    exclude_bots: bool = False
    page: int = 1
    items_per_page: int = 20


@dataclass(frozen=True, slots=True)
class VisitPage:
    visits: list[StoredVisit]
    total: int
    page: int
    items_per_page: int

    @property
    def pages(self) -> int:
        return -(-self.total // self.items_per_page)


class AnalyticsService:
    """Stores enriched visits and answers questions about them, scoped by owner.

    `owner_id` None means an administrator (every link); orphan visits belong to no owner, so the
    edges offer them to administrators only.
    """

    def __init__(
        self,
        repo: VisitRepository,
        enricher: Enricher,
        clock: Clock,
        *,
        store_visits_max: int = STORE_VISITS_MAX,
    ) -> None:
        assert store_visits_max > 0, store_visits_max
        self._repo = repo
        self._enricher = enricher
        self._clock = clock
        self._store_visits_max = store_visits_max
        # A rebuild and this process's consumer must not interleave (see `rebuild`).
        self._storing = asyncio.Lock()

    async def handle_batch(self, events: list[Event]) -> None:
        """The analytics consumer's batch handler (run_batch_consumer on VISITS_TOPIC)."""
        async with self._storing:
            await self._store(events)

    async def _store(self, events: Sequence[Event]) -> int:
        """Store the events' visits, at most `store_visits_max` to a transaction; returns how many
        were new. Each event is decoded only when its turn comes, so memory holds one chunk."""
        stored, chunk = 0, []
        enrich, chunk_max = self._enricher.enrich, self._store_visits_max
        for event in events:
            for event_id, visit in _decode(event):
                chunk.append(stored_visit(event_id, visit, enrich(visit)))
                if len(chunk) == chunk_max:
                    stored += await self._repo.store_batch(chunk)
                    chunk = []
        if chunk:
            stored += await self._repo.store_batch(chunk)
        return stored

    async def link_visits(self, owner_id: int | None, link_id: int, window: VisitWindow) -> VisitPage:
        return await self._page(VisitQuery(owner_id=owner_id, link_id=link_id), window)

    async def tag_visits(self, owner_id: int | None, tag: str, window: VisitWindow) -> VisitPage:
        if not tag or len(tag) > TAG_LENGTH_MAX:
            raise InvalidError(f"a tag has 1 to {TAG_LENGTH_MAX} characters", field="tag")
        return await self._page(VisitQuery(owner_id=owner_id, tag=tag), window)

    async def non_orphan_visits(self, owner_id: int | None, window: VisitWindow) -> VisitPage:
        """Every link visit the owner may see: all of an owner's links, or every link (None)."""
        return await self._page(VisitQuery(owner_id=owner_id), window)

    async def orphan_visits(self, kind: VisitKind | None, window: VisitWindow) -> VisitPage:
        if kind is not None and (kind == "valid" or kind not in VISIT_KINDS):
            orphan_kinds = ", ".join(k for k in VISIT_KINDS if k != "valid")
            raise InvalidError(f"an orphan visit type is one of {orphan_kinds}", field="type")
        return await self._page(VisitQuery(orphan=True, kind=kind), window)

    async def summary(self, owner_id: int | None) -> VisitSummary:
        return await self._repo.summary(owner_id)

    async def daily(
        self,
        owner_id: int | None,
        *,
        link_id: int | None = None,
        start: date | None = None,
        end: date | None = None,
        include_bots: bool = False,
    ) -> list[tuple[date, int]]:
        """Visits per UTC day from `start` to `end` (default: the last 30 days), every day listed."""
        first, last = self._days(start, end)
        counted = dict(
            await self._repo.daily(
                owner_id=owner_id,
                link_id=link_id,
                start_day=first.isoformat(),
                end_day=last.isoformat(),
                include_bots=include_bots,
            )
        )
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        return [(day, counted.get(day.isoformat(), 0)) for day in days]

    async def top(
        self,
        owner_id: int | None,
        dimension: str,
        *,
        link_id: int | None = None,
        start: date | None = None,
        end: date | None = None,
        include_bots: bool = False,
        limit: int = 10,
    ) -> list[tuple[str, int]]:
        """The `limit` most frequent referrer hosts, countries, browsers, OSes or devices."""
        if dimension not in DIMENSIONS or dimension == "total":
            choices = ", ".join(d for d in DIMENSIONS if d != "total")
            raise InvalidError(f"a dimension is one of {choices}", field="dimension")
        if not 1 <= limit <= TOP_VALUES_MAX:
            raise InvalidError(f"limit is between 1 and {TOP_VALUES_MAX}", field="limit")
        first, last = self._days(start, end)
        return await self._repo.top(
            owner_id=owner_id,
            link_id=link_id,
            dimension=dimension,  # a Dimension: checked against DIMENSIONS above
            start_day=first.isoformat(),
            end_day=last.isoformat(),
            include_bots=include_bots,
            limit=limit,
        )

    async def rebuild(
        self,
        bus: EventBus,
        topic: str = VISITS_TOPIC,
        group: str = ANALYTICS_GROUP,
        *,
        batch_events: int = POLL_EVENTS_MAX,
    ) -> int:
        """Forget every stored visit and count, then replay `topic` from its start as `group`.

        Returns how many visits were stored. The replay stops at the newest event there was once
        the tables were reset; later events are left to the group's consumer. The group's offset is
        moved, so its consumer must not run elsewhere meanwhile: this process's own consumer waits
        on a lock, one in another process must be stopped (it would commit past events not yet
        replayed). Only what the bus still keeps is replayed: trimmed events are gone for good.
        """
        assert 0 < batch_events <= BATCH_RECORDS_MAX, batch_events
        stored, replayed = 0, -1

        async def store(events: list[Event]) -> None:
            nonlocal stored, replayed
            stored += await self._store(events)
            replayed = events[-1].offset

        async with self._storing:
            await self._repo.reset()
            await bus.commit(topic, group, -1)  # before the first event, on every bus
            end = await bus.latest_offset(topic)
            while replayed < end:
                if not await consume_batch_once(bus, topic, group, store, batch_events):
                    break  # nothing left to poll: the rest was trimmed away meanwhile
        logger.info("rebuilt analytics from %s as %s: %d visits stored", topic, group, stored)
        return stored

    async def _page(self, query: VisitQuery, window: VisitWindow) -> VisitPage:
        if not 1 <= window.items_per_page <= VISITS_PAGE_MAX:
            raise InvalidError(f"itemsPerPage is between 1 and {VISITS_PAGE_MAX}", field="itemsPerPage")
        offset = (window.page - 1) * window.items_per_page
        if window.page < 1 or offset > VISITS_OFFSET_MAX:
            raise InvalidError(
                f"page is at least 1 and skips at most {VISITS_OFFSET_MAX} visits", field="page"
            )
        for name, moment in (("startDate", window.start), ("endDate", window.end)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidError(f"{name} needs a timezone", field=name)
        if window.start is not None and window.end is not None and window.end < window.start:
            raise InvalidError("endDate must not come before startDate", field="endDate")
        visits, total = await self._repo.page(
            replace(
                query,
                start=window.start,
                end=window.end,
                exclude_bots=window.exclude_bots,
                limit=window.items_per_page,
                offset=offset,
            )
        )
        return VisitPage(visits, total, window.page, window.items_per_page)

    def _days(self, start: date | None, end: date | None) -> tuple[date, date]:
        last = end if end is not None else parse_day(day_of(self._clock.now()))
        first = start if start is not None else last - timedelta(days=CHART_DAYS_DEFAULT - 1)
        if last < first:
            raise InvalidError("the end day must not come before the start day", field="endDate")
        if (last - first).days + 1 > CHART_DAYS_MAX:
            raise InvalidError(f"a chart spans at most {CHART_DAYS_MAX} days", field="startDate")
        return first, last


def _decode(event: Event) -> list[tuple[int, Visit]]:
    """The event's visits with their ids (see domain.VISITS_PER_EVENT_MAX). What cannot be stored is
    logged and skipped: one bad visit must not stall the group, and retrying it would never help."""
    try:
        arrays = visit_arrays(event.value)
    except ValueError as exc:  # bad JSON or UTF-8, or not an array of visits
        logger.warning("skipping visit event %s@%d: undecodable (%s)", event.topic, event.offset, exc)
        return []
    visits = []
    first_id = event.offset * VISITS_PER_EVENT_MAX
    for index, array in enumerate(arrays):
        try:
            visit = Visit.from_wire(array)
        except (ValueError, TypeError) as exc:  # wrong arity, kind or types
            logger.warning(
                "skipping visit %s@%d[%d]: undecodable (%s)", event.topic, event.offset, index, exc
            )
            continue
        problem = visit_problem(visit)
        if problem is not None:
            logger.warning("skipping visit %s@%d[%d]: %s", event.topic, event.offset, index, problem)
            continue
        visits.append((first_id + index, visit))
    return visits


def stored_visit(event_id: int, visit: Visit, found: Enrichment) -> StoredVisit:
    """The visit as stored: its event's offset as id, the raw fields, and what enrichment found."""
    agent, place = found.agent, found.place
    return StoredVisit(
        event_id=event_id,
        kind=visit.kind,
        visited_at=found.visited_at,
        link_id=found.link_id,
        code=found.code,
        referer=visit.referer,
        referer_host=found.referer_host,
        remote_addr=found.remote_addr,
        user_agent=visit.user_agent,
        browser=agent.browser,
        os=agent.os,
        device=agent.device,
        is_bot=agent.is_bot,
        country_code=place.country_code,
        country_name=place.country_name,
        region_name=place.region_name,
        city_name=place.city_name,
        latitude=place.latitude,
        longitude=place.longitude,
        timezone=place.timezone,
        visited_url=visit.visited_url,
        redirect_url=visit.redirect_url,
    )
