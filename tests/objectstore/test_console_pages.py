"""The console's web pages, in process (httpx over ASGI) on real SQLite and drive folders: signing in
with an access key, permissions as the S3 API has them, browsing by folder with awkward keys, upload
and download, versions, access keys, drive health and healing, usage, CSRF and escaping."""

from __future__ import annotations

import contextlib
import html
import random
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from scalebox.core.clock import FakeClock
from scalebox.objectstore.app import ObjectStore, build_console_app, open_objectstore
from scalebox.objectstore.errors import NoSuchKeyError
from scalebox.objectstore.http.s3 import S3Api
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import WriteRequest
from scalebox.objectstore.settings import ObjectStoreSettings
from tests.objectstore.s3_server import ROOT_ACCESS_KEY, ROOT_SECRET_KEY

BASE = "http://console.test"
ROOT = Principal(ROOT_ACCESS_KEY, "root", is_admin=True)
ODD_KEYS = (
    "a b/c?d#e%f.txt",
    "ünï/çødé ☃.bin",
    "dots/../up.txt",
    "x%2Fy",
    "plus+sign&amp.txt",
    "<img src=x onerror=alert(1)>",
)
# A delete form: its action, then (after the CSRF field) the key it deletes.
DELETE_FORM = (
    r'action="([^"]*/object/delete)">\s*<input[^>]*>\s*<input type="hidden" name="key" value="([^"]*)"'
)


@dataclass
class Running:
    app: FastAPI
    objectstore: ObjectStore
    api: S3Api
    clock: FakeClock

    async def put(self, bucket: str, key: str, body: bytes, principal: Principal = ROOT) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield body

        await self.objectstore.service.put_object(
            principal, bucket, key, chunks(), WriteRequest(size=len(body))
        )

    async def new_key(self, name: str, *, is_admin: bool = False) -> tuple[str, str]:
        issued = await self.objectstore.keys.create(name, is_admin=is_admin)
        return issued.principal.access_key, issued.secret_key


@contextlib.asynccontextmanager
async def running_console(data_dir: Path) -> AsyncIterator[Running]:
    settings = ObjectStoreSettings(
        data_dir=data_dir,
        root_access_key=ROOT_ACCESS_KEY,
        root_secret_key=ROOT_SECRET_KEY,
        fsync=False,
        workers=False,
        block_bytes=256 * 1024,
        inline_bytes_max=16 * 1024,
    )
    clock = FakeClock()
    async with open_objectstore(settings, clock) as objectstore:
        api = S3Api(objectstore.service, objectstore.keys, settings, clock)
        yield Running(build_console_app(objectstore, api), objectstore, api, clock)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_console(tmp_path / "data") as running:
        yield running


class Browser:
    """A browser on the console: keeps cookies, asks for HTML, knows its CSRF token."""

    def __init__(self, console: Running) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(console.app), base_url=BASE, headers={"accept": "text/html"}
        )
        self.token = ""

    async def __aenter__(self) -> Browser:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        if not self.token:
            self.token = csrf_of((await self.client.get("/login")).text)
        return await self.client.post(path, data={"csrf_token": self.token, **fields})

    async def login(self, access_key: str, secret_key: str, next_path: str = "") -> httpx.Response:
        self.token = csrf_of((await self.client.get("/login")).text)
        return await self.post("/login", access_key=access_key, secret_key=secret_key, next=next_path)


@pytest.fixture
async def root(console: Running) -> AsyncIterator[Browser]:
    async with Browser(console) as browser:
        assert (await browser.login(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)).status_code == 303
        yield browser


@contextlib.asynccontextmanager
async def signed_in(console: Running, name: str) -> AsyncIterator[Browser]:
    """A browser signed in with a new (not administrator) key for `name`."""
    access_key, secret = await console.new_key(name)
    async with Browser(console) as browser:
        assert (await browser.login(access_key, secret)).status_code == 303
        yield browser


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def links(page: str) -> dict[str, str]:
    """Each link's visible text (tags stripped, unescaped) → its href (unescaped)."""
    found = {}
    for href, inner in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', page, re.S):
        found[html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()] = html.unescape(href)
    return found


