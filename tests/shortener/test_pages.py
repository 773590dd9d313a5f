"""The shortener's web pages, in process over real SQLite: the home form, accounts and API keys, the
links list with bulk create and CSV import/export, the link editor and rules, dashboards, QR codes,
the blocklist, CSRF on every form, ownership, and escaping of hostile input."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape

from scalebox.core.events import consume_batch_once
from scalebox.shortener.app import build_app
from scalebox.shortener.service.analytics import ANALYTICS_GROUP
from scalebox.shortener.service.redirects import VISITS_TOPIC
from scalebox.shortener.settings import ShortenerSettings

BASE = "http://short.test"
HOSTILE = "<script>alert('x')</script>"
PASSWORD = "correct horse battery"
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)


def make_settings(tmp_path: Path, **overrides: Any) -> ShortenerSettings:
    values: dict[str, Any] = {"data_dir": tmp_path, "workers": False, "log_requests": False}
    return ShortenerSettings(**{**values, **overrides})


@contextlib.asynccontextmanager
async def running(settings: ShortenerSettings) -> AsyncIterator[Any]:
    """The app with its lifespan (database, workers) open, as a server would run it."""
    application = build_app(settings)
    inner: FastAPI = application.app  # the FastAPI app behind the redirect fast path
    async with inner.router.lifespan_context(inner):
        yield application


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Any]:
    async with running(make_settings(tmp_path)) as application:
        yield application


def make_client(app: Any, user_agent: str = BROWSER_UA) -> httpx.AsyncClient:
    """A browser: keeps cookies and asks for HTML, so errors come back as pages."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url=BASE,
        headers={"accept": "text/html", "user-agent": user_agent},
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as browser:
        yield browser


def shortener_of(app: Any) -> Any:
    return app.app.state.shortener


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def post_form(client: httpx.AsyncClient, path: str, **fields: Any) -> httpx.Response:
    token = csrf_of((await client.get("/login")).text)
    return await client.post(path, data={"csrf_token": token, **fields})


async def sign_up(client: httpx.AsyncClient, username: str) -> None:
    token = csrf_of((await client.get("/signup")).text)
    form = {"csrf_token": token, "username": username, "password": PASSWORD, "password_confirm": PASSWORD}
    response = await client.post("/signup", data=form)
    assert response.status_code == 303, response.text


async def shorten(client: httpx.AsyncClient, long_url: str, **fields: Any) -> str:
    """Create a link through the home form; returns its code (from the short URL on the result)."""
    response = await post_form(client, "/", long_url=long_url, forward_query="1", **fields)
    assert response.status_code == 200, response.text
    match = re.search(rf'id="short-url" href="{BASE}/([^"]+)"', response.text)
    assert match, response.text
    return match.group(1)


async def store_visits(app: Any) -> None:
    """What the background workers do: publish buffered visits, then store them (one step each)."""
    sb = shortener_of(app)
    await sb.recorder.flush()
    while await consume_batch_once(sb.events, VISITS_TOPIC, ANALYTICS_GROUP, sb.analytics.handle_batch):
        pass


# -- the home page ------------------------------------------------------------------------------------


