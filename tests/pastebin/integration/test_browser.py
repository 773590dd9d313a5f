"""The pastebin's pages in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium):
the editor, a highlighted paste with line anchors, raw view, burn after reading, removal links,
no console errors, and a visible keyboard focus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.xdist_group("pastebin-server")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
TAB_PRESSES_MAX = 40

CODE = 'def greet(name: str) -> str:\n    return f"hello {name}"\n\n\nprint(greet("world"))\n'


@dataclass
class Session:
    """One browser context's page and every console error or uncaught exception it reported."""

    page: Page
    screenshot_path: Path
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({where})")

    @contextmanager
    def screenshot_on_failure(self) -> Iterator[None]:
        try:
            yield
        except (AssertionError, PlaywrightError) as exc:
            try:
                self.page.screenshot(path=str(self.screenshot_path), full_page=True)
                where = f"screenshot: {self.screenshot_path}"
            except PlaywrightError as shot_error:
                where = f"no screenshot ({shot_error.message})"
            raise AssertionError(f"{exc}\n{where}\nat {self.page.url}") from exc


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (`make test` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def session(browser: Browser, pastebin: ServerProcess, tmp_path: Path) -> Iterator[Session]:
    context = browser.new_context(base_url=pastebin.url, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    session = Session(page, tmp_path / "failure.png")
    page.on("console", session.on_console)
    page.on("pageerror", lambda error: session.errors.append(f"uncaught: {error}"))
    try:
        yield session
    finally:
        context.close()


def create_in_editor(
    page: Page, *, content: str, title: str = "", lexer: str = "", burn: bool = False
) -> str:
    """Fill the editor and submit it; returns the new paste's id (from the page it lands on)."""
    page.goto("/")
    if title:
        page.get_by_label("Title").fill(title)
    page.locator("#content-1").fill(content)
    if lexer:
        page.get_by_label("Language").select_option(lexer)
    if burn:
        page.get_by_label("Burn after reading").check()
    page.get_by_role("button", name="Create paste").click()
    page.wait_for_url(re.compile(r"/[A-Za-z0-9_-]+\?created="))
    return page.url.split("?", 1)[0].rsplit("/", 1)[1]


def test_editor_creates_highlighted_paste_with_line_anchors_and_raw_view(session: Session):
    page = session.page
    with session.screenshot_on_failure():
        paste_id = create_in_editor(page, content=CODE, title="Greeting in Python", lexer="python")

        expect(page.locator("h1#paste-title")).to_have_text("Greeting in Python")
        code = page.locator("#file-1 td.code")
        expect(code).to_contain_text('return f"hello {name}"')
        expect(code.locator("span.k", has_text="def")).to_have_count(1)  # highlighted as Python
        expect(page.locator("#removal-link")).to_contain_text("/remove/")

        page.locator("#file-1 td.linenos a", has_text=re.compile(r"^2$")).click()
        expect(page).to_have_url(re.compile(r"#f1-L-2$"))
        expect(page.locator("#f1-L-2")).to_have_count(1)

        page.get_by_role("link", name="Raw").click()
        expect(page).to_have_url(re.compile(rf"/raw/{paste_id}/1$"))
        assert page.locator("pre").inner_text().rstrip("\n") == CODE.rstrip("\n")

    assert session.errors == []


def test_burn_after_reading_paste_reveals_once_then_is_gone(session: Session):
    page = session.page
    secret = "read me once, then I am gone\n"
    with session.screenshot_on_failure():
        paste_id = create_in_editor(page, content=secret, title="Burner", burn=True)

        expect(page.locator("#file-1")).to_have_count(0)  # the gate hides the text until asked
        page.get_by_role("button", name="View and delete").click()
        expect(page.locator("#file-1")).to_contain_text("read me once, then I am gone")
        expect(page.get_by_role("alert")).to_contain_text("burned after reading")
        errors_before_revisit = list(session.errors)

        revisit = page.goto(f"/{paste_id}")
        assert revisit is not None
        assert revisit.status == 404
        expect(page.locator("#file-1")).to_have_count(0)

    assert errors_before_revisit == []
    # The only console error allowed now is Chromium's own note about the expected 404.
    assert all("404" in error for error in session.errors), session.errors


def test_removal_link_deletes_paste_after_confirmation(session: Session):
    page = session.page
    with session.screenshot_on_failure():
        paste_id = create_in_editor(page, content="delete me with my removal link\n", title="Doomed")
        removal = page.locator("#removal-link").inner_text().strip()

        page.goto(removal)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Doomed")
        page.get_by_role("button", name="Delete paste").click()
        expect(page.get_by_role("heading", name="Paste deleted")).to_be_visible()
        errors_before_revisit = list(session.errors)

        gone = page.goto(f"/{paste_id}")
        assert gone is not None
        assert gone.status == 404
        raw = page.goto(f"/raw/{paste_id}")
        assert raw is not None
        assert raw.status == 404

    assert errors_before_revisit == []


def test_editor_shows_visible_keyboard_focus_on_first_field(session: Session):
    page = session.page
    with session.screenshot_on_failure():
        page.goto("/")
        title = page.get_by_label("Title")
        for _ in range(TAB_PRESSES_MAX):
            page.keyboard.press("Tab")
            if title.evaluate("element => element === document.activeElement"):
                break
        else:
            pytest.fail(f"Tab never reached the title field in {TAB_PRESSES_MAX} presses")

        outline = title.evaluate(
            "element => { const s = getComputedStyle(element); return {style: s.outlineStyle,"
            " width: parseFloat(s.outlineWidth), visible: element.matches(':focus-visible')}; }"
        )
        assert outline["visible"], outline
        assert outline["style"] != "none", outline
        assert outline["width"] >= 2, outline

    assert session.errors == []
