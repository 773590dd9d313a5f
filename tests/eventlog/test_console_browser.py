"""The console's pages in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium),
against a broker served in process with its console (`serve_console`, as `scalebox eventlog serve`
runs it): open a topic, sign in as a SASL user, produce a test message through the form, see it in
the tail, and see a record produced by a Kafka client arrive in the live tail without a reload.
No console errors along the way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from scalebox.eventlog.http.console import serve_console
from scalebox.eventlog.protocol.records import NewRecord
from scalebox.eventlog.service.users import set_user
from scalebox.eventlog.storage.catalog import UserFile
from tests.browser import TIMEOUT_MS, Session, chromium
from tests.eventlog.harness import RunningBroker, running_broker
from tests.servers import HOST, free_port, wait_until

pytestmark = [pytest.mark.browser]

USER, PASSWORD = "browser-user", "a long enough password"


@pytest.fixture(scope="module")
def console_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningBroker, str]]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("eventlog-console")
    with running_broker(data_dir, console_port=port, flush_messages=10_000) as running:
        stop: list[asyncio.Event] = []
        serving: list[asyncio.Task[None]] = []

        async def start() -> None:
            stop.append(asyncio.Event())
            serving.append(asyncio.get_running_loop().create_task(serve_console(running.eventlog, stop[0])))

        async def finish() -> None:
            stop[0].set()
            await serving[0]

        running.call(start())
        url = f"http://{HOST}:{port}"
        wait_until(lambda: _healthy(url), timeout_seconds=30)
        set_user(UserFile(running.eventlog.settings.system_dir / "users.json"), USER, PASSWORD)
        running.run(running.eventlog.broker.create_topic, "browser-topic", 2, {})
        try:
            yield running, url
        finally:
            running.call(finish())


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def session(browser: Browser, console_broker: tuple[RunningBroker, str], tmp_path: Path) -> Iterator[Session]:
    context = browser.new_context(base_url=console_broker[1], color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Session(context.new_page(), tmp_path / "failure.png")
    finally:
        context.close()


def test_sign_in_produce_a_message_and_watch_the_live_tail(
    session: Session, console_broker: tuple[RunningBroker, str]
) -> None:
    running, _ = console_broker
    page = session.page
    with session.report_failure():
        page.goto("/")
        page.get_by_role("link", name="browser-topic").click()
        expect(page.get_by_role("heading", name="browser-topic")).to_be_visible()
        expect(page.get_by_text("No records yet.")).to_be_visible()

        page.get_by_role("link", name="Sign in to produce a test message").click()
        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", name="Produce a test message")).to_be_visible()
        expect(page.get_by_label("Topic")).to_have_value("browser-topic")
        page.get_by_label("Key").fill("order-<1>")
        page.get_by_label("Value").fill('{"total": "<b>42</b>"}')
        page.get_by_role("button", name="Produce").click()

        expect(page).to_have_url(
            re.compile(r"/topics/browser-topic\?produced_partition=\d&produced_offset=0#tail$")
        )
        expect(
            page.get_by_text(re.compile(r"Message produced to partition \d at offset 0\."))
        ).to_be_visible()
        tail = page.locator("#tail-rows")
        expect(tail.get_by_role("cell", name="order-<1>", exact=True)).to_be_visible()
        expect(tail.get_by_role("cell", name='{"total": "<b>42</b>"}', exact=True)).to_be_visible()
        expect(page.locator("#tail-status")).to_contain_text("Live")

        # A record from anywhere else shows up without a reload: the page asks for the newest ones.
        running.call(_append(running, b"from-a-client"))
        expect(tail.get_by_role("cell", name="from-a-client", exact=True)).to_be_visible()
        expect(page.locator("#tail-status")).to_contain_text("1 new record")
        pause = page.get_by_role("button", name="Pause updates")
        pause.click()
        expect(pause).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#tail-status")).to_have_text("Paused.")
    assert session.errors == []


async def _append(running: RunningBroker, value: bytes) -> None:
    broker = running.eventlog.broker
    partition = broker.partition("browser-topic", 1)
    broker.append_records(partition, [NewRecord(None, value, broker.now_ms())])
    await broker.wait_durable(partition, partition.log.log_end_offset)