async def test_home_renders_form_with_csrf_token_and_options(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert csrf_of(page.text)
    assert '<label class="grow">Long URL' in page.text
    for name in ("custom_slug", "title", "tags", "valid_since", "valid_until", "max_visits", "redirect_type"):
        assert f'name="{name}"' in page.text
    assert 'name="forward_query" value="1" checked' in page.text
    assert "sbx_bid=" in page.headers["set-cookie"]


async def test_anonymous_create_shows_short_url_qr_and_no_dashboard(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/", long_url="https://example.com/a/long/path", forward_query="1")
    assert response.status_code == 200
    assert "Your short link is ready" in response.text
    code = re.search(rf'id="short-url" href="{BASE}/([A-Za-z0-9]+)"', response.text)
    assert code, response.text
    assert f'src="/{code.group(1)}/qr-code?size=160&amp;format=svg"' in response.text
    assert 'data-copy-target="short-url"' in response.text
    assert "/stats" not in response.text.split("<main", 1)[1].split("</section>", 1)[0]
    assert response.headers["cache-control"] == "no-store"
    followed = await client.get(f"/{code.group(1)}?utm=1")
    assert followed.status_code == 302
    assert followed.headers["location"] == "https://example.com/a/long/path?utm=1"


async def test_signed_in_create_with_options_links_to_the_dashboard(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    response = await post_form(
        client,
        "/",
        long_url="https://example.com/sale",
        custom_slug="spring-sale",
        title="Spring sale",
        tags="promo, spring",
        valid_until="2099-01-01T00:00",
        max_visits="5",
        redirect_type="301",
    )
    assert response.status_code == 200
    assert f'href="{BASE}/spring-sale"' in response.text
    assert 'href="/links/spring-sale/stats"' in response.text
    page = await client.get("/links/spring-sale")
    assert 'value="Spring sale"' in page.text
    assert 'value="promo, spring"' in page.text
    assert 'value="2099-01-01T00:00"' in page.text
    assert 'value="5"' in page.text
    assert '<option value="301" selected>' in page.text
    assert 'name="forward_query" value="1">' in page.text, "an unchecked box means no forwarding"
    followed = await client.get("/spring-sale")
    assert followed.status_code == 301


async def test_create_with_bad_url_keeps_the_form_and_marks_the_field(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/", long_url="ftp://example.com/x", title="Keep me")
    assert response.status_code == 422
    assert "Only http and https URLs can be shortened." in response.text
    assert re.search(r'name="long_url" value="ftp://example.com/x"[^>]*aria-invalid="true"', response.text)
    assert 'value="Keep me"' in response.text
    assert '<details class="options" open>' in response.text


async def test_create_with_taken_slug_answers_409_marking_the_slug(client: httpx.AsyncClient) -> None:
    await shorten(client, "https://example.com/1", custom_slug="taken")
    response = await post_form(client, "/", long_url="https://example.com/2", custom_slug="TAKEN")
    assert response.status_code == 409
    assert "already in use" in response.text
    assert re.search(r'name="custom_slug" value="TAKEN"[^>]*aria-invalid="true"', response.text)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_visits": "lots"}, "The visit limit is a positive whole number."),
        ({"valid_since": "yesterday"}, "Yesterday is not a date and time."),
        (
            {"valid_since": "2030-01-02T00:00", "valid_until": "2030-01-01T00:00"},
            "ValidUntil must come after validSince.",
        ),
        ({"redirect_type": "303"}, "Redirect type is one of 301, 302, 307 and 308."),
        ({"custom_slug": "links"}, "'links' is reserved."),
    ],
)
async def test_create_refuses_bad_options_with_a_message(
    client: httpx.AsyncClient, fields: dict[str, str], message: str
) -> None:
    response = await post_form(client, "/", long_url="https://example.com/x", **fields)
    assert response.status_code == 422
    assert str(escape(message)) in response.text


async def test_anonymous_create_is_refused_when_the_server_requires_accounts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, anonymous_create=False)
    async with running(settings) as app, make_client(app) as client:
        page = await client.get("/")
        assert "shortens links for signed-in users only" in page.text
        response = await post_form(client, "/", long_url="https://example.com/x")
        assert response.status_code == 401
        await sign_up(client, "alice")
        assert await shorten(client, "https://example.com/x")


async def test_anonymous_create_has_its_own_stricter_rate_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, create_limit_per_minute_anonymous=2)
    async with running(settings) as app, make_client(app) as client:
        await shorten(client, "https://example.com/1")
        await shorten(client, "https://example.com/2")
        refused = await post_form(client, "/", long_url="https://example.com/3")
        assert refused.status_code == 429
        assert "At most 2 links a minute" in refused.text
        await sign_up(client, "alice")
        assert await shorten(client, "https://example.com/3"), "accounts have their own limit"


# -- CSRF on every form ---------------------------------------------------------------------------