def labelled(page: str, label: str) -> str:
    """The href of the link whose aria-label is `label`."""
    match = re.search(rf'<a href="([^"]*)"[^>]*aria-label="{re.escape(html.escape(label))}"', page)
    assert match, f"no link labelled {label!r}"
    return html.unescape(match.group(1))


# -- signing in ---------------------------------------------------------------------------------------


async def test_login_with_the_right_secret_sets_a_signed_httponly_session(console: Running) -> None:
    async with Browser(console) as browser:
        client = browser.client
        assert (await client.get("/")).headers["location"] == "/login?next=%2F"
        page = await client.get("/login?next=/usage")
        response = await client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "access_key": ROOT_ACCESS_KEY,
                "secret_key": ROOT_SECRET_KEY,
                "next": "/usage",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/usage"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("sbx_objectstore_session=")
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert ROOT_SECRET_KEY not in cookie
        usage = await client.get("/usage")
        assert usage.status_code == 200
        assert "root" in usage.text  # the signed-in name in the header


async def test_login_refuses_a_wrong_secret_and_an_offsite_next(console: Running) -> None:
    async with Browser(console) as browser:
        wrong = await browser.login(ROOT_ACCESS_KEY, ROOT_SECRET_KEY + "x")
        assert wrong.status_code == 401
        assert "Wrong access key or secret key." in wrong.text
        assert "sbx_objectstore_session" not in wrong.headers.get("set-cookie", "")
        unknown = await browser.login("NOSUCHKEY", ROOT_SECRET_KEY)
        assert unknown.status_code == 401
        offsite = await browser.login(ROOT_ACCESS_KEY, ROOT_SECRET_KEY, next_path="//evil.example/")
        assert offsite.headers["location"] == "/"


async def test_a_revoked_key_is_signed_out_and_cannot_sign_in(console: Running) -> None:
    async with signed_in(console, "alice") as alice:
        assert (await alice.get("/")).status_code == 200
        access_key = (await console.objectstore.keys.list())[-1].access_key
        await console.objectstore.keys.revoke(access_key)
        assert (await alice.get("/")).headers["location"].startswith("/login")
        assert (await alice.post("/buckets", name="after-revoke")).status_code == 401


async def test_sessions_end_after_their_lifetime(console: Running, root: Browser) -> None:
    assert (await root.get("/")).status_code == 200
    console.clock.advance(seconds=console.objectstore.settings.console_session_seconds + 1)
    assert (await root.get("/")).status_code == 303


