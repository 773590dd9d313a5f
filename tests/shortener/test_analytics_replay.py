"""Replaying the visits topic rebuilds exactly what live consumption stored: the same visits, rollups,
link counters and summaries, with redeliveries and undecodable events along the way."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.clock import FakeClock
from scalebox.core.db import open_engine, sqlite_url
from scalebox.core.events import Event, MemoryEventBus, SqliteEventBus, run_batch_consumer
from scalebox.shortener.analytics import DIMENSIONS, Enricher, VisitQuery
from scalebox.shortener.domain import Visit
from scalebox.shortener.service.analytics import ANALYTICS_GROUP, AnalyticsService
from scalebox.shortener.service.redirects import VISITS_TOPIC
from scalebox.shortener.storage.analytics_sql import SqlVisitRepository
from tests.shortener.visit_factories import (
    CHROME,
    DAY_MS,
    GOOGLEBOT,
    IPHONE,
    T0_MS,
    add_link,
    all_rollups,
    create_tables,
    link_counters,
    make_visit,
)

TIMEOUT_SECONDS = 30.0  # bounds every wait on a condition
VISITS = 1200
ALICE, BOB = 10, 20
AGENTS = (CHROME, IPHONE, GOOGLEBOT, "curl/8.5.0", "")
BOT_AGENTS = {GOOGLEBOT, "curl/8.5.0"}
REFERERS = ("", "https://news.example.com/a", "https://www.google.com/", "android-app://com.slack/")


@dataclass
class Pipeline:
    bus: MemoryEventBus | SqliteEventBus
    engine: AsyncEngine
    repo: SqlVisitRepository
    service: AnalyticsService


@pytest.fixture(params=["memory", "sqlite"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "shortener.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def pipeline(bus_kind: str, database_url: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = FakeClock()
    bus = MemoryEventBus(clock) if bus_kind == "memory" else SqliteEventBus(tmp_path / "events.db", clock)
    engine = open_engine(database_url)
    await create_tables(engine)
    for link_id, owner in ((1, ALICE), (2, ALICE), (3, BOB), (4, None)):
        await add_link(engine, link_id, owner_id=owner)
    enricher = Enricher()
    repo = SqlVisitRepository(engine)
    try:
        yield Pipeline(bus, engine, repo, AnalyticsService(repo, enricher, clock))
    finally:
        enricher.close()
        await bus.close()
        await engine.dispose()


def make_traffic(seed: int, count: int) -> list[Visit]:
    """Visits to four links and orphans over six days, a fifth of them by bots."""
    rng = random.Random(seed)
    traffic = []
    for _ in range(count):
        at_ms = T0_MS + rng.randrange(6 * DAY_MS)
        agent = rng.choice(AGENTS)
        common = {"at_ms": at_ms, "user_agent": agent, "referer": rng.choice(REFERERS)}
        common["remote_addr"] = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.7.9"
        if rng.random() < 0.15:
            kind = rng.choice(("base_url", "invalid_short_url", "regular_404"))
            traffic.append(make_visit(kind=kind, link_id=None, code=None, **common))
        else:
            link_id = rng.randrange(1, 5)
            traffic.append(make_visit(link_id=link_id, code=f"c{link_id}", **common))
    return traffic


async def publish(bus: MemoryEventBus | SqliteEventBus, traffic: list[Visit], chunk: int = 250) -> int:
    """Publish as the redirect path does: batches keyed by code; one undecodable event per batch."""
    last = -1
    for start in range(0, len(traffic), chunk):
        records = [((visit.code or "").encode(), visit.encode()) for visit in traffic[start : start + chunk]]
        records.append((b"", b"\xff not a visit"))
        last = (await bus.publish_batch(VISITS_TOPIC, records))[-1]
    return last


async def consume_live(pipeline: Pipeline, last_offset: int, *, crash_after: int | None = None) -> None:
    """Run the real consumer loop until `last_offset` is committed. With `crash_after`, the first
    batch past that offset is stored but its commit never happens, so the batch comes again."""
    stop, done, crashed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handle(events: list[Event]) -> None:
        await pipeline.service.handle_batch(events)
        if crash_after is not None and not crashed.is_set() and events[-1].offset > crash_after:
            crashed.set()
            raise RuntimeError("consumer died between storing and committing")
        if events[-1].offset >= last_offset:
            done.set()

    loop = run_batch_consumer(
        pipeline.bus,
        VISITS_TOPIC,
        ANALYTICS_GROUP,
        handle,
        stop=stop,
        max_events=300,
        backoff_seconds=0.01,
        on_error=lambda _event, _exc: None,
    )
    task = asyncio.create_task(loop)
    try:
        await asyncio.wait_for(done.wait(), TIMEOUT_SECONDS)
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_SECONDS)
    assert crashed.is_set() == (crash_after is not None)
    assert await pipeline.bus.committed(VISITS_TOPIC, ANALYTICS_GROUP) == last_offset


async def snapshot(pipeline: Pipeline) -> dict[str, object]:
    """Every number the dashboard and the API show, and every stored visit."""
    service, repo = pipeline.service, pipeline.repo
    figures: dict[str, object] = {
        "counters": await link_counters(pipeline.engine),
        "rollups": await all_rollups(pipeline.engine),
        "summary": [await service.summary(owner) for owner in (None, ALICE, BOB)],
        "visits": await repo.page(VisitQuery(limit=5000)),
        "orphans": await repo.page(VisitQuery(orphan=True, limit=5000)),
    }
    for owner in (None, ALICE):
        span: dict[str, Any] = {"start_day": "2026-03-01", "end_day": "2026-03-07", "include_bots": True}
        figures[f"daily-{owner}"] = await repo.daily(owner_id=owner, link_id=None, **span)
        for dimension in DIMENSIONS:
            figures[f"top-{owner}-{dimension}"] = await repo.top(
                owner_id=owner,
                link_id=None,
                dimension=dimension,
                limit=100,
                **span,
            )
    return figures


def expected_counters(traffic: list[Visit], is_bot: Callable[[str], bool]) -> dict[int, tuple[int, int]]:
    counters = {link_id: (0, 0) for link_id in range(1, 5)}
    for visit in traffic:
        if visit.link_id is not None:
            seen, bots = counters[visit.link_id]
            counters[visit.link_id] = (seen + 1, bots + is_bot(visit.user_agent))
    return counters


async def test_rebuild_reproduces_what_live_consumption_stored(pipeline: Pipeline) -> None:
    traffic = make_traffic(seed=7, count=VISITS)
    last_offset = await publish(pipeline.bus, traffic)
    await consume_live(pipeline, last_offset, crash_after=last_offset // 2)
    live = await snapshot(pipeline)

    # The live numbers are right, not merely stable: they match the traffic that was published.
    assert live["counters"] == expected_counters(traffic, BOT_AGENTS.__contains__)
    orphans = sum(1 for visit in traffic if visit.link_id is None)
    assert live["visits"][1] + live["orphans"][1] == VISITS  # type: ignore[index]
    assert live["orphans"][1] == orphans  # type: ignore[index]
    assert sum(count for _, count in live["daily-None"]) == VISITS - orphans  # type: ignore[attr-defined]

    assert await pipeline.service.rebuild(pipeline.bus, VISITS_TOPIC, ANALYTICS_GROUP) == VISITS
    assert await snapshot(pipeline) == live
    assert await pipeline.bus.committed(VISITS_TOPIC, ANALYTICS_GROUP) == last_offset

    # After a rebuild the live consumer carries on from where the replay stopped.
    more = make_traffic(seed=8, count=100)
    last_offset = await publish(pipeline.bus, more)
    await consume_live(pipeline, last_offset)
    assert await link_counters(pipeline.engine) == expected_counters(traffic + more, BOT_AGENTS.__contains__)


async def test_rebuild_while_this_process_consumes_gives_the_same_numbers(pipeline: Pipeline) -> None:
    traffic = make_traffic(seed=11, count=600)
    first_half = await publish(pipeline.bus, traffic[:300])
    await consume_live(pipeline, first_half)
    stop, caught_up = asyncio.Event(), asyncio.Event()
    last_offset = -1

    async def handle(events: list[Event]) -> None:
        await pipeline.service.handle_batch(events)
        if events[-1].offset >= last_offset > 0:
            caught_up.set()

    task = asyncio.create_task(
        run_batch_consumer(pipeline.bus, VISITS_TOPIC, ANALYTICS_GROUP, handle, stop=stop, max_events=50)
    )
    try:
        last_offset = await publish(pipeline.bus, traffic[300:])
        rebuilt = await pipeline.service.rebuild(pipeline.bus, batch_events=100)
        assert 300 <= rebuilt <= 600  # the rest may be left to the consumer
        if await pipeline.bus.committed(VISITS_TOPIC, ANALYTICS_GROUP) == last_offset:
            caught_up.set()
        await asyncio.wait_for(caught_up.wait(), TIMEOUT_SECONDS)
    finally:
        stop.set()
        await asyncio.wait_for(task, TIMEOUT_SECONDS)
    assert await link_counters(pipeline.engine) == expected_counters(traffic, BOT_AGENTS.__contains__)
    summary = await pipeline.service.summary(None)
    assert summary.non_orphan.total + summary.orphan.total == 600


async def test_rebuild_of_an_empty_topic_stores_nothing(pipeline: Pipeline) -> None:
    assert await pipeline.service.rebuild(pipeline.bus) == 0
    assert set((await link_counters(pipeline.engine)).values()) == {(0, 0)}
