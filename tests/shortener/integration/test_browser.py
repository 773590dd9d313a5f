"""The shortener in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium) against a
real server: sign up, shorten a URL on the home page, follow the short link, and see the visit on the
link's dashboard once the analytics consumer has stored it. No console errors along the way."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import TIMEOUT_MS, Session, chromium
from tests.servers import HOST, ServerProcess, scalebox_argv, scalebox_env, start_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.xdist_group("shortener-server")]

VISIT_STORED_TIMEOUT_SECONDS = 10.0  # the consumer stores visits within ~100 ms; CI machines are slow
# A desktop browser's agent: headless Chromium announces itself as HeadlessChrome, which counts as a bot.
DESKTOP_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
PASSWORD = "correct horse battery"
LANDING_HTML = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Landing page</title>'
    b'<link rel="icon" href="data:,"></head><body><h1>You have arrived</h1></body></html>'
)


class _Landing(BaseHTTPRequestHandler):
    """The long URL's site: one small page, so following a short link needs no internet."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(LANDING_HTML)))
        self.end_headers()
        self.wfile.write(LANDING_HTML)

    def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
        return  # keep the test output clean


@pytest.fixture(scope="module")
def landing() -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), _Landing)
    thread = threading.Thread(target=server.serve_forever, name="landing-site", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def shortener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`scalebox shortener serve` on a free port with a private data dir and its workers running."""
    base = tmp_path_factory.mktemp("shortener-server")
    argv = scalebox_argv("shortener", "serve", "--host", HOST, "--port", "0")
    env = scalebox_env(base / "data", SCALEBOX_SHORTENER_LOG_REQUESTS="false")
    server = start_server("shortener", argv, env=env, log_path=base / "server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser, shortener: ServerProcess) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=shortener.url, color_scheme="light", user_agent=DESKTOP_AGENT)
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=shortener.url)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def session(context: BrowserContext, shortener: ServerProcess, tmp_path: Path) -> Session:
    return Session(context.new_page(), tmp_path / "failure.png", describe=shortener.log_tail)


def sign_up(page: Page, username: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/links$"))


def visits_shown(page: Page) -> str:
    page.reload()
    return page.locator("#visits-in-range").inner_text().strip()


def test_short_link_made_on_the_home_page_is_followed_and_counted_on_its_dashboard(
    session: Session, shortener: ServerProcess, landing: str
) -> None:
    page = session.page
    long_url = f"{landing}/spring/sale?ref=browser-test"
    with session.report_failure():
        sign_up(page, "walker")
        expect(page.get_by_role("link", name="walker")).to_be_visible()

        page.goto("/")
        page.get_by_role("textbox", name="Long URL").fill(long_url)
        page.get_by_text("More options").click()
        page.get_by_label("Title").fill("Spring sale")
        page.get_by_role("button", name="Shorten").click()
        expect(page.get_by_role("heading", name="Your short link is ready")).to_be_visible()
        short = page.locator("#short-url")
        short_url = short.get_attribute("href") or ""
        assert re.fullmatch(rf"{re.escape(shortener.url)}/[A-Za-z0-9]{{7}}", short_url), short_url
        code = short_url.rsplit("/", 1)[1]
        qr_loaded = page.get_by_role("img", name=f"QR code for {short_url}").evaluate(
            "image => image.complete && image.naturalWidth > 0"
        )
        assert qr_loaded, "the QR code image did not load"
        copy = page.locator('button[data-copy-target="short-url"]')  # its name changes when clicked
        copy.click()
        expect(page.locator("#copy-status")).to_have_text(f"Copied {short_url} to the clipboard")
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == short_url

        page.goto(short_url)
        expect(page).to_have_url(long_url)
        expect(page.get_by_role("heading", name="You have arrived")).to_be_visible()

        page.goto("/links")
        page.get_by_role("link", name=re.compile(rf"visits to {code}: dashboard")).click()
        expect(page.get_by_role("heading", name="Visits to Spring sale")).to_be_visible()
        wait_until(
            lambda: visits_shown(page) == "1",
            timeout_seconds=VISIT_STORED_TIMEOUT_SECONDS,
            describe=lambda: f"the dashboard still shows {page.locator('#visits-in-range').inner_text()!r}",
        )
        expect(page.locator("#recent-visits tbody tr")).to_have_count(1)
        expect(page.locator("#recent-visits")).to_contain_text("Chrome")

        page.get_by_role("link", name="Exclude bots").click()
        expect(page.locator("#visits-in-range")).to_have_text("1")  # a desktop browser is no bot

    assert session.errors == []
