"""The redirect fast path and its hand-offs: LRU hits answered before the framework, misses and
inactive links through the full app, orphan visits, visit limits, cross-process invalidation, and the
console's figures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from scalebox.shortener.domain import fold
from scalebox.shortener.service.links import Actor
from tests.shortener.shlink_harness import BROWSER, Shlink, serve

REDIRECT_HEADERS = {"User-Agent": BROWSER}


@pytest.fixture
async def shlink(tmp_path: Path) -> AsyncIterator[Shlink]:
    async with serve(tmp_path) as running:
        yield running


async def visits_of(shlink: Shlink, headers: dict[str, str], code: str) -> int:
    body = (await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=headers)).json()
    return int(body["visitsSummary"]["total"])


async def test_a_cached_link_is_answered_by_the_fast_path(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/landing", forwardQuery=False)
    fast = shlink.client._transport.app.fast  # type: ignore[attr-defined]  # the RedirectFastPath
    response = await shlink.client.get(f"/{link['shortCode']}?utm=x")
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/landing"
    assert response.headers["cache-control"] == "private, max-age=0, no-store"
    assert response.headers["x-robots-tag"] == "noindex"
    assert shlink.client._transport.app.fast == fast + 1  # type: ignore[attr-defined]
    head = await shlink.client.head(f"/{link['shortCode'].lower()}")
    assert head.status_code == 302
    assert await shlink.store_visits() == 2
    assert await visits_of(shlink, key, link["shortCode"]) == 2


async def test_a_miss_is_looked_up_answered_here_and_fills_the_lru(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/", redirectType=301, crawlable=True, tags=["b", "A"])
    source = shlink.shortener.source
    source.lru.evict(fold(link["shortCode"]))
    fast, loads = shlink.client._transport.app.fast, source.loads  # type: ignore[attr-defined]
    hits, misses = source.hits, source.misses
    response = await shlink.client.get(f"/{link['shortCode']}")
    assert response.status_code == 301
    assert response.headers["cache-control"] == "private, max-age=30"
    assert "x-robots-tag" not in response.headers
    assert shlink.client._transport.app.fast == fast + 1  # type: ignore[attr-defined]
    assert source.loads == loads + 1
    assert (source.hits, source.misses) == (hits, misses + 1)  # one lookup, however often it peeked
    found, cached = source.cached(fold(link["shortCode"]))
    assert found
    assert cached is not None
    assert cached.tags == ("A", "b")
    assert await shlink.store_visits() == 1


async def test_unknown_codes_and_reserved_words_still_reach_the_full_app(shlink: Shlink) -> None:
    source = shlink.shortener.source
    loads = source.loads
    unknown = await shlink.client.get("/NoSuchCode")
    assert unknown.status_code == 404
    assert "Link not found" in unknown.text
    assert source.loads == loads + 1  # looked up once: the full app finds the cached "no such code"
    assert (await shlink.client.get("/healthz")).status_code == 200
    assert (await shlink.client.get("/no.such.thing")).status_code == 404
    assert source.loads == loads + 1  # neither a reserved word nor a non-code is looked up


@pytest.mark.parametrize(
    ("fields", "advance_seconds", "title"),
    [
        ({"validUntil": "2026-11-21T09:00:05+00:00"}, 10, "Link expired"),
        ({"validSince": "2026-11-21T10:00:00+00:00"}, 0, "Link not active yet"),
    ],
)
async def test_inactive_links_get_a_404_page_saying_why(
    shlink: Shlink, fields: dict[str, Any], advance_seconds: float, title: str
) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/", **fields)
    shlink.clock.advance(seconds=advance_seconds)
    response = await shlink.client.get(f"/{link['shortCode']}")
    assert response.status_code == 404
    assert title in response.text
    assert response.headers["cache-control"] == "no-store"
    source = shlink.shortener.source
    before = (source.hits, source.misses, source.loads)
    again = await shlink.client.get(f"/{link['shortCode']}")
    assert title in again.text
    # Cached and inactive: the fast path hands it straight to the full app, which looks it up once.
    assert (source.hits, source.misses, source.loads) == (before[0] + 1, before[1], before[2])


async def test_a_disabled_link_stops_at_once(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/")
    assert (await shlink.client.get(f"/{link['shortCode']}")).status_code == 302
    await shlink.shortener.links.edit(await _actor(shlink, "alice"), link["shortCode"], {"disabled": True})
    response = await shlink.client.get(f"/{link['shortCode']}")
    assert response.status_code == 404
    assert "Link disabled" in response.text


async def _actor(shlink: Shlink, username: str) -> Actor:
    account = await shlink.shortener.accounts.find(username)
    assert account is not None
    return Actor(account.id)


async def test_the_visit_limit_holds_before_visits_are_stored(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/", maxVisits=3)
    statuses = [(await shlink.client.get(f"/{link['shortCode']}")).status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 404, 404]
    assert await shlink.store_visits() == 5  # three visits and two invalid_short_url orphans
    shlink.shortener.source.lru.evict(fold(link["shortCode"]))
    response = await shlink.client.get(f"/{link['shortCode']}")
    assert response.status_code == 404
    assert "Link used up" in response.text


async def test_orphan_visits_are_recorded_by_kind(shlink: Shlink) -> None:
    admin = await shlink.key("root", admin=True)
    assert (await shlink.client.get("/")).status_code == 200
    assert (await shlink.client.get("/NoSuchCode")).status_code == 404
    assert (await shlink.client.get("/some/deep/path.php")).status_code == 404
    assert (
        await shlink.client.get("/rest/v3/nothing-here", headers=admin)
    ).status_code == 404  # API: not a visit
    await shlink.store_visits()
    body = (await shlink.client.get("/rest/v3/visits/orphan", headers=admin)).json()
    kinds = sorted(
        (visit["type"], visit["visitedUrl"].rsplit("/", 1)[-1]) for visit in body["visits"]["data"]
    )
    assert kinds == [("base_url", ""), ("invalid_short_url", "NoSuchCode"), ("regular_404", "path.php")]


async def test_console_figures(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/")
    await shlink.client.get(f"/{link['shortCode']}")
    await shlink.shortener.recorder.flush()
    body = (await shlink.client.get("/api/stats")).json()
    figures = {figure["key"]: figure["value"] for figure in body["figures"]}
    assert body["system"] == "shortener"
    assert figures["links"] == 1
    assert figures["visits_recorded"] == 1
    assert figures["analytics_lag"] == 1  # published, not yet consumed
    await shlink.store_visits()
    figures = {f["key"]: f["value"] for f in (await shlink.client.get("/api/stats")).json()["figures"]}
    assert (figures["analytics_lag"], figures["visits"]) == (0, 1)


@contextlib.asynccontextmanager
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Shlink, Shlink]]:
    """Two shortener apps sharing one database and one SQLite event log, as two processes would."""
    shared = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "events_url": f"sqlite:{tmp_path / 'events.db'}",
    }
    async with serve(tmp_path / "one", **shared) as one, serve(tmp_path / "two", **shared) as two:
        yield one, two


async def test_an_edit_in_one_process_evicts_the_link_in_the_other(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (one, two):
        await one.key("alice")
        account = await one.shortener.accounts.find("alice")
        assert account is not None
        _, plaintext = await one.shortener.accounts.issue_api_key(account.id, "k")
        key = {"X-Api-Key": plaintext}
        link = await one.create(key, "https://example.com/old")
        assert (await two.client.get(f"/{link['shortCode']}")).headers[
            "location"
        ] == "https://example.com/old"
        assert two.shortener.source.cached(fold(link["shortCode"]))[0]
        patched = await one.client.patch(
            f"/rest/v3/short-urls/{link['shortCode']}",
            json={"longUrl": "https://example.com/new"},
            headers=key,
        )
        assert patched.status_code == 200

        async def evicted() -> bool:
            return not two.shortener.source.cached(fold(link["shortCode"]))[0]

        # Process two's invalidation consumer (a background task) drops its copy within a poll or two.
        await _eventually(evicted)
        assert (await two.client.get(f"/{link['shortCode']}")).headers[
            "location"
        ] == "https://example.com/new"


async def _eventually(condition: Any, timeout_seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while not await condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_link_in_use_is_refreshed_by_the_background_task(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/")
    source = shlink.shortener.source
    shlink.clock.advance(seconds=230)  # late in the cached copy's 240-300 s
    assert (await shlink.client.get(f"/{link['shortCode']}")).status_code == 302

    async def refreshed() -> bool:
        return source.refreshed == 1

    await _eventually(refreshed)
    shlink.clock.advance(seconds=100)  # past the first copy's end
    loads = source.loads
    assert (await shlink.client.get(f"/{link['shortCode']}")).status_code == 302
    assert source.loads == loads  # still cached: no miss


async def test_metrics_count_fast_redirects_visits_and_lookups(shlink: Shlink) -> None:
    key = await shlink.key("alice")
    link = await shlink.create(key, "https://example.com/")
    for _ in range(3):
        await shlink.client.get(f"/{link['shortCode']}")
    await shlink.shortener.recorder.flush()
    metrics = (await shlink.client.get("/metrics")).text
    assert "shortener_fast_redirects_total 3.0" in metrics
    assert 'shortener_visits_total{outcome="recorded"} 3.0' in metrics
    assert 'shortener_visits_total{outcome="published"} 3.0' in metrics
    assert 'shortener_visits_total{outcome="dropped"} 0.0' in metrics
    assert "shortener_visits_buffered 0.0" in metrics
    assert 'shortener_link_lookups_total{tier="lru_hit"} 3.0' in metrics
    assert "shortener_links_refreshed_total 0.0" in metrics
