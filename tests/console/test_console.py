"""The console: pure catalog, sparkline and figure rules, and the app in process (with its lifespan)
polling a real pastebin server over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from scalebox.console import ConsoleSettings
from scalebox.console.app import build_app
from scalebox.console.domain import Figure, SystemEntry, parse_catalog, sparkline_points
from scalebox.console.service import Poller
from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError
from tests.servers import ServerProcess, free_port, start_pastebin

# -- pure rules ---------------------------------------------------------------------------------------


def test_parse_catalog_reads_entries_in_order():
    text = " pastebin=Pastebin=http://127.0.0.1:8001/ , ,shortener=Short links=https://s.example:8443"

    assert parse_catalog(text) == (
        SystemEntry("pastebin", "Pastebin", "http://127.0.0.1:8001"),
        SystemEntry("shortener", "Short links", "https://s.example:8443"),
    )


def test_parse_catalog_reads_empty_text_as_no_systems():
    assert parse_catalog("") == ()
    assert parse_catalog(" , ") == ()


@pytest.mark.parametrize(
    "text",
    ["pastebin", "pastebin=Pastebin", "pastebin=Pastebin=ftp://host:21", "ok=Ok=http://a:1,broken"],
)
def test_parse_catalog_rejects_malformed_entry(text: str):
    with pytest.raises(InvalidError, match="bad console catalog entry"):
        parse_catalog(text)


def test_console_settings_catalog_rejects_malformed_environment():
    settings = ConsoleSettings.from_env(environ={"SCALEBOX_CONSOLE_SYSTEMS": "pastebin=http://x"})

    with pytest.raises(InvalidError):
        _ = settings.catalog


def test_sparkline_points_is_empty_below_two_values():
    assert sparkline_points([]) == ""
    assert sparkline_points([5.0]) == ""


def test_sparkline_points_spans_the_box_low_at_bottom_high_at_top():
    points = sparkline_points([0.0, 10.0, 5.0], width=120, height=28)

    assert points == "0.0,27.0 60.0,1.0 120.0,14.0"


def test_sparkline_points_draws_constant_values_flat():
    points = sparkline_points([3.0, 3.0, 3.0, 3.0], width=90, height=28)

    assert points == "0.0,27.0 30.0,27.0 60.0,27.0 90.0,27.0"


@pytest.mark.parametrize(
    ("figure", "shown"),
    [
        (Figure("k", "K", None), "–"),
        (Figure("k", "K", 0.5, "ratio"), "50.0%"),
        (Figure("k", "K", 0.12345, "ratio"), "12.3%"),
        (Figure("k", "K", 1234567.0), "1,234,567"),
        (Figure("k", "K", 0.0), "0"),
        (Figure("k", "K", 2.5), "2.50"),
        (Figure("k", "K", 12345.678), "12,345.68"),
    ],
)
def test_figure_display_formats_by_unit(figure: Figure, shown: str):
    assert figure.display() == shown


# -- the app, polling a real pastebin ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pastebin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("console-pastebin")
    server = start_pastebin(base / "data", base / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            created = client.post("/api/v1/paste", json={"files": [{"content": "for the console\n"}]})
            assert created.status_code == 200, created.text
        yield server
    finally:
        server.stop()


@dataclass
class Console:
    client: httpx.AsyncClient
    clock: FakeClock
    poller: Poller


@asynccontextmanager
async def console(systems: str) -> AsyncIterator[Console]:
    """The console app in process, its lifespan (and so its first poll) run, and a client to it."""
    clock = FakeClock()
    # The background loop polls once at start, then waits an hour: tests poll by calling one step.
    settings = ConsoleSettings(systems=systems, poll_seconds=3600, poll_timeout_seconds=5)
    app = build_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            yield Console(client, clock, app.state.poller)


def system_card(html: str, name: str) -> str:
    match = re.search(rf'<section class="card system" data-system="{name}".*?</section>', html, re.DOTALL)
    assert match, f"no card for {name} in the page:\n{html}"
    return match.group(0)


def health_of(card: str) -> str:
    match = re.search(r'data-field="health">([^<]*)<', card)
    assert match, card
    return match.group(1)


@pytest.mark.integration
async def test_index_lists_running_pastebin_as_up_with_figures(pastebin: ServerProcess):
    async with console(f"pastebin=Pastebin={pastebin.url}") as running:
        page = await running.client.get("/")

    assert page.status_code == 200
    card = system_card(page.text, "pastebin")
    assert health_of(card) == "up", f"{card}\n{pastebin.log_tail()}"
    assert f'href="{pastebin.url}/"' in card
    for label in ("Pastes", "Reads/min", "Cache hit ratio"):
        assert f'<dt class="figure-label">{label}</dt>' in card
    pastes = re.search(r'data-key="pastes">.*?data-field="value">([^<]*)<', card, re.DOTALL)
    assert pastes, card
    assert int(pastes.group(1).replace(",", "")) >= 1, card


@pytest.mark.integration
async def test_index_draws_sparkline_after_two_polls(pastebin: ServerProcess):
    async with console(f"pastebin=Pastebin={pastebin.url}") as running:
        running.clock.advance(seconds=5)
        await running.poller.poll_all()
        page = await running.client.get("/")

    card = system_card(page.text, "pastebin")
    assert '<svg viewBox="0 0 120 28"' in card
    spark = re.search(r'data-key="pastes">.*?<polyline[^>]* points="([^"]*)"', card, re.DOTALL)
    assert spark, card
    # The lifespan polled, the background loop's first round may have too, and the test polled once.
    assert len(spark.group(1).split()) >= 2, spark.group(1)


@pytest.mark.integration
async def test_api_systems_answers_health_and_figures_as_json(pastebin: ServerProcess):
    async with console(f"pastebin=Pastebin={pastebin.url}") as running:
        response = await running.client.get("/api/systems")

    assert response.status_code == 200
    (system,) = response.json()["systems"]
    assert system["name"] == "pastebin"
    assert system["title"] == "Pastebin"
    assert system["url"] == pastebin.url
    assert system["health"] == "up"
    assert system["detail"] == "healthy"
    assert system["checked_at"] == running.clock.now().isoformat()
    figures = {figure["key"]: figure for figure in system["figures"]}
    assert set(figures) == {"pastes", "reads_per_minute", "cache_hit_ratio"}
    assert figures["pastes"]["value"] >= 1
    assert figures["cache_hit_ratio"]["label"] == "Cache hit ratio"
    assert all(isinstance(figure["display"], str) for figure in figures.values())


@pytest.mark.integration
async def test_index_shows_unreachable_system_down_beside_running_one(pastebin: ServerProcess):
    closed = free_port()  # nothing listens there once the probe socket is closed
    systems = f"pastebin=Pastebin={pastebin.url},ghost=Ghost=http://127.0.0.1:{closed}"

    async with console(systems) as running:
        page = await running.client.get("/")
        data = (await running.client.get("/api/systems")).json()

    assert page.status_code == 200
    assert health_of(system_card(page.text, "pastebin")) == "up"
    ghost = system_card(page.text, "ghost")
    assert health_of(ghost) == "down"
    assert "unreachable" in ghost
    assert 'class="figure-cell"' not in ghost
    states = {system["name"]: system for system in data["systems"]}
    assert states["ghost"]["health"] == "down"
    assert states["ghost"]["figures"] == []


async def test_index_with_empty_catalog_shows_no_system_cards():
    async with console("") as running:
        page = await running.client.get("/")
        data = (await running.client.get("/api/systems")).json()

    assert page.status_code == 200
    assert "No systems are running" in page.text
    assert 'class="card system"' not in page.text
    assert data == {"systems": []}


async def test_console_refuses_to_start_with_malformed_catalog():
    app = build_app(ConsoleSettings(systems="pastebin=Pastebin=localhost:8001"), clock=FakeClock())

    with pytest.raises(InvalidError, match="localhost:8001"):
        async with app.router.lifespan_context(app):
            pass
