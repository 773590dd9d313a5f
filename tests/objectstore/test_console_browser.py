"""The console's pages in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium),
against the object store served in process with its console port: sign in with an access key, create
a bucket, upload a file through the form, open its details, download it, delete it. No console errors
along the way."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser import TIMEOUT_MS, Session, chromium
from tests.objectstore.harness import RunningStore, running_objectstore
from tests.objectstore.s3_server import ROOT_ACCESS_KEY, ROOT_SECRET_KEY

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def console_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStore]:
    with running_objectstore(tmp_path_factory.mktemp("objectstore-console"), console=True) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def session(browser: Browser, console_store: RunningStore, tmp_path: Path) -> Iterator[Session]:
    context = browser.new_context(
        base_url=console_store.console_url, color_scheme="light", accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Session(context.new_page(), tmp_path / "failure.png")
    finally:
        context.close()


def test_sign_in_create_a_bucket_upload_download_and_delete_an_object(
    session: Session, tmp_path: Path
) -> None:
    page = session.page
    upload = tmp_path / "holiday notes #1.bin"
    body = random.Random(11).randbytes(300 * 1024)  # erasure-coded, not kept inline
    upload.write_bytes(body)
    with session.report_failure():
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
        page.get_by_label("Access key").fill(ROOT_ACCESS_KEY)
        page.get_by_label("Secret key").fill(ROOT_SECRET_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Buckets", exact=True)).to_be_visible()

        page.get_by_label("Bucket name").fill("browser-bucket")
        page.get_by_role("button", name="Create bucket").click()
        expect(page.get_by_role("heading", name="browser-bucket")).to_be_visible()
        expect(page.get_by_text("Bucket created.")).to_be_visible()

        page.get_by_label("Files").set_input_files(upload)
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.get_by_text("Upload complete.")).to_be_visible()
        page.get_by_role("link", name=upload.name, exact=True).click()

        expect(page.get_by_role("heading", name=upload.name)).to_be_visible()
        expect(page.get_by_text("300.0 KiB")).to_be_visible()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download", exact=True).click()
        download = download_info.value
        assert download.suggested_filename == upload.name
        assert Path(download.path()).read_bytes() == body

        page.get_by_role("button", name="Delete object").click()
        expect(page.get_by_text("Object deleted.")).to_be_visible()
        expect(page.get_by_text("This bucket is empty.")).to_be_visible()
        expect(page.get_by_role("link", name=upload.name)).to_have_count(0)
    assert session.errors == []