async def test_more_than_ten_sign_ins_a_minute_from_one_address_are_refused(console: Running) -> None:
    async with Browser(console) as browser:
        for _ in range(10):
            assert (await browser.login(ROOT_ACCESS_KEY, "wrong secret")).status_code == 401
        refused = await browser.login(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        console.clock.advance(seconds=61)
        assert (await browser.login(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)).status_code == 303


async def test_logout_ends_the_session(root: Browser) -> None:
    response = await root.post("/logout")
    assert response.status_code == 303
    assert (await root.get("/")).status_code == 303


async def test_forms_without_this_browsers_csrf_token_are_refused(console: Running, root: Browser) -> None:
    assert (await root.client.post("/buckets", data={"name": "no-token"})).status_code == 403
    async with Browser(console) as other:
        foreign_token = csrf_of((await other.get("/login")).text)
    forged = await root.client.post("/buckets", data={"name": "forged", "csrf_token": foreign_token})
    assert forged.status_code == 403
    assert await console.objectstore.service.list_buckets(ROOT) == []


# -- buckets and permissions ------------------------------------------------------------------------


async def test_buckets_are_created_and_only_empty_ones_deleted(console: Running, root: Browser) -> None:
    created = await root.post("/buckets", name="photos")
    assert created.headers["location"] == "/buckets/photos?note=bucket-created"
    assert "Bucket created." in (await root.get(created.headers["location"])).text
    bad = await root.post("/buckets", name="Not_A_Bucket")
    assert bad.status_code == 422
    assert 'value="Not_A_Bucket"' in bad.text
    await console.put("photos", "cat.jpg", b"meow")
    listed = await root.get("/")
    assert re.search(r'<td class="num">1</td>\s*<td class="num">4 B</td>', listed.text)
    not_empty = await root.post("/buckets/photos/delete")
    assert not_empty.status_code == 409
    await console.objectstore.service.delete_object(ROOT, "photos", "cat.jpg")
    assert (await root.post("/buckets/photos/delete")).headers["location"] == "/?note=bucket-deleted"
    assert await console.objectstore.service.list_buckets(ROOT) == []


async def test_a_key_sees_only_its_own_buckets_and_an_admin_sees_all(console: Running, root: Browser) -> None:
    async with signed_in(console, "alice") as alice, signed_in(console, "bob") as bob:
        assert (await bob.post("/buckets", name="bob-private")).status_code == 303
        assert (await alice.post("/buckets", name="alice-things")).status_code == 303
        await console.put("bob-private", "secret.txt", b"bob's", Principal("x", "bob", is_admin=False))
        alice_list = (await alice.get("/")).text
        assert "alice-things" in alice_list
        assert "bob-private" not in alice_list
        assert "bob-private" not in (await alice.get("/usage")).text
        assert (await alice.get("/buckets/bob-private")).status_code == 403
        assert (await alice.get("/buckets/bob-private/download?key=secret.txt")).status_code == 403
        assert (await alice.get("/buckets/bob-private/object?key=secret.txt")).status_code == 403
        assert (await alice.post("/buckets/bob-private/object/delete", key="secret.txt")).status_code == 403
        assert (await alice.post("/buckets/bob-private/delete")).status_code == 403
        everything = (await root.get("/")).text
        assert "bob-private" in everything
        assert "alice-things" in everything
        assert (await root.get("/buckets/bob-private/download?key=secret.txt")).content == b"bob's"


# -- browsing, upload, download, delete -----------------------------------------------------------------


async def test_odd_keys_browse_download_and_delete(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "odd")
    for key in ODD_KEYS:
        await console.put("odd", key, f"body of {key}".encode())
    top = (await root.get("/buckets/odd")).text
    assert "<img src=x" not in top
    assert "&lt;img src=x onerror=alert(1)&gt;" in top
    assert {"a b/", "ünï/", "dots/"} <= set(links(top))
    for key in ODD_KEYS:
        # Walk down the folders by their links, as a user clicks.
        page = top
        folders = key.split("/")[:-1]
        for folder in folders:
            page = (await root.get(links(page)[folder + "/"])).text
        name = key.rsplit("/", 1)[-1]
        download = await root.get(labelled(page, f"Download {name}"))
        assert download.status_code == 200, key
        assert download.content == f"body of {key}".encode()
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith("attachment;")
        details = await root.get(links(page)[name])
        assert details.status_code == 200, key
        assert html.escape(key, quote=False) in details.text
        forms = dict(
            (html.unescape(value), html.unescape(action)) for action, value in re.findall(DELETE_FORM, page)
        )
        assert key in forms, forms
        deleted = await root.post(forms[key], key=key)
        assert deleted.status_code == 303
        assert urlsplit(deleted.headers["location"]).path == "/buckets/odd"
        with pytest.raises(NoSuchKeyError):
            await console.objectstore.service.get_object(ROOT, "odd", key)


async def test_browsing_pages_through_a_folder_with_the_continuation_marker(
    console: Running, root: Browser
) -> None:
    await console.objectstore.service.create_bucket(ROOT, "many")
    for number in range(105):
        await console.put("many", f"logs/{number:04}.txt", b"x")
    await console.put("many", "logs/sub/deeper.txt", b"x")
    first = (await root.get("/buckets/many?prefix=logs%2F")).text
    shown = re.findall(r">(\d{4}\.txt)</a>", first)
    assert len(shown) == 100
    assert shown[0] == "0000.txt"
    assert "sub/" not in links(first)  # folders sort after the digits, onto the second page
    second = (await root.get(links(first)["Next page"])).text
    assert re.findall(r">(\d{4}\.txt)</a>", second) == [f"{n:04}.txt" for n in range(100, 105)]
    assert "sub/" in links(second)
    assert "Next page" not in links(second)
    assert "First page" in links(second)


async def test_uploaded_files_download_byte_identical(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "uploads")
    big = random.Random(7).randbytes(1536 * 1024)  # past the 1 MiB spool and the inline limit
    small = b"tiny \x00 bytes"
    response = await root.client.post(
        "/buckets/uploads/upload",
        data={"csrf_token": root.token, "prefix": "in here/"},
        files=[
            ("files", ("big one.bin", big, "application/x-test")),
            ("files", ("small?.txt", small, "text/plain")),
        ],
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/buckets/uploads?prefix=in%20here%2F&note=uploaded"
    page = (await root.get(response.headers["location"])).text
    assert "Upload complete." in page
    assert (await root.get(labelled(page, "Download big one.bin"))).content == big
    assert (await root.get(labelled(page, "Download small?.txt"))).content == small
    stored = await console.objectstore.service.get_object(ROOT, "uploads", "in here/big one.bin")
    assert stored.content_type == "application/x-test"
    assert stored.parts  # erasure-coded, not inline
    details = (await root.get(links(page)["big one.bin"])).text
    assert "1.5 MiB" in details
    assert stored.etag in html.unescape(details)


async def test_an_upload_without_files_is_refused(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "uploads")
    response = await root.client.post(
        "/buckets/uploads/upload",
        data={"csrf_token": root.token, "prefix": ""},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 422
    assert "Choose at least one file" in response.text


# -- versions and presigned links ------------------------------------------------------------------------


async def test_versions_are_listed_downloadable_and_deletable(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "kept")
    enabled = await root.post("/buckets/kept/versioning", status="Enabled")
    assert enabled.headers["location"] == "/buckets/kept?note=versioning-enabled"
    for body in (b"first", b"second"):
        await root.client.post(
            "/buckets/kept/upload",
            data={"csrf_token": root.token, "prefix": "doc/"},
            files=[("files", ("v.txt", body, "text/plain"))],
        )
    details = (await root.get("/buckets/kept/object?key=doc%2Fv.txt")).text
    version_downloads = re.findall(r'<a href="([^"]*download[^"]*version=[^"]*)"', details)
    assert len(version_downloads) == 2
    bodies = {(await root.get(html.unescape(href))).content for href in version_downloads}
    assert bodies == {b"first", b"second"}
    assert "latest" in details
    deleted = await root.post("/buckets/kept/object/delete", key="doc/v.txt")
    assert deleted.headers["location"] == "/buckets/kept?prefix=doc%2F&note=object-deleted"
    after = (await root.get("/buckets/kept/object?key=doc%2Fv.txt")).text
    assert "delete marker" in after
    assert len(re.findall(r'<a href="[^"]*download[^"]*version=', after)) == 2  # the data is kept
    oldest = (await console.objectstore.service.list_versions(ROOT, "kept")).versions[-1]
    gone = await root.post("/buckets/kept/object/delete", key="doc/v.txt", version=oldest.version_id)
    assert "note=version-deleted" in gone.headers["location"]
    remaining = await console.objectstore.service.list_versions(ROOT, "kept")
    assert oldest.version_id not in {version.version_id for version in remaining.versions}


async def test_a_presigned_link_reads_the_object_through_the_s3_api(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "shared")
    await console.put("shared", "a dir/report #1.txt", b"quarterly")
    page = await root.post("/buckets/shared/object/presign", key="a dir/report #1.txt")
    assert page.headers["cache-control"] == "no-store"
    match = re.search(r'id="presigned-url" value="([^"]+)"', page.text)
    assert match
    url = html.unescape(match.group(1))
    assert url.startswith(
        f"http://console.test:{console.objectstore.settings.port}/shared/a%20dir/report%20%231.txt?"
    )
    assert "X-Amz-Expires=3600" in url
    async with httpx.AsyncClient(transport=httpx.ASGITransport(console.api)) as s3:
        response = await s3.get(url)
    assert response.status_code == 200, response.text
    assert response.content == b"quarterly"


# -- access keys ------------------------------------------------------------------------------------


async def test_an_admin_creates_a_key_shown_once_and_revokes_it(console: Running, root: Browser) -> None:
    created = await root.post("/keys", name="carol")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    access_key = re.search(r'id="new-access-key">([^<]+)<', created.text)
    secret = re.search(r'id="new-secret-key">([^<]+)<', created.text)
    assert access_key
    assert secret
    async with Browser(console) as carol:
        assert (await carol.login(access_key.group(1), html.unescape(secret.group(1)))).status_code == 303
        assert html.unescape(secret.group(1)) not in (await root.get("/keys")).text
        revoked = await root.post("/keys/revoke", access_key=access_key.group(1))
        assert revoked.headers["location"] == "/keys?note=key-revoked"
        assert (await carol.get("/")).status_code == 303
    invalid = await root.post("/keys", name="has spaces")
    assert invalid.status_code == 422


async def test_a_non_admin_sees_only_its_key_and_cannot_manage_keys(console: Running) -> None:
    async with signed_in(console, "alice") as alice:
        page = (await alice.get("/keys")).text
        assert ROOT_ACCESS_KEY not in page
        assert "Your key" in page
        assert 'action="/keys"' not in page
        assert (await alice.post("/keys", name="mallory", admin="on")).status_code == 403
        assert (await alice.post("/keys/revoke", access_key=ROOT_ACCESS_KEY)).status_code == 403
    assert [row.name for row in await console.objectstore.keys.list()] == ["root", "alice"]
    assert await console.objectstore.keys.lookup(ROOT_ACCESS_KEY) is not None


# -- drives, healing, usage ---------------------------------------------------------------------------


async def test_the_drives_page_shows_a_lost_drive_and_an_admin_heals_it(
    console: Running, root: Browser
) -> None:
    await console.objectstore.service.create_bucket(ROOT, "data")
    await console.put("data", "big.bin", random.Random(3).randbytes(300 * 1024))
    lost = console.objectstore.settings.resolved_drives[2]
    shutil.rmtree(lost)
    page = (await root.get("/drives")).text
    assert "5 of 6 drives online" in page
    assert re.search(
        rf"{re.escape(str(lost))}</code></td>\s*<td><span class=\"badge down\">missing</span>", page
    )
    async with signed_in(console, "alice") as alice:
        assert "Only an administrator can start a heal." in (await alice.get("/drives")).text
        assert (await alice.post("/drives/heal")).status_code == 403
    started = await root.post("/drives/heal")
    assert started.headers["location"] == "/drives?note=heal-started"
    await console.app.state.console.heal.wait()
    healed = (await root.get("/drives")).text
    assert "all 6 drives online" in healed
    assert re.search(r"Heal finished .*1 shard sets checked, 1 damaged, 1 healed", healed, re.S)


async def test_usage_shows_bytes_per_bucket_as_a_table_and_a_chart(console: Running, root: Browser) -> None:
    for name, size in (("small", 10), ("large", 40_000)):
        await console.objectstore.service.create_bucket(ROOT, name)
        await console.put(name, "blob", b"x" * size)
    page = (await root.get("/usage")).text
    assert '<svg viewBox="0 0 640 ' in page
    widths = [int(width) for width in re.findall(r'<rect x="160" y="\d+" width="(\d+)"', page)]
    assert len(widths) == 2
    assert max(widths) > 100 * min(widths) > 0  # large, then small: in name order
    assert "39.1 KiB" in page
    assert "10 B" in page


async def test_hostile_names_are_escaped_everywhere(console: Running, root: Browser) -> None:
    await console.objectstore.service.create_bucket(ROOT, "escapes")
    hostile = "<script>alert(1)</script>/\"quoted\" & 'single'.txt"
    await console.put("escapes", hostile, b"x")
    for path in ("/buckets/escapes", "/buckets/escapes?prefix=%3Cscript%3Ealert(1)%3C%2Fscript%3E%2F"):
        page = (await root.get(path)).text
        assert "<script>alert(1)</script>" not in page
    details = (await root.get("/buckets/escapes/object?" + urlencode({"key": hostile}))).text
    assert "<script>" not in details
    assert "&lt;script&gt;alert(1)&lt;/script&gt;/&#34;quoted&#34; &amp; &#39;single&#39;.txt" in details
