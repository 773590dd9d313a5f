"""Test data for the analytics pipeline: raw and stored visits, and links inserted straight into the
tables (so these tests depend on the schema, not on the link service)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.shortener.domain import Visit
from scalebox.shortener.ports import StoredVisit
from scalebox.shortener.storage.tables import link_tags, links, metadata, visit_rollups

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
DAY_MS = 24 * 3600 * 1000
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def create_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def add_link(
    engine: AsyncEngine, link_id: int, *, owner_id: int | None = None, tags: tuple[str, ...] = ()
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(links).values(
                id=link_id,
                code=f"c{link_id}",
                code_folded=f"c{link_id}",
                long_url=f"https://example.com/{link_id}",
                target_host="example.com",
                url_hash=f"{link_id:064d}",
                owner_id=owner_id,
                created_at=T0 - timedelta(days=30),
            )
        )
        for tag in tags:
            await conn.execute(insert(link_tags).values(link_id=link_id, tag=tag, owner_id=owner_id))


async def link_counters(engine: AsyncEngine) -> dict[int, tuple[int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(links.c.id, links.c.visits, links.c.bot_visits).order_by(links.c.id))
        return {row.id: (row.visits, row.bot_visits) for row in rows}


async def all_rollups(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(visit_rollups).order_by(*visit_rollups.primary_key.columns))
        return [tuple(row) for row in rows]


def make_visit(**overrides: object) -> Visit:
    fields: dict[str, object] = {
        "kind": "valid",
        "at_ms": T0_MS,
        "code": "c1",
        "link_id": 1,
        "user_agent": CHROME,
        "referer": "https://news.example.com/item",
        "remote_addr": "81.0.12.34",
        "visited_url": "https://s.test/c1",
        "redirect_url": "https://example.com/1",
    }
    fields.update(overrides)
    return Visit(**fields)  # type: ignore[arg-type]


_STORED = StoredVisit(
    event_id=0,
    kind="valid",
    visited_at=T0,
    link_id=1,
    code="c1",
    referer="https://news.example.com/item",
    referer_host="news.example.com",
    remote_addr="81.0.12.0",
    user_agent=CHROME,
    browser="Chrome",
    os="Windows",
    device="desktop",
    is_bot=False,
    country_code="DE",
    country_name="Germany",
    region_name="Land Berlin",
    city_name="Berlin",
    latitude=52.5244,
    longitude=13.4105,
    timezone="Europe/Berlin",
    visited_url="https://s.test/c1",
    redirect_url="https://example.com/1",
)


def make_stored(event_id: int, **overrides: object) -> StoredVisit:
    """A stored visit; `bot=True` makes it Googlebot's, `orphan=<kind>` an orphan visit of that kind."""
    visit = replace(_STORED, event_id=event_id)
    if overrides.pop("bot", False):
        visit = replace(
            visit, user_agent=GOOGLEBOT, browser="Googlebot", os="Other", device="bot", is_bot=True
        )
    orphan = overrides.pop("orphan", None)
    if orphan is not None:
        visit = replace(visit, kind=orphan, link_id=None, code=None)  # type: ignore[arg-type]
    return replace(visit, **overrides)  # type: ignore[arg-type]
