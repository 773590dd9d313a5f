"""Core's shared account web code on a bare app with only core's templates: API key headers, sessions,
the sign-up / sign-in / account pages and their hooks, the sign-in rate limit, and template overrides."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from scalebox.core.auth import (
    TEST_PARAMS,
    Account,
    AccountService,
    CsrfCodec,
    MemoryAccountRepository,
    SessionCodec,
)
from scalebox.core.clock import FakeClock
from scalebox.core.errors import DomainError
from scalebox.core.ratelimit import MemoryRateLimiter
from scalebox.core.web import Pages, WebSettings, create_app
from scalebox.core.web.account_pages import AccountPages
from scalebox.core.web.accounts import (
    SESSION_COOKIE,
    AccountsWiring,
    KeyHeader,
    current_account,
    page_context,
    read_api_key,
    wire_accounts,
)
from scalebox.core.web.app import AppParts
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.core.web.forms import local_path

BASE = "http://accounts.test"
PASSWORD = "correct horse battery"
SECRET = "s" * 40
TEMPLATES = Path(__file__).parents[2] / "src" / "scalebox" / "core" / "web" / "templates"


def make_wiring(**overrides: Any) -> AccountsWiring:
    clock = FakeClock()
    accounts = AccountService(
        MemoryAccountRepository(),
        clock,
        random.Random(1),
        itertools.count(1).__next__,
        password_params=TEST_PARAMS,
    )
    values: dict[str, Any] = {
        "system": "demo",
        "accounts": accounts,
        "sessions": SessionCodec(SECRET, 3600, clock),
        "limiter": MemoryRateLimiter(clock),
        "clock": clock,
        "signup_enabled": True,
        "secure_cookies": False,
    }
    return AccountsWiring(**{**values, **overrides})


async def _shelf(request: Request, account: Account) -> Mapping[str, Any]:
    return {"shelf": f"{account.username}'s shelf"}


def make_app(template_dir: Path, wiring: AccountsWiring, pages: AccountPages) -> FastAPI:
    parts = AppParts(
        name="demo",
        title="demo",
        routers=[pages.router()],
        pages=Pages(template_dir, site_name="demo", context_hooks=(page_context,)),
        state={"accounts": wiring},
    )
    app = create_app(parts, WebSettings(log_requests=False))
    app.add_middleware(BrowserIdMiddleware, rng=random.Random(2), codec=CsrfCodec(SECRET), secure=False)
    return app


@pytest.fixture
def wiring() -> AccountsWiring:
    return make_wiring()


@pytest.fixture
async def client(tmp_path: Path, wiring: AccountsWiring) -> AsyncIterator[httpx.AsyncClient]:
    pages = AccountPages(after_sign_in="/home", after_sign_up="/welcome")
    async with make_browser(make_app(tmp_path, wiring, pages)) as browser:
        yield browser


def make_browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url=BASE, headers={"accept": "text/html"}
    )


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def post_form(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = csrf_of((await client.get("/login")).text)
    return await client.post(path, data={"csrf_token": token, **fields})


async def sign_up(client: httpx.AsyncClient, username: str = "ada") -> httpx.Response:
    response = await post_form(
        client, "/signup", username=username, password=PASSWORD, password_confirm=PASSWORD
    )
    assert response.status_code == 303, response.text
    return response


def request_with(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


# -- API key headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "first", "expected"),
    [
        ({}, "authorization", None),
        ({"Authorization": "Bearer  k1 "}, "authorization", "k1"),
        ({"Authorization": "bearer k1", "X-Api-Key": "k2"}, "authorization", "k1"),
        ({"X-Api-Key": ""}, "authorization", ""),
        ({"Authorization": "Basic abc", "X-Api-Key": "k2"}, "authorization", "k2"),
        ({"Authorization": "Bearer k1", "X-Api-Key": "k2"}, "x-api-key", "k2"),
        ({"Authorization": "Bearer k1", "X-Api-Key": ""}, "x-api-key", "k1"),
        ({"X-Api-Key": ""}, "x-api-key", None),
    ],
)
def test_read_api_key_takes_the_first_header_given(
    headers: dict[str, str], first: KeyHeader, expected: str | None
) -> None:
    assert read_api_key(request_with(headers), first=first) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/x?y=1", "/x?y=1"),
        ("", "/"),
        (None, "/"),
        ("//evil.example/", "/"),
        ("/\\evil", "/"),
        ("/a\nb", "/"),
    ],
)
def test_local_path_keeps_redirects_on_the_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


# -- the pages ---------------------------------------------------------------------------------------


async def test_signup_signs_in_and_lands_on_the_system_default(client: httpx.AsyncClient) -> None:
    page = await client.get("/signup")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-cache"
    assert 'action="/signup"' in page.text
    assert '<button type="submit">Sign up</button>' in page.text, "core's own template, no system one"
    response = await sign_up(client)
    assert response.headers["location"] == "/welcome"
    assert f"{SESSION_COOKIE}=" in response.headers["set-cookie"]
    account = await client.get("/account")
    assert account.status_code == 200
    assert "<h1>ada</h1>" in account.text
    assert 'action="/logout"' in account.text, "core's fallback layout shows the account links"


async def test_login_refusals_keep_the_form_and_mark_the_fields(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    await post_form(client, "/logout")
    wrong = await post_form(client, "/login", username="ada", password="nope", next="//evil.test")
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text
    assert 'aria-describedby="form-error"' in wrong.text
    right = await post_form(client, "/login", username="ada", password=PASSWORD, next="//evil.test")
    assert right.status_code == 303
    assert right.headers["location"] == "/home", "next never leaves the site"


async def test_signup_refusals_use_the_refusal_message_hook(tmp_path: Path, wiring: AccountsWiring) -> None:
    def shout(exc: DomainError) -> str:
        return exc.detail.upper()

    app = make_app(tmp_path, wiring, AccountPages(refusal_message=shout))
    async with make_browser(app) as browser:
        mismatch = await post_form(
            browser, "/signup", username="ada", password=PASSWORD, password_confirm="x"
        )
        assert mismatch.status_code == 422
        assert "The two passwords do not match." in mismatch.text
        bad = await post_form(browser, "/signup", username="a!", password=PASSWORD, password_confirm=PASSWORD)
        assert bad.status_code == 422
        assert "USERNAME" in bad.text
        assert 'value="a!"' in bad.text


async def test_signup_is_forbidden_when_closed(tmp_path: Path) -> None:
    app = make_app(tmp_path, make_wiring(signup_enabled=False), AccountPages())
    async with make_browser(app) as browser:
        assert (await browser.get("/signup")).status_code == 403
        assert 'href="/signup"' not in (await browser.get("/login")).text


async def test_api_key_is_shown_once_works_and_is_revoked(
    client: httpx.AsyncClient, wiring: AccountsWiring
) -> None:
    assert (await client.get("/account")).headers["location"] == "/login?next=/account"
    await sign_up(client)
    created = await post_form(client, "/account/keys", name="laptop")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    plaintext = re.search(r'<code id="new-key">([^<]+)</code>', created.text)
    assert plaintext
    account = await wiring.accounts.account_for_api_key(plaintext.group(1))
    assert account is not None
    assert account.username == "ada"
    key_id = re.search(r'action="/account/keys/([^/"]+)/revoke"', created.text)
    assert key_id
    revoked = await post_form(client, f"/account/keys/{key_id.group(1)}/revoke")
    assert revoked.status_code == 303
    page = await client.get(revoked.headers["location"])
    assert f"API key {key_id.group(1)} was revoked" in page.text
    assert await wiring.accounts.account_for_api_key(plaintext.group(1)) is None
    assert (await post_form(client, f"/account/keys/{key_id.group(1)}/revoke")).status_code == 404


async def test_account_forms_need_a_signed_in_account_and_a_csrf_token(client: httpx.AsyncClient) -> None:
    assert (await post_form(client, "/account/keys", name="x")).status_code == 401
    await sign_up(client)
    forged = await client.post("/account/keys", data={"csrf_token": "forged", "name": "x"})
    assert forged.status_code == 403
    too_long = await post_form(client, "/account/keys", name="k" * 65)
    assert too_long.status_code == 422
    assert 'id="new-key"' not in too_long.text


async def test_sign_in_attempts_are_rate_limited_per_address(client: httpx.AsyncClient) -> None:
    statuses = [
        (await post_form(client, "/login", username="x", password="y")).status_code for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    limited = await post_form(client, "/login", username="x", password="y")
    assert "too many sign-in attempts" in limited.text
    assert "retry-after" in limited.headers


async def test_account_page_hooks_add_the_system_part(tmp_path: Path, wiring: AccountsWiring) -> None:
    (tmp_path / "account.html").write_text(
        '{% extends "core/account.html" %}{% block before_keys %}<p id="shelf">{{ shelf }}</p>{% endblock %}'
    )

    def note(request: Request) -> list[tuple[str, str]]:
        return [("ok", f"Note {request.query_params['note']}")] if "note" in request.query_params else []

    app = make_app(tmp_path, wiring, AccountPages(account_context=_shelf, account_flashes=note))
    async with make_browser(app) as browser:
        await sign_up(browser)
        page = await browser.get("/account", params={"note": "hi"})
    assert '<p id="shelf">ada&#39;s shelf</p>' in page.text
    assert "Note hi" in page.text
    assert "API keys" in page.text, "the system's template extends core's"


async def test_banned_account_is_signed_out_and_its_key_refused(
    client: httpx.AsyncClient, wiring: AccountsWiring
) -> None:
    await sign_up(client)
    account = await wiring.accounts.find("ada")
    assert account is not None
    _, plaintext = await wiring.accounts.issue_api_key(account.id, "k")
    await wiring.accounts.set_banned(account.id, True)
    assert (await client.get("/account")).status_code == 303
    keyed = await client.get("/account", headers={"Authorization": f"Bearer {plaintext}"})
    assert keyed.status_code == 401


def test_wire_accounts_reads_a_runtime_and_its_settings(wiring: AccountsWiring) -> None:
    settings = SimpleNamespace(signup=False, secure_cookies=True, public_url="https://demo.example")
    runtime = SimpleNamespace(
        accounts=wiring.accounts,
        sessions=wiring.sessions,
        limiter=wiring.limiter,
        clock=wiring.clock,
        settings=settings,
    )
    wired = wire_accounts("demo", runtime, key_header_first="x-api-key")
    assert wired == AccountsWiring(
        "demo",
        wiring.accounts,
        wiring.sessions,
        wiring.limiter,
        wiring.clock,
        False,
        True,
        "https://demo.example",
        "x-api-key",
    )


async def test_current_account_is_resolved_once_per_request() -> None:
    request = request_with({"Authorization": "Bearer would-be-refused"})
    request.state.account = None  # resolved earlier in this request: no second lookup, no wiring needed
    assert await current_account(request) is None


def test_core_templates_hold_no_inline_script_style_or_handler() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\sstyle=|<style", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
