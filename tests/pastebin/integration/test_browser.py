"""The pastebin's pages in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium):
the editor, a highlighted paste with line anchors, raw view, burn after reading, removal links,
no console errors, and a visible keyboard focus."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import TIMEOUT_MS, Session, chromium
from tests.servers import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.xdist_group("pastebin-server")]

TAB_PRESSES_MAX = 40

CODE = 'def greet(name: str) -> str:\n    return f"hello {name}"\n\n\nprint(greet("world"))\n'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def session(browser: Browser, pastebin: ServerProcess, tmp_path: Path) -> Iterator[Session]:
    context = browser.new_context(base_url=pastebin.url, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    session = Session(context.new_page(), tmp_path / "failure.png")
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
    with session.report_failure():
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
    with session.report_failure():
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
    with session.report_failure():
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
    with session.report_failure():
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