POSTS = [
    "/",
    "/login",
    "/signup",
    "/logout",
    "/account/keys",
    "/account/keys/{key}/revoke",
    "/links/bulk",
    "/links/import",
    "/links/{code}",
    "/links/{code}/state",
    "/links/{code}/rules",
    "/links/{code}/delete",
    "/admin/blocklist",
    "/admin/blocklist/remove",
]


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_every_form_is_forbidden_without_a_valid_csrf_token(
    app: Any, client: httpx.AsyncClient, path: str, token: str | None
) -> None:
    await sign_up(client, "admin")
    sb = shortener_of(app)
    account = (await sb.accounts.list_accounts())[0]
    await sb.accounts.set_admin(account.id, True)
    code = await shorten(client, "https://example.com/csrf")
    key, _ = await sb.accounts.issue_api_key(account.id, "k")
    data = {"long_url": "https://example.com/x", "domain": "example.org", "urls": "https://example.com/y"}
    if token:
        data["csrf_token"] = token
    response = await client.post(path.format(code=code, key=key.key_id), data=data)
    assert response.status_code == 403, response.text
    assert "reload the page" in response.text
    assert (await client.get(f"/links/{code}")).status_code == 200, "the link is untouched"


async def test_form_is_forbidden_with_another_browsers_csrf_token(app: Any) -> None:
    async with make_client(app) as alice, make_client(app) as mallory:
        token = csrf_of((await alice.get("/")).text)
        await mallory.get("/")
        response = await mallory.post("/", data={"csrf_token": token, "long_url": "https://example.com"})
    assert response.status_code == 403


# -- accounts --------------------------------------------------------------------------------------------


async def test_signup_signs_in_and_logout_signs_out(client: httpx.AsyncClient) -> None:
    token = csrf_of((await client.get("/signup?next=/stats")).text)
    form = {"csrf_token": token, "username": "alice", "password": PASSWORD, "password_confirm": PASSWORD}
    response = await client.post("/signup", data={**form, "next": "/stats"})
    assert response.status_code == 303
    assert response.headers["location"] == "/stats"
    page = await client.get("/links")
    assert page.status_code == 200
    assert '<a href="/account">alice</a>' in page.text
    out = await post_form(client, "/logout")
    assert out.status_code == 303
    assert (await client.get("/links")).headers["location"] == "/login?next=/links"


async def test_signup_refuses_mismatched_passwords_and_taken_names(client: httpx.AsyncClient) -> None:
    token = csrf_of((await client.get("/signup")).text)
    mismatch = {"csrf_token": token, "username": "bob", "password": PASSWORD, "password_confirm": "other"}
    assert (await client.post("/signup", data=mismatch)).status_code == 422
    await sign_up(client, "bob")
    await post_form(client, "/logout")
    token = csrf_of((await client.get("/signup")).text)
    taken = {"csrf_token": token, "username": "BOB", "password": PASSWORD, "password_confirm": PASSWORD}
    response = await client.post("/signup", data=taken)
    assert response.status_code == 409
    assert 'value="BOB"' in response.text


async def test_login_with_wrong_password_then_right_one(app: Any, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    await post_form(client, "/logout")
    token = csrf_of((await client.get("/login")).text)
    wrong = await client.post("/login", data={"csrf_token": token, "username": "alice", "password": "nope"})
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    right = await client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "//evil.test"}
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/links", "next never leaves the site"


async def test_sign_in_attempts_are_rate_limited(client: httpx.AsyncClient) -> None:
    token = csrf_of((await client.get("/login")).text)
    statuses = [
        (
            await client.post("/login", data={"csrf_token": token, "username": "x", "password": "y"})
        ).status_code
        for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]


