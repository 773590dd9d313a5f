"""The pastebin's web pages, in process over real SQLite: forms, CSRF, burn and password gates, removal
links, discovery lists, accounts and API keys, moderation, and escaping of hostile input."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from scalebox.core.web.forms import local_path
from scalebox.pastebin.app import build_app
from scalebox.pastebin.http.view import relative_time
from scalebox.pastebin.settings import PastebinSettings

BASE = "http://pastebin.test"
HOSTILE = "<script>alert('x')</script>"
PASSWORD = "correct horse battery"


def make_settings(tmp_path: Path, **overrides: Any) -> PastebinSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "workers": False,
        "read_limit_per_minute": 0,
        "log_requests": False,
    }
    return PastebinSettings(**{**values, **overrides})


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = build_app(make_settings(tmp_path))
    async with application.router.lifespan_context(application):
        yield application


def make_client(app: FastAPI) -> httpx.AsyncClient:
    """A browser: keeps cookies and asks for HTML, so errors come back as pages."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url=BASE, headers={"accept": "text/html"}
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as browser:
        yield browser


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def token_for(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/")).text)


async def make_paste(client: httpx.AsyncClient, **fields: Any) -> tuple[str, str]:
    """Create a paste through the editor form; returns (paste id, removal token)."""
    data = {"csrf_token": await token_for(client), "content": "print('hi')\n", "expiry": "1day"}
    response = await client.post("/create", data={**data, **fields})
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/([A-Za-z0-9]+)\?created=([A-Za-z0-9]+)", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1), match.group(2)


async def sign_up(client: httpx.AsyncClient, username: str) -> None:
    token = csrf_of((await client.get("/signup")).text)
    form = {"csrf_token": token, "username": username, "password": PASSWORD, "password_confirm": PASSWORD}
    response = await client.post("/signup", data=form)
    assert response.status_code == 303, response.text


async def post_form(client: httpx.AsyncClient, path: str, **fields: Any) -> httpx.Response:
    return await client.post(path, data={"csrf_token": await token_for(client), **fields})


# -- the editor and creating ------------------------------------------------------------------------


async def test_editor_renders_form_with_csrf_token_and_lexer_picker(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert csrf_of(page.text)
    assert 'name="content"' in page.text
    assert '<option value="" selected>Auto-detect</option>' in page.text
    assert '<optgroup label="Common">' in page.text
    assert '<option value="1week" selected>1 week</option>' in page.text
    assert re.search(r'value="private"[^>]* disabled', page.text), "private needs a signed-in author"
    assert "sbx_bid=" in page.headers["set-cookie"]


async def test_create_via_form_redirects_to_highlighted_paste_with_removal_link(
    client: httpx.AsyncClient,
) -> None:
    paste_id, token = await make_paste(client, content="import os\r\nprint(os.sep)\r\n", lexer="python")
    page = await client.get(f"/{paste_id}?created={token}")
    assert page.status_code == 200
    assert '<span class="kn">import</span>' in page.text
    assert 'href="#f1-L-2"' in page.text
    assert 'id="f1-L-2"' in page.text
    assert f"{BASE}/remove/{token}" in page.text
    assert page.headers["cache-control"] == "no-store"
    raw = await client.get(f"/raw/{paste_id}")
    assert raw.text == "import os\nprint(os.sep)\n", (
        "the textarea's CRLF line breaks are the form's, not the text's"
    )


async def test_paste_page_hides_removal_link_without_the_matching_token(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client)
    for suffix in ("", "?created=not-the-token", "?created=" + "x" * 100):
        page = await client.get(f"/{paste_id}{suffix}")
        assert page.status_code == 200
        assert "/remove/" not in page.text


@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_create_is_forbidden_without_a_valid_csrf_token(
    client: httpx.AsyncClient, token: str | None
) -> None:
    await client.get("/")  # the browser id cookie exists; only the form's token is wrong
    data = {"content": "hello"} | ({"csrf_token": token} if token else {})
    response = await client.post("/create", data=data)
    assert response.status_code == 403
    assert "reload the page" in response.text


async def test_create_is_forbidden_with_another_browsers_csrf_token(app: FastAPI) -> None:
    async with make_client(app) as alice, make_client(app) as mallory:
        token = await token_for(alice)
        await mallory.get("/")
        response = await mallory.post("/create", data={"csrf_token": token, "content": "hello"})
    assert response.status_code == 403


async def test_create_with_empty_content_shows_form_again_keeping_input(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/create", title="My notes", content="   ", password="pw", burn="1")
    assert response.status_code == 422
    assert "the paste is empty" in response.text
    assert 'value="My notes"' in response.text
    assert 'value="pw"' in response.text, "a refused form keeps its password, or it would be lost silently"
    assert 'name="burn" value="1" checked' in response.text
    assert 'aria-invalid="true"' in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_create_with_unknown_lexer_keeps_the_text(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/create", content="keep me\nplease", lexer="no-such-lexer")
    assert response.status_code == 422
    assert "unknown lexer" in response.text
    assert ">\nkeep me\nplease</textarea>" in response.text


async def test_refused_form_keeps_a_leading_newline_of_the_text(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/create", content="\nsecond line", expiry="no-such-expiry")
    assert response.status_code == 422
    # The HTML parser drops the first newline after <textarea>, so the page must hold two.
    assert ">\n\nsecond line</textarea>" in response.text


async def test_create_too_large_answers_413_keeping_the_form(tmp_path: Path) -> None:
    application = build_app(make_settings(tmp_path, size_bytes_max=1024))
    async with application.router.lifespan_context(application), make_client(application) as client:
        response = await post_form(client, "/create", content="x" * 2000, title="big one")
    assert response.status_code == 413
    assert 'value="big one"' in response.text


async def test_add_file_button_adds_an_empty_file_keeping_the_first(client: httpx.AsyncClient) -> None:
    response = await post_form(client, "/create", content="first file", name="a.txt", add_file="1")
    assert response.status_code == 200
    assert response.text.count('name="content"') == 2
    assert ">\nfirst file</textarea>" in response.text
    assert "File 2" in response.text


async def test_create_with_several_files_shows_each_and_drops_empty_slots(client: httpx.AsyncClient) -> None:
    fields = {
        "content": ['{"a": 1}', "SELECT 1;", "  "],
        "name": ["a.json", "q.sql", ""],
        "lexer": ["", "sql", ""],
    }
    paste_id, _token = await make_paste(client, **fields)
    page = await client.get(f"/{paste_id}")
    assert "a.json" in page.text
    assert "q.sql" in page.text
    assert f"/raw/{paste_id}/2" in page.text
    assert f"/raw/{paste_id}/3" not in page.text


async def test_clone_prefills_the_editor_from_a_readable_paste(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client, title="original", content="x = 1\n", lexer="python")
    redirect = await client.get(f"/clone/{paste_id}")
    assert redirect.status_code == 303
    page = await client.get(redirect.headers["location"])
    assert ">\nx = 1\n</textarea>" in page.text
    assert 'value="original"' in page.text
    assert '<option value="python" selected>' in page.text


async def test_clone_refuses_sealed_pastes_without_reading_them(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client, content="top secret", password="pw")
    page = await client.get(f"/?clone={paste_id}")
    assert page.status_code == 200
    assert "cannot be cloned" in page.text
    assert "top secret" not in page.text


# -- reading: burn after reading and passwords -----------------------------------------------------


async def test_burn_paste_survives_get_and_is_consumed_exactly_once_by_reveal(
    client: httpx.AsyncClient,
) -> None:
    paste_id, _token = await make_paste(client, content="launch code 1234", burn="1")
    for _ in range(2):
        gate = await client.get(f"/{paste_id}")
        assert gate.status_code == 200
        assert "will be deleted after you view it" in gate.text
        assert "launch code" not in gate.text
    revealed = await post_form(client, f"/{paste_id}/reveal")
    assert revealed.status_code == 200
    assert "launch code 1234" in revealed.text
    assert "burned after reading" in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    again = await post_form(client, f"/{paste_id}/reveal")
    assert again.status_code == 404
    assert (await client.get(f"/{paste_id}")).status_code == 404


async def test_reveal_requires_a_csrf_token_and_then_leaves_the_paste(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client, content="still here", burn="1")
    assert (await client.post(f"/{paste_id}/reveal", data={})).status_code == 403
    assert (await client.get(f"/{paste_id}")).status_code == 200


async def test_password_paste_unlocks_with_the_right_password(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client, content="hidden words", password="hunter22")
    gate = await client.get(f"/{paste_id}")
    assert 'name="password"' in gate.text
    assert "hidden words" not in gate.text
    wrong = await post_form(client, f"/{paste_id}/unlock", password="nope")
    assert wrong.status_code == 403
    assert "That password is not right." in wrong.text
    assert 'name="password"' in wrong.text
    right = await post_form(client, f"/{paste_id}/unlock", password="hunter22")
    assert right.status_code == 200
    assert "hidden words" in right.text


async def test_burn_and_password_paste_burns_only_on_the_right_password(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client, content="twice guarded", password="pw1", burn="1")
    assert (await post_form(client, f"/{paste_id}/unlock", password="bad")).status_code == 403
    opened = await post_form(client, f"/{paste_id}/unlock", password="pw1")
    assert "twice guarded" in opened.text
    assert (await client.get(f"/{paste_id}")).status_code == 404


async def test_markdown_rendered_view_escapes_raw_html(client: httpx.AsyncClient) -> None:
    content = "# Title\n\n*soft* <img src=x onerror=alert(1)>\n"
    paste_id, _token = await make_paste(client, content=content, lexer="markdown")
    source = await client.get(f"/{paste_id}")
    assert f"/{paste_id}?view=rendered" in source.text
    rendered = await client.get(f"/{paste_id}?view=rendered")
    assert "<h1>Title</h1>" in rendered.text
    assert "<em>soft</em>" in rendered.text
    assert "<img" not in rendered.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered.text


async def test_missing_paste_is_the_404_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/NoSuchPaste")
    assert page.status_code == 404
    assert "404 · Not Found" in page.text
    assert ">Sign in</a>" in page.text, "the error page keeps the pastebin's header"


async def test_pygments_stylesheet_is_served_with_a_long_cache(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client)
    page = await client.get(f"/{paste_id}")
    href = re.search(r'href="(/static/pygments\.css\?v=[0-9a-f]+)"', page.text)
    assert href
    css = await client.get(href.group(1))
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age=31536000" in css.headers["cache-control"]
    assert ".highlight" in css.text


# -- removal, deletion and reports ------------------------------------------------------------------


async def test_removal_link_confirms_before_deleting(client: httpx.AsyncClient) -> None:
    paste_id, token = await make_paste(client, title="to be removed")
    confirm = await client.get(f"/remove/{token}")
    assert confirm.status_code == 200
    assert "Delete “to be removed”?" in confirm.text
    assert (await client.get(f"/{paste_id}")).status_code == 200, "the GET only asks"
    assert (await client.post(f"/remove/{token}", data={})).status_code == 403
    done = await post_form(client, f"/remove/{token}")
    assert done.status_code == 200
    assert "Paste deleted" in done.text
    assert (await client.get(f"/{paste_id}")).status_code == 404
    assert (await client.get(f"/remove/{token}")).status_code == 404


async def test_owner_deletes_own_paste_from_the_account_page(client: httpx.AsyncClient) -> None:
    await sign_up(client, "owner")
    paste_id, _token = await make_paste(client, title="mine")
    account = await client.get("/account")
    assert f'action="/{paste_id}/delete"' in account.text
    response = await post_form(client, f"/{paste_id}/delete", next="/account")
    assert response.status_code == 303
    assert response.headers["location"] == f"/account?deleted={paste_id}"
    after = await client.get(response.headers["location"])
    assert f"Paste {paste_id} was deleted." in after.text
    assert (await client.get(f"/{paste_id}")).status_code == 404


async def test_delete_is_forbidden_for_someone_else(app: FastAPI) -> None:
    async with make_client(app) as owner, make_client(app) as other:
        await sign_up(owner, "owner")
        paste_id, _token = await make_paste(owner)
        await sign_up(other, "other")
        page = await other.get(f"/{paste_id}")
        assert f'action="/{paste_id}/delete"' not in page.text
        response = await post_form(other, f"/{paste_id}/delete")
    assert response.status_code == 403


async def test_report_form_files_a_report(app: FastAPI, client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(client)
    form = await client.get(f"/report/{paste_id}")
    assert 'name="reason"' in form.text
    sent = await post_form(client, f"/report/{paste_id}", reason="phishing link")
    assert sent.status_code == 200
    assert "Thank you" in sent.text
    reports = await app.state.pastebin.pastes.reports.list_open(10)
    assert [(r.paste_id, r.reason) for r in reports] == [(paste_id, "phishing link")]


# -- discovery --------------------------------------------------------------------------------------


async def test_recent_lists_public_pastes_only(client: httpx.AsyncClient) -> None:
    await sign_up(client, "lister")
    public_id, _ = await make_paste(client, title="public one", visibility="public")
    unlisted_id, _ = await make_paste(client, title="unlisted one", visibility="unlisted")
    private_id, _ = await make_paste(client, title="private one", visibility="private")
    burn_id, _ = await make_paste(client, title="burn one", visibility="public", burn="1")
    page = await client.get("/recent")
    assert page.status_code == 200
    assert f'href="/{public_id}"' in page.text
    for hidden in (unlisted_id, private_id, burn_id):
        assert hidden not in page.text


async def test_lists_answer_htmx_with_the_partial_only(client: httpx.AsyncClient) -> None:
    paste_id, _ = await make_paste(client, title="listed", visibility="public")
    for path in ("/recent", "/trending", "/search?q=listed"):
        partial = await client.get(path, headers={"HX-Request": "true"})
        assert partial.status_code == 200
        assert "<html" not in partial.text
        assert 'id="results"' in partial.text
    assert f'href="/{paste_id}"' in (await client.get("/recent", headers={"HX-Request": "true"})).text


async def test_search_page_shows_its_form_and_a_clear_empty_result(client: httpx.AsyncClient) -> None:
    empty = await client.get("/search")
    assert 'role="search"' in empty.text
    assert "No public paste matches" not in empty.text
    none = await client.get("/search", params={"q": HOSTILE})
    assert none.status_code == 200
    assert "No public paste matches" in none.text
    assert HOSTILE not in none.text


# -- accounts ---------------------------------------------------------------------------------------


async def test_signup_signs_in_and_logout_signs_out(client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    page = await client.get("/recent")
    assert ">alice</a>" in page.text
    assert 'action="/logout"' in page.text
    logout = await post_form(client, "/logout")
    assert logout.status_code == 303
    after = await client.get("/recent")
    assert ">alice</a>" not in after.text
    assert 'href="/login?next=/recent"' in after.text


async def test_signup_with_mismatched_passwords_keeps_the_username(client: httpx.AsyncClient) -> None:
    token = csrf_of((await client.get("/signup")).text)
    form = {"csrf_token": token, "username": "bob", "password": PASSWORD, "password_confirm": "other one"}
    response = await client.post("/signup", data=form)
    assert response.status_code == 422
    assert "do not match" in response.text
    assert 'value="bob"' in response.text


async def test_signup_with_a_taken_username_is_a_conflict(app: FastAPI) -> None:
    async with make_client(app) as first, make_client(app) as second:
        await sign_up(first, "carol")
        token = csrf_of((await second.get("/signup")).text)
        form = {"csrf_token": token, "username": "carol", "password": PASSWORD, "password_confirm": PASSWORD}
        response = await second.post("/signup", data=form)
    assert response.status_code == 409


async def test_signup_is_forbidden_when_disabled(tmp_path: Path) -> None:
    application = build_app(make_settings(tmp_path, signup=False))
    async with application.router.lifespan_context(application), make_client(application) as client:
        page = await client.get("/signup")
        header = await client.get("/recent")
    assert page.status_code == 403
    assert 'href="/signup"' not in header.text


async def test_login_redirects_to_a_local_next_only(app: FastAPI) -> None:
    async with make_client(app) as setup:
        await sign_up(setup, "dave")
    for target, expected in (("/recent", "/recent"), ("https://evil.example/", "/"), ("//evil.example", "/")):
        async with make_client(app) as client:
            token = csrf_of((await client.get("/login", params={"next": target})).text)
            form = {"csrf_token": token, "username": "dave", "password": PASSWORD, "next": target}
            response = await client.post("/login", data=form)
            assert response.status_code == 303
            assert response.headers["location"] == expected


async def test_login_with_a_wrong_password_shows_the_form_again(client: httpx.AsyncClient) -> None:
    await sign_up(client, "erin")
    await post_form(client, "/logout")
    response = await post_form(client, "/login", username="erin", password="not it at all")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="erin"' in response.text


async def test_account_page_redirects_anonymous_visitors_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


def make_script(app: FastAPI) -> httpx.AsyncClient:
    """An API client: no cookies from the browser, JSON answers."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE)


async def test_new_api_key_is_shown_once_and_works_as_bearer(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client, "frank")
    created = await post_form(client, "/account/keys", name="laptop")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    match = re.search(r'<code id="new-key">(sbx_[A-Za-z0-9_]+)</code>', created.text)
    assert match
    key = match.group(1)
    later = await client.get("/account")
    assert key not in later.text
    assert "laptop" in later.text
    async with make_script(app) as script:
        api = await script.post(
            "/api/v1/paste",
            json={"files": [{"content": "from a script"}], "visibility": "private"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert api.status_code == 200, api.text
    paste_id = api.json()["link"].rsplit("/", 1)[1]
    assert paste_id in (await client.get("/account")).text


async def test_revoked_api_key_stops_working(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client, "grace")
    created = await post_form(client, "/account/keys", name="old")
    key = re.search(r'<code id="new-key">([^<]+)</code>', created.text).group(1)  # type: ignore[union-attr]
    key_id = key.split("_")[1]
    revoked = await post_form(client, f"/account/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    assert f"API key {key_id} was revoked" in (await client.get(revoked.headers["location"])).text
    async with make_script(app) as script:
        api = await script.post(
            "/api/v1/paste",
            json={"files": [{"content": "x"}], "visibility": "private"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert api.status_code == 401, "a dead key is refused, never taken for an anonymous caller"
    assert api.json()["code"] == "unauthorized"


async def test_private_paste_is_404_for_others_and_visible_to_its_owner(app: FastAPI) -> None:
    async with make_client(app) as owner, make_client(app) as stranger:
        await sign_up(owner, "heidi")
        editor = await owner.get("/")
        assert not re.search(r'value="private"[^>]* disabled', editor.text)
        paste_id, _ = await make_paste(owner, content="my eyes only", visibility="private")
        mine = await owner.get(f"/{paste_id}")
        assert mine.status_code == 200
        assert "my eyes only" in mine.text
        theirs = await stranger.get(f"/{paste_id}")
        assert theirs.status_code == 404
        assert "my eyes only" not in theirs.text
        assert (await stranger.get(f"/report/{paste_id}")).status_code == 404


# -- moderation -------------------------------------------------------------------------------------


async def test_moderation_queue_is_forbidden_for_non_admins(app: FastAPI) -> None:
    async with make_client(app) as anonymous, make_client(app) as member:
        assert (await anonymous.get("/admin/reports")).status_code == 403
        await sign_up(member, "ivan")
        assert (await member.get("/admin/reports")).status_code == 403
        assert (await post_form(member, "/admin/reports/1/dismiss")).status_code == 403


async def test_admin_sees_reports_and_deletes_the_paste(app: FastAPI) -> None:
    pastebin = app.state.pastebin
    async with make_client(app) as reader, make_client(app) as admin:
        paste_id, _ = await make_paste(reader, title="bad paste")
        await post_form(reader, f"/report/{paste_id}", reason=f"spam {HOSTILE}")
        await sign_up(admin, "judy")
        account = (await pastebin.accounts.authenticate("judy", PASSWORD)).id
        await pastebin.accounts.set_admin(account, True)
        queue = await admin.get("/admin/reports")
        assert queue.status_code == 200
        assert 'href="/admin/reports"' in queue.text, "admins get the Reports link in the header"
        assert "bad paste" in queue.text
        assert "spam &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in queue.text
        assert HOSTILE not in queue.text
        report_id = re.search(r'action="/admin/reports/(\d+)/delete"', queue.text).group(1)  # type: ignore[union-attr]
        assert f"/admin/reports/{report_id}/ban" not in queue.text, "an anonymous paste has no owner to ban"
        acted = await post_form(admin, f"/admin/reports/{report_id}/delete")
        assert acted.status_code == 303
        done = await admin.get(acted.headers["location"])
        assert "Paste deleted" in done.text
        assert "No open reports." in done.text
        assert (await reader.get(f"/{paste_id}")).status_code == 404


async def test_admin_bans_the_owner_who_then_cannot_sign_in(app: FastAPI) -> None:
    pastebin = app.state.pastebin
    async with make_client(app) as owner, make_client(app) as reader, make_client(app) as admin:
        await sign_up(owner, "mallory")
        paste_id, _ = await make_paste(owner, title="phish", visibility="public")
        await post_form(reader, f"/report/{paste_id}", reason="phishing")
        await sign_up(admin, "judy")
        await pastebin.accounts.set_admin((await pastebin.accounts.authenticate("judy", PASSWORD)).id, True)
        queue = await admin.get("/admin/reports")
        assert "anonymous" in queue.text
        report_id = re.search(r'action="/admin/reports/(\d+)/ban"', queue.text).group(1)  # type: ignore[union-attr]
        banned = await post_form(admin, f"/admin/reports/{report_id}/ban")
        assert banned.status_code == 303
        assert "Owner banned" in (await admin.get(banned.headers["location"])).text
        assert (await reader.get(f"/{paste_id}")).status_code == 404, "a banned owner's paste is hidden"
        assert (await owner.get("/account")).status_code == 303, "a banned account's session ends"
        login = await post_form(owner, "/login", username="mallory", password=PASSWORD)
        assert login.status_code == 403
        assert "This account is banned." in login.text
        again = await post_form(admin, f"/admin/reports/{report_id}/dismiss")
        assert again.status_code == 404, "the report is resolved already"


async def test_account_forms_need_a_signed_in_account(client: httpx.AsyncClient) -> None:
    assert (await post_form(client, "/account/keys", name="x")).status_code == 401
    await sign_up(client, "nina")
    missing = await post_form(client, "/account/keys/NoSuchKey/revoke")
    assert missing.status_code == 404
    too_long = await post_form(client, "/account/keys", name="k" * 65)
    assert too_long.status_code == 422
    assert 'id="new-key"' not in too_long.text


async def test_admin_unknown_action_is_not_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client, "kim")
    account = (await app.state.pastebin.accounts.authenticate("kim", PASSWORD)).id
    await app.state.pastebin.accounts.set_admin(account, True)
    assert (await post_form(client, "/admin/reports/1/explode")).status_code == 404


# -- escaping ---------------------------------------------------------------------------------------


async def test_hostile_title_content_and_file_name_are_escaped(client: httpx.AsyncClient) -> None:
    paste_id, _token = await make_paste(
        client, title=HOSTILE, content=HOSTILE, name=f"{HOSTILE}.txt", lexer="text", visibility="public"
    )
    for path in (f"/{paste_id}", "/recent", f"/report/{paste_id}", f"/?clone={paste_id}"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "<script>" not in page.text.replace('<script src="/static/paste.js" defer></script>', ""), path
    page = await client.get(f"/{paste_id}")
    assert "&lt;script&gt;" in page.text


async def test_every_page_sets_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert " style=" not in page.text, "inline styles would break under the CSP"
    assert "<script>" not in page.text


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    templates = Path(build_app.__code__.co_filename).parent / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\sstyle=|<style", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name


# -- pure helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account", "/account"),
        ("/x?y=1", "/x?y=1"),
        ("", "/"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_local_path_keeps_redirects_on_the_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def test_relative_time_reads_naturally() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert relative_time(now, now) == "just now"
    assert relative_time(now - timedelta(minutes=3), now) == "3 minutes ago"
    assert relative_time(now + timedelta(days=1) - timedelta(microseconds=1), now) == "in 1 day"
    assert relative_time(now + timedelta(days=7), now) == "in 7 days"
    assert relative_time(now - timedelta(days=400), now) == "1 year ago"


async def test_anonymous_reads_of_a_cached_page_still_count_views_and_see_deletion(app, client):
    paste_id, token = await make_paste(client, content="cached once\n")
    async with make_client(app) as reader:  # a fresh browser: anonymous, no cookies
        first = await reader.get(f"/{paste_id}")
        second = await reader.get(f"/{paste_id}")
        assert first.status_code == second.status_code == 200
        assert second.text == first.text
        assert "cached once" in second.text
        pastebin = app.state.pastebin
        await pastebin.pastes.flush_views()
        assert (await pastebin.pastes.repo.get(paste_id)).view_count == 2

        await pastebin.pastes.remove_by_token(token)
        assert (await reader.get(f"/{paste_id}")).status_code == 404  # not served from the page cache


async def test_sign_in_attempts_are_rate_limited_per_address(client):
    token = await token_for(client)
    statuses = []
    for _ in range(12):
        response = await client.post(
            "/login", data={"csrf_token": token, "username": "nobody", "password": "wrong password"}
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    assert "retry-after" in response.headers
