"""The trading screen in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium),
against the exchange's web app served in process with a real venue, journal, clearing and market
data: sign in, place a buy through the form, let another participant's crossing sell arrive
through the API, and see the trade on the tape, the fill in my fills and the rest of my order on
the ladder, live, without a reload; then cancel it, and halt trading from the operations view.
No console errors along the way (the pages run under the repo's strict CSP)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser import TIMEOUT_MS, Session, chromium
from tests.exchange.web_harness import PASSWORD, ServedExchange, serve_web_exchange

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedExchange]:
    with serve_web_exchange(tmp_path_factory.mktemp("exchange-web")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def session(browser: Browser, served: ServedExchange, tmp_path: Path) -> Iterator[Session]:
    context = browser.new_context(base_url=served.url, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Session(context.new_page(), tmp_path / "failure.png")
    finally:
        context.close()


def sign_in(session: Session, participant: str) -> None:
    page = session.page
    page.goto("/")
    page.get_by_label("Participant id").fill(participant)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_crossing_order_shows_on_the_tape_and_in_my_fills_live(
    session: Session, served: ServedExchange
) -> None:
    page = session.page
    with session.report_failure():
        sign_in(session, "bob")
        expect(page.get_by_role("heading", name="ACME", exact=True)).to_be_visible()
        expect(page.locator("#live-status")).to_have_text("Live.")

        page.get_by_label("Buy").check()
        page.get_by_label("Quantity").fill("10")
        page.get_by_label("Price (limit)").fill("100.00")
        page.get_by_role("button", name="Place order").click()
        expect(page.locator("#entry-status")).to_have_text(re.compile(r"^Order \w+ new\.$"))
        orders = page.locator("#order-rows")
        expect(orders.locator("tr")).to_have_count(1)
        expect(orders.locator("tr").first.locator("td").nth(6)).to_have_text("10")
        expect(page.locator("#ladder-rows tr.bid")).to_have_text(re.compile(r"10\s*100\.00"))

        # carol sells 4 through the API, crossing bob's bid: bob's screen updates without a reload.
        sold = httpx.post(f"{served.url}/api/orders", auth=("carol", PASSWORD), timeout=10, json={
            "symbol": "ACME", "side": "sell", "type": "limit", "tif": "day", "quantity": 4, "price": "99.00",
        })  # fmt: skip
        assert sold.status_code == 201, sold.text

        tape = page.locator("#tape-rows tr").first
        expect(tape.locator("td").nth(1)).to_have_text("100.00")
        expect(tape.locator("td").nth(2)).to_have_text("4")
        expect(tape.locator("td").nth(3)).to_have_text("sell")
        fill = page.locator("#fill-rows tr").first
        expect(fill.locator("td").nth(2)).to_have_text("buy")
        expect(fill.locator("td").nth(3)).to_have_text("4")
        expect(fill.locator("td").nth(4)).to_have_text("100.00")
        expect(orders.locator("tr").first.locator("td").nth(6)).to_have_text("6")
        expect(page.locator("#ladder-rows tr.bid")).to_have_text(re.compile(r"6\s*100\.00"))

        page.get_by_role("button", name=re.compile(r"^Cancel order ")).click()
        expect(orders.locator("tr")).to_have_count(0)
        expect(page.locator("#orders-empty")).to_be_visible()
        expect(page.locator("#ladder-empty")).to_be_visible()
    assert session.errors == []


def test_an_operator_halts_an_instrument_from_the_operations_view(
    session: Session, served: ServedExchange
) -> None:
    page = session.page
    with session.report_failure():
        sign_in(session, "alice")
        page.get_by_role("link", name="Operations").click()
        expect(page.get_by_role("heading", name="Operations")).to_be_visible()
        row = page.locator('tr[data-symbol="GLOBEX"]')
        row.get_by_label("Halt reason for GLOBEX").fill("news <pending>")
        row.get_by_role("button", name="Halt GLOBEX").click()

        expect(page.get_by_text("Trading halted.")).to_be_visible()
        expect(row.locator('[data-field="state"]')).to_have_text("halted news <pending>")
        refused = httpx.post(f"{served.url}/api/orders", auth=("bob", PASSWORD), timeout=10, json={
            "symbol": "GLOBEX", "side": "buy", "quantity": 1, "price": "250.00",
        })  # fmt: skip
        assert refused.status_code == 409
        assert refused.json()["detail"] == "order rejected: trading is halted"

        row.get_by_role("button", name="Resume GLOBEX").click()
        expect(page.get_by_text("Trading resumed.")).to_be_visible()
        expect(row.locator('[data-field="state"]')).to_have_text("trading")
    assert session.errors == []