async def test_api_key_is_shown_once_listed_and_revoked(app: Any, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    created = await post_form(client, "/account/keys", name="laptop")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    plaintext = re.search(r'<code id="new-key">([^<]+)</code>', created.text)
    assert plaintext
    account = await shortener_of(app).accounts.account_for_api_key(plaintext.group(1))
    assert account is not None
    assert account.username == "alice"
    page = await client.get("/account")
    assert plaintext.group(1) not in page.text
    assert "laptop" in page.text
    key_id = re.search(r'action="/account/keys/([^/"]+)/revoke"', page.text)
    assert key_id
    revoked = await post_form(client, f"/account/keys/{key_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert "was revoked" in (await client.get(revoked.headers["location"])).text
    assert await shortener_of(app).accounts.account_for_api_key(plaintext.group(1)) is None


# -- the links list ------------------------------------------------------------------------------------


async def test_links_list_searches_filters_sorts_and_pages(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    for number in range(23):
        tags = "even" if number % 2 == 0 else "odd"
        await shorten(client, f"https://example.com/page/{number}", title=f"Page {number:02d}", tags=tags)
    first = await client.get("/links")
    assert "23 links." in first.text
    assert first.text.count('class="link-title"') == 20
    assert "Page 1 of 2" in first.text
    assert "Page 22" in first.text, "newest first"
    second = await client.get("/links?page=2")
    assert second.text.count('class="link-title"') == 3
    assert ">Page 00<" in second.text
    found = await client.get("/links?q=page/1")
    assert "11 links match." in found.text  # 1 and 10..19
    tagged = await client.get("/links?tag=odd")
    assert "11 links match." in tagged.text
    by_title = await client.get("/links?sort=title")
    titles = re.findall(r'class="link-title">([^<]+)<', by_title.text)
    assert titles == sorted(titles)
    assert titles[0] == "Page 00"


async def test_links_list_shows_visit_counts(app: Any, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/counted")
    for _ in range(3):
        assert (await client.get(f"/{code}")).status_code == 302
    await store_visits(app)
    page = await client.get("/links")
    assert f'aria-label="3 visits to {code}: dashboard">3</a>' in page.text


async def test_links_list_sends_signed_out_visitors_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/links")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/links"


async def test_bulk_create_reports_a_bad_line_and_creates_the_rest(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    urls = "https://example.com/one\n\nnot a url\nhttps://example.com/two\n"
    response = await post_form(client, "/links/bulk", urls=urls, tags="bulk")
    assert response.status_code == 200
    assert "Created 2 links, 1 line refused" in response.text
    assert re.search(r"<td>3</td>\s*<td[^>]*>not a url</td>", response.text)
    assert "The long URL contains spaces or control characters." in response.text
    tagged = await client.get("/links?tag=bulk")
    assert "2 links match." in tagged.text


async def test_bulk_create_with_no_urls_asks_for_some(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    response = await post_form(client, "/links/bulk", urls="  \n ")
    assert response.status_code == 422
    assert "Paste at least one URL." in response.text


async def test_export_then_import_into_another_server_round_trips(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await sign_up(client, "alice")
    await shorten(client, "https://example.com/a", title='Comma, quote " and =formula', tags="x|y, z")
    await shorten(client, "https://example.com/b", custom_slug="bee", max_visits="9", redirect_type="308")
    await shorten(client, "https://example.com/c", valid_since="2030-01-01T10:00")
    exported = await client.get("/links/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="links.csv"' in exported.headers["content-disposition"]

    async with running(make_settings(tmp_path / "other")) as other, make_client(other) as browser:
        await sign_up(browser, "alice2")
        token = csrf_of((await browser.get("/links")).text)
        files = {"file": ("links.csv", exported.content, "text/csv")}
        imported = await browser.post("/links/import", data={"csrf_token": token}, files=files)
        assert imported.status_code == 200, imported.text
        assert "Imported 3 links" in imported.text
        again = await browser.get("/links/export.csv")

    def comparable(body: bytes) -> list[dict[str, str]]:
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        for row in rows:
            del row["created_at"], row["short_url"], row["visits"]
        return sorted(rows, key=lambda row: row["short_code"])

    assert comparable(again.content) == comparable(exported.content)
    assert len(comparable(exported.content)) == 3


async def test_import_shows_each_refused_row_with_its_line(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    await shorten(client, "https://example.com/mine", custom_slug="mine")
    body = "url,keyword,title\nhttps://example.com/ok,,Fine\nnot-a-url,,Bad\nhttps://example.com/dup,mine,Taken\n"
    token = csrf_of((await client.get("/links")).text)
    response = await client.post(
        "/links/import", data={"csrf_token": token}, files={"file": ("y.csv", body.encode(), "text/csv")}
    )
    assert response.status_code == 200
    assert "Imported 1 link, 2 lines refused" in response.text
    assert "Read as a yourls CSV file." in response.text
    assert re.search(r"<td>3</td>.*?Only http and https URLs can be shortened", response.text, re.S)
    assert re.search(r"<td>4</td>.*?already in use", response.text, re.S)


async def test_import_without_a_file_or_with_garbage_is_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    token = csrf_of((await client.get("/links")).text)
    empty = await client.post(
        "/links/import", data={"csrf_token": token}, files={"file": ("", b"", "text/csv")}
    )
    assert empty.status_code == 422
    assert "Choose a CSV file" in empty.text
    garbage = await client.post(
        "/links/import", data={"csrf_token": token}, files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}
    )
    assert garbage.status_code == 422


# -- one link: edit, state, rules, delete ---------------------------------------------------------------


async def test_edit_saves_options_and_redirects_with_them(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/old")
    saved = await post_form(
        client,
        f"/links/{code}",
        long_url="https://example.com/new",
        title="New title",
        tags="a, b",
        redirect_type="307",
    )
    assert saved.status_code == 303
    page = await client.get(saved.headers["location"])
    assert "Saved." in page.text
    assert 'value="New title"' in page.text
    followed = await client.get(f"/{code}?q=1")
    assert followed.status_code == 307
    assert followed.headers["location"] == "https://example.com/new", "forwarding was switched off"


async def test_edit_with_bad_values_shows_the_form_again(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/old")
    response = await post_form(client, f"/links/{code}", long_url="javascript:alert(1)", title="Kept")
    assert response.status_code == 422
    assert re.search(r'name="long_url" value="javascript:alert\(1\)"[^>]*aria-invalid="true"', response.text)
    assert 'value="Kept"' in response.text
    assert (await client.get(f"/{code}")).headers["location"] == "https://example.com/old"


async def test_disable_then_enable_a_link(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/toggle")
    off = await post_form(client, f"/links/{code}/state", disabled="1")
    assert off.status_code == 303
    assert "The link is disabled" in (await client.get(off.headers["location"])).text
    gone = await client.get(f"/{code}")
    assert gone.status_code == 404
    assert "Link disabled" in gone.text
    on = await post_form(client, f"/links/{code}/state", disabled="0")
    assert on.status_code == 303
    assert (await client.get(f"/{code}")).status_code == 302


async def test_delete_asks_for_confirmation_then_deletes(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/doomed", title="Doomed")
    confirm = await client.get(f"/links/{code}/delete")
    assert confirm.status_code == 200
    assert "Delete Doomed?" in confirm.text
    assert (await client.get(f"/{code}")).status_code == 302, "asking does not delete"
    deleted = await post_form(client, f"/links/{code}/delete")
    assert deleted.status_code == 303
    assert f"Link {code} was deleted" in (await client.get(deleted.headers["location"])).text
    assert (await client.get(f"/{code}")).status_code == 404
    assert (await client.get(f"/links/{code}")).status_code == 404


async def test_rules_editor_saves_rules_that_redirect_by_device_and_query(app: Any) -> None:
    async with make_client(app) as client:
        await sign_up(client, "alice")
        code = await shorten(client, "https://example.com/default")
        page = await client.get(f"/links/{code}")
        assert 'name="rule-0-url"' in page.text, "a blank rule to fill in"
        saved = await post_form(
            client,
            f"/links/{code}/rules",
            **{
                "rule-0-url": "https://example.com/android",
                "rule-0-type-0": "device",
                "rule-0-value-0": "android",
                "rule-1-url": "https://example.com/campaign",
                "rule-1-type-0": "query-param",
                "rule-1-key-0": "from",
                "rule-1-value-0": "mail",
                "rule-2-url": "",
                "rule-2-type-0": "",
            },
        )
        assert saved.status_code == 303
        page = await client.get(saved.headers["location"])
        assert "Redirect rules saved." in page.text
        assert 'value="https://example.com/android"' in page.text
        assert (
            (await client.get(f"/{code}?from=mail"))
            .headers["location"]
            .startswith("https://example.com/campaign")
        )
    async with make_client(app, user_agent="Mozilla/5.0 (Linux; Android 14) Mobile") as phone:
        assert (await phone.get(f"/{code}")).headers["location"] == "https://example.com/android"
    async with make_client(app) as client:
        assert (await client.get(f"/{code}")).headers["location"] == "https://example.com/default"


async def test_rules_editor_refuses_a_bad_rule_keeping_the_rows(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/default")
    response = await post_form(
        client,
        f"/links/{code}/rules",
        **{"rule-0-url": "https://example.com/x", "rule-0-type-0": "device", "rule-0-value-0": "fridge"},
    )
    assert response.status_code == 422
    assert "Redirect rule 1: device is one of android, ios, desktop." in response.text
    assert 'value="fridge"' in response.text


async def test_rules_editor_removes_a_ticked_rule(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/default")
    rule = {"rule-0-url": "https://example.com/x", "rule-0-type-0": "language", "rule-0-value-0": "es"}
    await post_form(client, f"/links/{code}/rules", **rule)
    assert 'value="https://example.com/x"' in (await client.get(f"/links/{code}")).text
    await post_form(client, f"/links/{code}/rules", **rule, **{"rule-0-remove": "1"})
    assert 'value="https://example.com/x"' not in (await client.get(f"/links/{code}")).text


# -- ownership -------------------------------------------------------------------------------------------


async def test_other_peoples_links_are_404_everywhere(app: Any) -> None:
    async with make_client(app) as alice, make_client(app) as bob:
        await sign_up(alice, "alice")
        code = await shorten(alice, "https://example.com/alice-only", title="Alice's")
        await sign_up(bob, "bob")
        for path in (f"/links/{code}", f"/links/{code}/stats", f"/links/{code}/delete"):
            assert (await bob.get(path)).status_code == 404, path
        for path in (f"/links/{code}", f"/links/{code}/state", f"/links/{code}/delete"):
            response = await post_form(bob, path, long_url="https://evil.test/", disabled="1")
            assert response.status_code == 404, path
        assert "Alice&#39;s" not in (await bob.get("/links")).text
        assert b"alice-only" not in (await bob.get("/links/export.csv")).content
        assert (await alice.get(f"/{code}")).headers["location"] == "https://example.com/alice-only"


async def test_anonymous_links_belong_to_nobody(app: Any) -> None:
    async with make_client(app) as anonymous, make_client(app) as alice:
        code = await shorten(anonymous, "https://example.com/anon")
        await sign_up(alice, "alice")
        assert (await alice.get(f"/links/{code}")).status_code == 404


# -- escaping --------------------------------------------------------------------------------------------


async def test_hostile_title_and_tags_are_escaped_everywhere(app: Any, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    result = await post_form(
        client, "/", long_url=f"https://example.com/?q={HOSTILE}", title=HOSTILE, tags=f"{HOSTILE}, ok"
    )
    assert result.status_code == 200, result.text
    code = re.search(rf'id="short-url" href="{BASE}/([^"]+)"', result.text)
    assert code
    await client.get(f"/{code.group(1)}", headers={"referer": f"https://{HOSTILE}.example/"})
    await store_visits(app)
    pages = [result]
    for path in ("/links", f"/links/{code.group(1)}", f"/links/{code.group(1)}/stats", "/stats"):
        pages.append(await client.get(path))
    for page in pages:
        assert page.status_code == 200, page.url
        assert "<script>alert" not in page.text, page.url
        assert "&lt;script&gt;" in page.text, page.url


# -- dashboards ------------------------------------------------------------------------------------------


async def test_link_dashboard_counts_visits_and_hides_bots_on_request(app: Any) -> None:
    async with make_client(app) as client, make_client(app, user_agent="curl/8.5.0") as robot:
        await sign_up(client, "alice")
        code = await shorten(client, "https://example.com/counted")
        for _ in range(2):
            await client.get(f"/{code}", headers={"referer": "https://news.example/item"})
        await robot.get(f"/{code}")
        await store_visits(app)
        page = await client.get(f"/links/{code}/stats")
        assert page.status_code == 200
        assert re.search(r'id="visits-in-range">3<', page.text)
        assert "news.example" in page.text
        assert "Chrome" in page.text
        assert page.text.count("<svg") >= 2, "a line chart and bar charts"
        assert 'href="/links/' + code + '/stats?range=7&amp;bots=include"' in page.text
        humans = await client.get(f"/links/{code}/stats?range=7&bots=exclude")
        assert re.search(r'id="visits-in-range">2<', humans.text)
        everything = await client.get(f"/links/{code}/stats?range=all&bots=include")
        assert re.search(r'id="visits-in-range">3<', everything.text)
        assert (await client.get(f"/links/{code}/stats?range=12")).status_code == 422


async def test_overview_shows_the_accounts_visits_and_top_links(app: Any, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    popular = await shorten(client, "https://example.com/popular", title="Popular")
    await shorten(client, "https://example.com/quiet", title="Quiet")
    for _ in range(4):
        await client.get(f"/{popular}")
    await store_visits(app)
    page = await client.get("/stats")
    assert page.status_code == 200
    assert re.search(r'id="visits-in-range">4<', page.text)
    assert f'<a href="/links/{popular}/stats">Popular</a>' in page.text
    assert ">Quiet<" not in page.text, "links nobody visited are not in the top list"


async def test_dashboards_send_signed_out_visitors_to_sign_in(client: httpx.AsyncClient) -> None:
    assert (await client.get("/stats")).headers["location"] == "/login?next=/stats"
    assert (await client.get("/links/abc/stats")).headers["location"] == "/login?next=/links/abc/stats"


# -- QR codes --------------------------------------------------------------------------------------------


async def test_qr_code_comes_as_png_or_svg_with_cache_headers(client: httpx.AsyncClient) -> None:
    code = await shorten(client, "https://example.com/qr")
    png = await client.get(f"/{code}/qr-code")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert png.headers["cache-control"] == "public, max-age=3600"
    svg = await client.get(f"/{code}/qr-code?format=svg&size=200&margin=10&errorCorrection=H&color=ff0000")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b'stroke="red"' in svg.content


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("size=10", 422),
        ("size=big", 422),
        ("format=gif", 422),
        ("color=red", 422),
        ("errorCorrection=Z", 422),
    ],
)
async def test_qr_code_refuses_bad_parameters(client: httpx.AsyncClient, query: str, status: int) -> None:
    code = await shorten(client, "https://example.com/qr")
    assert (await client.get(f"/{code}/qr-code?{query}")).status_code == status


async def test_qr_code_of_an_unknown_or_disabled_link_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nosuch1/qr-code")).status_code == 404
    await sign_up(client, "alice")
    code = await shorten(client, "https://example.com/qr")
    await post_form(client, f"/links/{code}/state", disabled="1")
    assert (await client.get(f"/{code}/qr-code")).status_code == 404


# -- the blocklist ---------------------------------------------------------------------------------------


async def test_blocklist_is_for_administrators_only(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/blocklist")).headers["location"] == "/login?next=/admin/blocklist"
    await sign_up(client, "alice")
    assert (await client.get("/admin/blocklist")).status_code == 404
    assert (await post_form(client, "/admin/blocklist", domain="example.com")).status_code == 404


async def test_admin_blocks_a_domain_disabling_its_links_then_unblocks_it(
    app: Any, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "root")
    sb = shortener_of(app)
    account = (await sb.accounts.list_accounts())[0]
    await sb.accounts.set_admin(account.id, True)
    code = await shorten(client, "https://bad.example/phish")
    page = await client.get("/admin/blocklist")
    assert page.status_code == 200
    assert "No domain is blocked here." in page.text
    blocked = await post_form(client, "/admin/blocklist", domain="bad.example", reason="phishing")
    assert blocked.status_code == 200
    assert "Blocked bad.example: 1 link to it got disabled." in blocked.text
    assert "<code>bad.example</code>" in blocked.text
    assert (await client.get(f"/{code}")).status_code == 404
    refused = await post_form(client, "/", long_url="https://www.bad.example/again")
    assert refused.status_code == 403
    assert "not allowed on this server" in refused.text
    bad = await post_form(client, "/admin/blocklist", domain="not a domain")
    assert bad.status_code == 422
    removed = await post_form(client, "/admin/blocklist/remove", domain="bad.example")
    assert removed.status_code == 303
    assert "bad.example is no longer blocked." in (await client.get(removed.headers["location"])).text
    assert (await post_form(client, "/", long_url="https://bad.example/ok")).status_code == 200
