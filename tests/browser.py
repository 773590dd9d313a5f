"""Real headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright, and a
session that collects console errors and, on failure, leaves a screenshot and says where it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox (tests run as root), and nothing that reaches out to the network this machine does not have.
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


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block (fails the test when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (`make test` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Session:
    """One page and every console error or uncaught exception it reported."""

    page: Page
    screenshot_path: Path
    describe: Callable[[], str] = lambda: ""  # more to say on failure (a server's log, say)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self.on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    @contextmanager
    def report_failure(self) -> Iterator[None]:
        """On failure: a screenshot, the page's address and `describe()` in the message."""
        try:
            yield
        except (AssertionError, PlaywrightError) as exc:
            try:
                self.page.screenshot(path=str(self.screenshot_path), full_page=True)
                where = f"screenshot: {self.screenshot_path}"
            except PlaywrightError as shot_error:
                where = f"no screenshot ({shot_error.message})"
            lines = [str(exc), where, f"at {self.page.url}", self.describe()]
            raise AssertionError("\n".join(line for line in lines if line)) from exc
