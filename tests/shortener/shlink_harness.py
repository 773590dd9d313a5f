"""The shortener app in process for the Shlink API tests: lifespan running, a FakeClock, accounts with
API keys, and one step of the analytics pipeline on demand (so visits show up without waiting)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from scalebox.core.clock import FakeClock
from scalebox.core.events import Event, consume_batch_once
from scalebox.shortener.app import Shortener, build_app
from scalebox.shortener.domain import visit_arrays
from scalebox.shortener.service.analytics import ANALYTICS_GROUP
from scalebox.shortener.service.redirects import VISITS_TOPIC
from scalebox.shortener.settings import ShortenerSettings

BASE = "http://testserver"
PROBLEM_JSON = "application/problem+json"
ERROR = "https://shlink.io/api/error/"
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
# httpx's own user agent counts as a bot; the tests' visitors are people unless a test says otherwise.
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


@dataclass
class Shlink:
    """A client on the app, the shortener behind it, and the clock it reads."""

    client: httpx.AsyncClient
    shortener: Shortener
    clock: FakeClock

    async def key(self, username: str, *, admin: bool = False) -> dict[str, str]:
        """A new account's API key, as the X-Api-Key header Shlink clients send."""
        account = await self.shortener.accounts.register(username, PASSWORD)
        if admin:
            await self.shortener.accounts.set_admin(account.id, True)
        _, plaintext = await self.shortener.accounts.issue_api_key(account.id, "shlink-client")
        return {"X-Api-Key": plaintext}

    async def create(self, headers: dict[str, str], long_url: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/rest/v3/short-urls", json={"longUrl": long_url, **fields}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def store_visits(self) -> int:
        """Publish the buffered visits and let the analytics consumer take one batch of events;
        returns how many visits those events held."""
        await self.shortener.recorder.flush()
        visits = 0

        async def handle(events: list[Event]) -> None:
            nonlocal visits
            visits += sum(len(visit_arrays(event.value)) for event in events)
            await self.shortener.analytics.handle_batch(events)

        await consume_batch_once(self.shortener.events, VISITS_TOPIC, ANALYTICS_GROUP, handle)
        return visits


@contextlib.asynccontextmanager
async def serve(data_dir: Path, **overrides: Any) -> AsyncIterator[Shlink]:
    """The shortener (redirect fast path included) with its lifespan running; no background analytics
    consumer, so tests store visits one step at a time with `Shlink.store_visits`."""
    clock = FakeClock(T0)
    options: dict[str, Any] = {
        "data_dir": data_dir,
        "events_url": "memory://",
        "workers": False,
        "log_requests": False,
        "secret_key": "s" * 32,
    }
    settings = ShortenerSettings(**{**options, **overrides})
    app = build_app(settings, clock=clock)
    web = app.app  # the FastAPI app behind the fast path owns the lifespan
    async with (
        web.router.lifespan_context(web),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url=BASE, headers={"User-Agent": BROWSER}
        ) as client,
    ):
        yield Shlink(client, web.state.shortener, clock)


def assert_problem(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """A Shlink problem document: status, content type, `type` and the members every problem has."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["type"] == f"{ERROR}{error}", body
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body
