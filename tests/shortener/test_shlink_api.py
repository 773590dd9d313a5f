"""The Shlink REST API v3: in process on real SQLite for the bulk, then a real server driven by plain
httpx requests written from the examples in Shlink's own API documentation (docs/swagger)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalebox.shortener.service.analytics import VISITS_PAGE_MAX
from scalebox.shortener.service.links import Actor
from tests.servers import ServerProcess, wait_until
from tests.shortener.shlink_harness import BASE, T0, Shlink, assert_problem, serve
from tests.shortener.shlink_server import issue_api_keys, start_shortener

ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z")
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


@pytest.fixture
async def shlink(tmp_path: Path) -> AsyncIterator[Shlink]:
    async with serve(tmp_path) as app:
        yield app


@pytest.fixture
async def alice(shlink: Shlink) -> dict[str, str]:
    return await shlink.key("alice")


@pytest.fixture
async def bob(shlink: Shlink) -> dict[str, str]:
    return await shlink.key("bob")


def assert_short_url(body: dict[str, Any]) -> None:
    """Every member of Shlink's ShortUrl, with its type."""
    expected = {
        "shortCode": str,
        "shortUrl": str,
        "longUrl": str,
        "dateCreated": str,
        "visitsSummary": dict,
        "tags": list,
        "meta": dict,
        "title": (str, type(None)),
        "crawlable": bool,
        "forwardQuery": bool,
        "hasRedirectRules": bool,
    }
    for name, kind in expected.items():
        assert isinstance(body[name], kind), (name, body)
    assert body["domain"] is None
    assert body["shortUrl"].endswith("/" + body["shortCode"])
    assert ISO_SECONDS.match(body["dateCreated"]), body["dateCreated"]
    assert set(body["visitsSummary"]) == {"total", "nonBots", "bots"}
    assert set(body["meta"]) == {"validSince", "validUntil", "maxVisits"}


def codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["shortCode"] for item in response.json()["shortUrls"]["data"]]


# -- authentication --------------------------------------------------------------------------


async def test_requests_without_api_key_get_missing_authentication(shlink: Shlink):
    response = await shlink.client.get("/rest/v3/short-urls")
    body = assert_problem(response, 401, "missing-authentication")
    assert body["expectedTypes"] == ["X-Api-Key"]


@pytest.mark.parametrize("key", ["nonsense", "sbk_0000000000000000_000000000000000000000000"])
async def test_unknown_api_key_is_invalid_api_key(shlink: Shlink, key: str):
    for method, path in (
        ("GET", "/rest/v3/short-urls"),
        ("GET", "/rest/v3/tags"),
        ("DELETE", "/rest/v3/tags"),
    ):
        response = await shlink.client.request(method, path, headers={"X-Api-Key": key})
        body = assert_problem(response, 401, "invalid-api-key")
        assert body["title"] == "Invalid API key"


async def test_key_of_banned_account_is_refused(shlink: Shlink, alice: dict[str, str]):
    assert (await shlink.client.get("/rest/v3/short-urls", headers=alice)).status_code == 200
    account_id = (await shlink.shortener.accounts.account_for_api_key(alice["X-Api-Key"])).id
    await shlink.shortener.accounts.set_banned(account_id, True)
    assert_problem(await shlink.client.get("/rest/v3/short-urls", headers=alice), 401, "invalid-api-key")


async def test_bearer_token_works_as_api_key(shlink: Shlink, alice: dict[str, str]):
    bearer = {"Authorization": f"Bearer {alice['X-Api-Key']}"}
    assert (await shlink.client.get("/rest/v3/short-urls", headers=bearer)).status_code == 200


async def test_health_needs_no_key_on_both_paths(shlink: Shlink):
    for path in ("/rest/health", "/rest/v3/health"):
        response = await shlink.client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/health+json")
        body = response.json()
        assert body["status"] == "pass"
        assert isinstance(body["version"], str)
        assert body["version"]
        assert set(body["links"]) == {"about", "project"}


# -- short URLs: create, read, edit, delete ----------------------------------------------------


async def test_create_answers_shlink_short_url(shlink: Shlink, alice: dict[str, str]):
    body = await shlink.create(
        alice,
        "https://store.steampowered.com",
        tags=["games", "tech"],
        validSince="2017-01-21T00:00:00+02:00",
        maxVisits=500,
        title="Welcome to Steam",
    )
    assert_short_url(body)
    assert len(body["shortCode"]) == 7
    assert body["shortUrl"] == f"{BASE}/{body['shortCode']}"
    assert body["longUrl"] == "https://store.steampowered.com"
    assert body["dateCreated"] == "2026-11-21T09:00:00+00:00"
    assert body["tags"] == ["games", "tech"]
    assert body["meta"] == {"validSince": "2017-01-20T22:00:00+00:00", "validUntil": None, "maxVisits": 500}
    assert body["visitsSummary"] == {"total": 0, "nonBots": 0, "bots": 0}
    assert body["title"] == "Welcome to Steam"
    assert (body["crawlable"], body["forwardQuery"], body["hasRedirectRules"]) == (False, True, False)
    assert (body["redirectType"], body["disabled"]) == (302, False)


async def test_get_finds_by_code_case_insensitively(shlink: Shlink, alice: dict[str, str]):
    created = await shlink.create(alice, "https://example.com/a", customSlug="MySlug")
    for code in ("MySlug", "myslug"):
        response = await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice)
        assert response.status_code == 200, response.text
        assert response.json() == created


async def test_unknown_code_is_short_url_not_found(shlink: Shlink, alice: dict[str, str]):
    body = assert_problem(
        await shlink.client.get("/rest/v3/short-urls/abc123", headers=alice), 404, "short-url-not-found"
    )
    assert body["shortCode"] == "abc123"
    assert body["title"] == "Short URL not found"
    assert body["detail"] == 'No URL found with short code "abc123"'


async def test_patch_changes_sent_members_and_null_clears(shlink: Shlink, alice: dict[str, str]):
    created = await shlink.create(
        alice,
        "https://example.com/old",
        title="Old",
        tags=["a", "b"],
        validSince="2026-01-01T00:00:00+00:00",
        validUntil="2027-01-01T00:00:00Z",
        maxVisits=10,
        crawlable=True,
    )
    code = created["shortCode"]
    response = await shlink.client.patch(
        f"/rest/v3/short-urls/{code}",
        json={"longUrl": "https://example.com/new", "title": None, "tags": None, "maxVisits": None},
        headers=alice,
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert_short_url(edited)
    assert edited["longUrl"] == "https://example.com/new"
    assert (edited["title"], edited["tags"], edited["meta"]["maxVisits"]) == (None, [], None)
    assert edited["meta"]["validSince"] == "2026-01-01T00:00:00+00:00"  # absent: unchanged
    assert edited["crawlable"] is True

    response = await shlink.client.patch(
        f"/rest/v3/short-urls/{code}", json={"validSince": None, "validUntil": None}, headers=alice
    )
    assert response.json()["meta"] == {"validSince": None, "validUntil": None, "maxVisits": None}
    fetched = await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice)
    assert fetched.json() == response.json()


async def test_patch_null_long_url_is_invalid(shlink: Shlink, alice: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com/x"))["shortCode"]
    response = await shlink.client.patch(
        f"/rest/v3/short-urls/{code}", json={"longUrl": None, "crawlable": None}, headers=alice
    )
    body = assert_problem(response, 400, "invalid-data")
    assert sorted(body["invalidElements"]) == ["crawlable", "longUrl"]


async def test_patch_redirect_stops_at_new_target(shlink: Shlink, alice: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com/before"))["shortCode"]
    assert (await shlink.client.get(f"/{code}")).headers["location"] == "https://example.com/before"
    await shlink.client.patch(
        f"/rest/v3/short-urls/{code}", json={"longUrl": "https://example.com/after"}, headers=alice
    )
    assert (await shlink.client.get(f"/{code}")).headers["location"] == "https://example.com/after"


async def test_delete_answers_204_then_not_found(shlink: Shlink, alice: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com/gone"))["shortCode"]
    response = await shlink.client.delete(f"/rest/v3/short-urls/{code}", headers=alice)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(
        await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice), 404, "short-url-not-found"
    )
    assert (await shlink.client.get(f"/{code}")).status_code == 404
    assert_problem(
        await shlink.client.delete(f"/rest/v3/short-urls/{code}", headers=alice), 404, "short-url-not-found"
    )


async def test_find_if_exists_returns_the_existing_short_url(shlink: Shlink, alice: dict[str, str]):
    first = await shlink.create(alice, "https://example.com/same", tags=["x"])
    again = await shlink.create(alice, "https://example.com/same", findIfExists=True)
    assert again["shortCode"] == first["shortCode"]
    fresh = await shlink.create(alice, "https://example.com/same")
    assert fresh["shortCode"] != first["shortCode"]  # without findIfExists Shlink always creates


# -- ownership ---------------------------------------------------------------------------------


async def test_other_accounts_cannot_see_or_change_a_short_url(
    shlink: Shlink, alice: dict[str, str], bob: dict[str, str]
):
    code = (await shlink.create(alice, "https://example.com/alice", tags=["private"]))["shortCode"]
    attempts = [
        ("GET", f"/rest/v3/short-urls/{code}", None),
        ("PATCH", f"/rest/v3/short-urls/{code}", {"title": "mine now"}),
        ("DELETE", f"/rest/v3/short-urls/{code}", None),
        ("GET", f"/rest/v3/short-urls/{code}/redirect-rules", None),
        ("POST", f"/rest/v3/short-urls/{code}/redirect-rules", {"redirectRules": []}),
        ("GET", f"/rest/v3/short-urls/{code}/visits", None),
    ]
    for method, path, body in attempts:
        response = await shlink.client.request(method, path, json=body, headers=bob)
        assert assert_problem(response, 404, "short-url-not-found")["shortCode"] == code
    assert codes(await shlink.client.get("/rest/v3/short-urls", headers=bob)) == []
    assert (await shlink.client.get("/rest/v3/tags", headers=bob)).json()["tags"]["data"] == []
    assert_problem(await shlink.client.get("/rest/v3/tags/private/visits", headers=bob), 404, "tag-not-found")
    mine = await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice)
    assert mine.json()["title"] is None


async def test_administrators_see_every_short_url(shlink: Shlink, alice: dict[str, str]):
    admin = await shlink.key("root", admin=True)
    code = (await shlink.create(alice, "https://example.com/alice"))["shortCode"]
    assert codes(await shlink.client.get("/rest/v3/short-urls", headers=admin)) == [code]


# -- listing -----------------------------------------------------------------------------------


async def make_links(shlink: Shlink, headers: dict[str, str], count: int) -> list[str]:
    """`count` links a minute apart, oldest first."""
    made = []
    for number in range(count):
        made.append((await shlink.create(headers, f"https://example.com/{number}"))["shortCode"])
        shlink.clock.advance(seconds=60)
    return made


async def test_pagination_counts_pages_and_items(shlink: Shlink, alice: dict[str, str]):
    made = await make_links(shlink, alice, 7)
    newest_first = made[::-1]
    response = await shlink.client.get("/rest/v3/short-urls?page=3&itemsPerPage=3", headers=alice)
    assert codes(response) == newest_first[6:]
    assert response.json()["shortUrls"]["pagination"] == {
        "currentPage": 3,
        "pagesCount": 3,
        "itemsPerPage": 3,
        "itemsInCurrentPage": 1,
        "totalItems": 7,
    }
    response = await shlink.client.get("/rest/v3/short-urls?page=2&itemsPerPage=3", headers=alice)
    assert codes(response) == newest_first[3:6]
    response = await shlink.client.get("/rest/v3/short-urls", headers=alice)
    assert response.json()["shortUrls"]["pagination"]["itemsPerPage"] == 10  # Shlink's default
    response = await shlink.client.get("/rest/v3/short-urls?itemsPerPage=-1", headers=alice)
    assert codes(response) == newest_first
    assert response.json()["shortUrls"]["pagination"] == {
        "currentPage": 1,
        "pagesCount": 1,
        "itemsPerPage": 7,
        "itemsInCurrentPage": 7,
        "totalItems": 7,
    }
    response = await shlink.client.get("/rest/v3/short-urls?page=9&itemsPerPage=3", headers=alice)
    assert codes(response) == []
    assert response.json()["shortUrls"]["pagination"]["pagesCount"] == 3


async def test_empty_list_has_one_page(shlink: Shlink, alice: dict[str, str]):
    response = await shlink.client.get("/rest/v3/short-urls", headers=alice)
    assert response.json() == {
        "shortUrls": {
            "data": [],
            "pagination": {
                "currentPage": 1,
                "pagesCount": 1,
                "itemsPerPage": 10,
                "itemsInCurrentPage": 0,
                "totalItems": 0,
            },
        }
    }


async def test_search_term_matches_url_title_code_and_tags(shlink: Shlink, alice: dict[str, str]):
    by_url = (await shlink.create(alice, "https://docs.python.org/3/"))["shortCode"]
    by_title = (await shlink.create(alice, "https://example.com/1", title="Python tutorial"))["shortCode"]
    by_tag = (await shlink.create(alice, "https://example.com/2", tags=["PYTHON"]))["shortCode"]
    await shlink.create(alice, "https://example.com/3", title="Rust")
    found = codes(await shlink.client.get("/rest/v3/short-urls?searchTerm=python", headers=alice))
    assert sorted(found) == sorted([by_url, by_title, by_tag])
    found = codes(await shlink.client.get(f"/rest/v3/short-urls?searchTerm={by_url.lower()}", headers=alice))
    assert found == [by_url]


async def test_tags_filter_any_and_all(shlink: Shlink, alice: dict[str, str]):
    both = (await shlink.create(alice, "https://example.com/1", tags=["games", "tech"]))["shortCode"]
    games = (await shlink.create(alice, "https://example.com/2", tags=["games"]))["shortCode"]
    await shlink.create(alice, "https://example.com/3", tags=["music"])
    query = "tags[]=games&tags[]=tech"
    found = codes(await shlink.client.get(f"/rest/v3/short-urls?{query}", headers=alice))
    assert sorted(found) == sorted([both, games])
    found = codes(await shlink.client.get(f"/rest/v3/short-urls?{query}&tagsMode=all", headers=alice))
    assert found == [both]
    assert_problem(
        await shlink.client.get("/rest/v3/short-urls?tagsMode=some", headers=alice), 400, "invalid-data"
    )


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("longUrl-ASC", ["https://a.example", "https://b.example", "https://c.example"]),
        ("longUrl-DESC", ["https://c.example", "https://b.example", "https://a.example"]),
        ("title-ASC", ["https://c.example", "https://a.example", "https://b.example"]),
        ("dateCreated-ASC", ["https://b.example", "https://c.example", "https://a.example"]),
        ("dateCreated", ["https://b.example", "https://c.example", "https://a.example"]),
        (None, ["https://a.example", "https://c.example", "https://b.example"]),
    ],
)
async def test_order_by(shlink: Shlink, alice: dict[str, str], order_by: str | None, expected: list[str]):
    for url, title in (("https://b.example", "zz"), ("https://c.example", "aa"), ("https://a.example", "mm")):
        await shlink.create(alice, url, title=title)
        shlink.clock.advance(seconds=1)
    params = {"orderBy": order_by} if order_by else {}
    response = await shlink.client.get("/rest/v3/short-urls", params=params, headers=alice)
    assert [item["longUrl"] for item in response.json()["shortUrls"]["data"]] == expected


@pytest.mark.parametrize("order_by", ["visits-UP", "color-ASC", "-ASC", "title-DESC-ASC"])
async def test_unknown_order_by_is_invalid(shlink: Shlink, alice: dict[str, str], order_by: str):
    response = await shlink.client.get("/rest/v3/short-urls", params={"orderBy": order_by}, headers=alice)
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["orderBy"]


async def test_visit_orders_and_exclusions(shlink: Shlink, alice: dict[str, str]):
    popular = (await shlink.create(alice, "https://example.com/popular", maxVisits=2))["shortCode"]
    quiet = (await shlink.create(alice, "https://example.com/quiet"))["shortCode"]
    expiring = (
        await shlink.create(alice, "https://example.com/expiring", validUntil="2026-11-21T10:00:00+00:00")
    )["shortCode"]
    for _ in range(2):
        assert (await shlink.client.get(f"/{popular}")).status_code == 302
    await shlink.client.get(f"/{quiet}", headers={"User-Agent": "Googlebot/2.1"})
    assert await shlink.store_visits() == 3
    response = await shlink.client.get("/rest/v3/short-urls?orderBy=visits-DESC", headers=alice)
    assert codes(response)[0] == popular
    assert response.json()["shortUrls"]["data"][0]["visitsSummary"] == {"total": 2, "nonBots": 2, "bots": 0}
    response = await shlink.client.get("/rest/v3/short-urls?orderBy=nonBotVisits-ASC", headers=alice)
    assert codes(response)[-1] == popular
    found = codes(await shlink.client.get("/rest/v3/short-urls?excludeMaxVisitsReached=true", headers=alice))
    assert sorted(found) == sorted([quiet, expiring])
    shlink.clock.advance(seconds=3600)
    found = codes(await shlink.client.get("/rest/v3/short-urls?excludePastValidUntil=true", headers=alice))
    assert sorted(found) == sorted([popular, quiet])


async def test_date_range_filters_creation_dates(shlink: Shlink, alice: dict[str, str]):
    made = await make_links(shlink, alice, 3)  # 09:00, 09:01, 09:02 UTC
    params = {"startDate": "2026-11-21T10:00:30+01:00", "endDate": "2026-11-21T09:02:00Z"}
    found = codes(await shlink.client.get("/rest/v3/short-urls", params=params, headers=alice))
    assert found == [made[2], made[1]]
    found = codes(await shlink.client.get("/rest/v3/short-urls?endDate=2026-11-21", headers=alice))
    assert found == []  # a bare date is midnight UTC


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "21/11/2026", "1763715600"])
async def test_bad_dates_are_invalid_data(shlink: Shlink, alice: dict[str, str], value: str):
    response = await shlink.client.get("/rest/v3/short-urls", params={"startDate": value}, headers=alice)
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["startDate"]
    response = await shlink.client.post(
        "/rest/v3/short-urls",
        json={"longUrl": "https://example.com", "validSince": value, "validUntil": value},
        headers=alice,
    )
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["validSince", "validUntil"]


async def test_valid_since_without_offset_is_invalid(shlink: Shlink, alice: dict[str, str]):
    response = await shlink.client.post(
        "/rest/v3/short-urls",
        json={"longUrl": "https://example.com", "validSince": "2026-11-22T00:00:00"},
        headers=alice,
    )
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["validSince"]


# -- invalid input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "elements"),
    [
        ({}, ["longUrl"]),
        ({"longUrl": 42}, ["longUrl"]),
        ({"longUrl": "https://example.com", "maxVisits": "5"}, ["maxVisits"]),
        ({"longUrl": "https://example.com", "maxVisits": 0}, ["maxVisits"]),
        ({"longUrl": "https://example.com", "maxVisits": "x", "validSince": 1}, ["maxVisits", "validSince"]),
        ({"longUrl": "https://example.com", "tags": "games"}, ["tags"]),
        ({"longUrl": "https://example.com", "crawlable": "true"}, ["crawlable"]),
        ({"longUrl": "https://example.com", "shortCodeLength": 3}, ["shortCodeLength"]),
        ({"longUrl": "https://example.com", "domain": "elsewhere.example"}, ["domain"]),
        ({"longUrl": "https://example.com", "redirectType": 303}, ["redirectType"]),
    ],
)
async def test_invalid_create_bodies(shlink: Shlink, alice: dict[str, str], body: dict, elements: list[str]):
    response = await shlink.client.post("/rest/v3/short-urls", json=body, headers=alice)
    assert sorted(assert_problem(response, 400, "invalid-data")["invalidElements"]) == elements


async def test_malformed_json_is_malformed_request_body(shlink: Shlink, alice: dict[str, str]):
    response = await shlink.client.post(
        "/rest/v3/short-urls",
        content=b'{"longUrl": "https://example.com",',
        headers={**alice, "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed-request-body")


async def test_short_code_length_and_own_domain_are_accepted(shlink: Shlink, alice: dict[str, str]):
    body = await shlink.create(alice, "https://example.com", shortCodeLength=5, domain="testserver")
    assert len(body["shortCode"]) == 7  # codes are always 7 characters
    assert body["domain"] is None


@pytest.mark.parametrize(
    "long_url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://user:secret@example.com/",
        "ftp://example.com/file",
        "https://example.com/" + "a" * 2100,
        "not a url",
        "",
        "http://localhost:8002/loop",  # the shortener itself
    ],
)
async def test_unsafe_long_urls_are_invalid(shlink: Shlink, alice: dict[str, str], long_url: str):
    response = await shlink.client.post("/rest/v3/short-urls", json={"longUrl": long_url}, headers=alice)
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["longUrl"]


async def test_blocked_domain_is_invalid_url(shlink: Shlink, alice: dict[str, str]):
    admin = await shlink.key("root", admin=True)
    account = await shlink.shortener.accounts.account_for_api_key(admin["X-Api-Key"])
    await shlink.shortener.links.block_domain(Actor(account.id, is_admin=True), "evil.example")
    response = await shlink.client.post(
        "/rest/v3/short-urls", json={"longUrl": "https://www.evil.example/x"}, headers=alice
    )
    assert_problem(response, 400, "invalid-url")


@pytest.mark.parametrize("slug", ["a", "has space", "dash--dash", "trailing-", "ünïcode", "x" * 65])
async def test_malformed_custom_slug_is_invalid_data(shlink: Shlink, alice: dict[str, str], slug: str):
    response = await shlink.client.post(
        "/rest/v3/short-urls", json={"longUrl": "https://example.com", "customSlug": slug}, headers=alice
    )
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["customSlug"]


@pytest.mark.parametrize("slug", ["admin", "REST", "health"])
async def test_reserved_custom_slug_is_invalid_data(shlink: Shlink, alice: dict[str, str], slug: str):
    response = await shlink.client.post(
        "/rest/v3/short-urls", json={"longUrl": "https://example.com", "customSlug": slug}, headers=alice
    )
    body = assert_problem(response, 400, "invalid-data")
    assert body["invalidElements"] == ["customSlug"]
    assert "reserved" in body["detail"]


async def test_duplicate_slug_is_non_unique_whatever_the_case(
    shlink: Shlink, alice: dict[str, str], bob: dict[str, str]
):
    await shlink.create(alice, "https://example.com/1", customSlug="launch")
    for headers, slug in ((alice, "launch"), (bob, "LAUNCH")):
        response = await shlink.client.post(
            "/rest/v3/short-urls",
            json={"longUrl": "https://example.com/2", "customSlug": slug},
            headers=headers,
        )
        body = assert_problem(response, 400, "non-unique-slug")
        assert body["customSlug"] == slug
        assert body["title"] == "Invalid custom slug"


# -- one-call shorten --------------------------------------------------------------------------


async def test_shorten_answers_json_and_text(shlink: Shlink, alice: dict[str, str]):
    key = alice["X-Api-Key"]
    params = {"apiKey": key, "longUrl": "https://github.com/shlinkio/shlink"}
    response = await shlink.client.get("/rest/v3/short-urls/shorten", params=params)
    assert response.status_code == 200, response.text
    assert_short_url(response.json())
    response = await shlink.client.get("/rest/v3/short-urls/shorten", params={**params, "format": "txt"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(rf"{BASE}/[0-9A-Za-z]{{7}}", response.text)
    followed = await shlink.client.get(response.text.removeprefix(BASE))
    assert followed.headers["location"] == "https://github.com/shlinkio/shlink"
    response = await shlink.client.get(
        "/rest/v3/short-urls/shorten", params=params, headers={"Accept": "text/plain"}
    )
    assert response.text.startswith(f"{BASE}/")


async def test_shorten_errors(shlink: Shlink, alice: dict[str, str]):
    url = "/rest/v3/short-urls/shorten"
    response = await shlink.client.get(url, params={"longUrl": "https://example.com"})
    assert assert_problem(response, 401, "missing-authentication")["expectedTypes"] == ["apiKey"]
    response = await shlink.client.get(url, params={"longUrl": "https://example.com", "apiKey": "bad"})
    assert_problem(response, 401, "invalid-api-key")
    params = {"longUrl": "javascript:alert(1)", "apiKey": alice["X-Api-Key"]}
    assert_problem(await shlink.client.get(url, params=params), 400, "invalid-data")
    response = await shlink.client.get(url, params={**params, "format": "txt"})
    assert (response.status_code, response.text) == (400, "https://shlink.io/api/error/invalid-data")
    response = await shlink.client.get(url, params={"apiKey": alice["X-Api-Key"]})
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["longUrl"]


# -- redirect rules ----------------------------------------------------------------------------

RULES = [
    {
        "longUrl": "https://example.com/android-en-us",
        "conditions": [
            {"type": "device", "matchValue": "android", "matchKey": None},
            {"type": "language", "matchValue": "en-US", "matchKey": None},
        ],
    },
    {"longUrl": "https://example.com/fr", "conditions": [{"type": "language", "matchValue": "fr"}]},
    {"longUrl": "https://example.com/ios", "conditions": [{"type": "device", "matchValue": "ios"}]},
    {
        "longUrl": "https://example.com/query-foo-bar",
        "conditions": [{"type": "query-param", "matchKey": "foo", "matchValue": "bar"}],
    },
]


async def test_redirect_rules_round_trip_and_steer_redirects(shlink: Shlink, alice: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com", forwardQuery=False))["shortCode"]
    path = f"/rest/v3/short-urls/{code}/redirect-rules"
    assert (await shlink.client.get(path, headers=alice)).json() == {
        "defaultLongUrl": "https://example.com",
        "redirectRules": [],
    }
    response = await shlink.client.post(path, json={"redirectRules": RULES}, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["defaultLongUrl"] == "https://example.com"
    assert [rule["priority"] for rule in body["redirectRules"]] == [1, 2, 3, 4]
    assert body["redirectRules"][3]["conditions"] == [
        {"type": "query-param", "matchKey": "foo", "matchValue": "bar"}
    ]
    assert body["redirectRules"][1]["conditions"] == [
        {"type": "language", "matchKey": None, "matchValue": "fr"}
    ]
    assert (await shlink.client.get(path, headers=alice)).json() == body
    short_url = await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice)
    assert short_url.json()["hasRedirectRules"] is True

    visits = [
        (
            {"User-Agent": ANDROID, "Accept-Language": "en-US,en;q=0.8"},
            "",
            "https://example.com/android-en-us",
        ),
        ({"User-Agent": ANDROID, "Accept-Language": "de"}, "", "https://example.com"),
        ({"User-Agent": FIREFOX, "Accept-Language": "fr-CA, en;q=0.5"}, "", "https://example.com/fr"),
        ({"User-Agent": IPHONE}, "", "https://example.com/ios"),
        ({"User-Agent": FIREFOX}, "?foo=bar", "https://example.com/query-foo-bar"),
        ({"User-Agent": FIREFOX}, "?foo=baz", "https://example.com"),
    ]
    for headers, query, location in visits:
        response = await shlink.client.get(f"/{code}{query}", headers=headers)
        assert (response.status_code, response.headers["location"]) == (302, location), (headers, query)

    response = await shlink.client.patch(path, json={"redirectRules": []}, headers=alice)
    assert response.json()["redirectRules"] == []
    response = await shlink.client.get(f"/{code}", headers={"User-Agent": IPHONE})
    assert response.headers["location"] == "https://example.com"


@pytest.mark.parametrize(
    "rules",
    [
        [{"longUrl": "https://example.com/x", "conditions": []}],
        [{"longUrl": "javascript:alert(1)", "conditions": [{"type": "device", "matchValue": "ios"}]}],
        [{"longUrl": "https://example.com/x", "conditions": [{"type": "device", "matchValue": "fridge"}]}],
        [
            {
                "longUrl": "https://example.com/x",
                "conditions": [{"type": "ip-address", "matchValue": "1.2.3.4"}],
            }
        ],
        [{"longUrl": "https://example.com/x", "conditions": [{"type": "query-param", "matchValue": "x"}]}],
        "not a list",
        ["not an object"],
    ],
)
async def test_invalid_redirect_rules(shlink: Shlink, alice: dict[str, str], rules: Any):
    code = (await shlink.create(alice, "https://example.com"))["shortCode"]
    response = await shlink.client.post(
        f"/rest/v3/short-urls/{code}/redirect-rules", json={"redirectRules": rules}, headers=alice
    )
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["redirectRules"]


# -- tags --------------------------------------------------------------------------------------


async def tagged(shlink: Shlink, headers: dict[str, str]) -> None:
    await shlink.create(headers, "https://example.com/1", tags=["games", "tech"])
    await shlink.create(headers, "https://example.com/2", tags=["tech"])
    await shlink.create(headers, "https://example.com/3", tags=["shlink"])


async def test_tags_list_and_stats(shlink: Shlink, alice: dict[str, str], bob: dict[str, str]):
    await tagged(shlink, alice)
    await shlink.create(bob, "https://example.com/bob", tags=["bobs"])
    response = await shlink.client.get("/rest/v3/tags", headers=alice)
    assert response.json() == {
        "tags": {
            "data": ["games", "shlink", "tech"],
            "pagination": {
                "currentPage": 1,
                "pagesCount": 1,
                "itemsPerPage": 3,
                "itemsInCurrentPage": 3,
                "totalItems": 3,
            },
        }
    }
    stats = (await shlink.client.get("/rest/v3/tags/stats", headers=alice)).json()["tags"]
    tech = {"tag": "tech", "shortUrlsCount": 2, "visitsSummary": {"total": 0, "nonBots": 0, "bots": 0}}
    assert stats["data"][2] == tech
    with_stats = (await shlink.client.get("/rest/v3/tags?withStats=true", headers=alice)).json()["tags"]
    assert with_stats["data"] == ["games", "shlink", "tech"]
    assert with_stats["stats"] == stats["data"]
    ordered = await shlink.client.get(
        "/rest/v3/tags/stats?orderBy=shortUrlsCount-DESC&itemsPerPage=1&page=1", headers=alice
    )
    body = ordered.json()["tags"]
    assert [tag["tag"] for tag in body["data"]] == ["tech"]
    assert body["pagination"]["pagesCount"] == 3
    searched = await shlink.client.get("/rest/v3/tags?searchTerm=EC", headers=alice)
    assert searched.json()["tags"]["data"] == ["tech"]
    assert_problem(await shlink.client.get("/rest/v3/tags?orderBy=color", headers=alice), 400, "invalid-data")


async def test_rename_tag(shlink: Shlink, alice: dict[str, str]):
    await tagged(shlink, alice)
    response = await shlink.client.put(
        "/rest/v3/tags", json={"oldName": "tech", "newName": "technology"}, headers=alice
    )
    assert response.status_code == 204
    assert (await shlink.client.get("/rest/v3/tags", headers=alice)).json()["tags"]["data"] == [
        "games",
        "shlink",
        "technology",
    ]
    found = codes(await shlink.client.get("/rest/v3/short-urls?tags[]=technology", headers=alice))
    assert len(found) == 2


async def test_rename_tag_problems(shlink: Shlink, alice: dict[str, str]):
    await tagged(shlink, alice)
    response = await shlink.client.put(
        "/rest/v3/tags", json={"oldName": "nope", "newName": "x"}, headers=alice
    )
    assert assert_problem(response, 404, "tag-not-found")["tag"] == "nope"
    response = await shlink.client.put(
        "/rest/v3/tags", json={"oldName": "games", "newName": "tech"}, headers=alice
    )
    body = assert_problem(response, 409, "tag-conflict")
    assert (body["oldName"], body["newName"]) == ("games", "tech")
    response = await shlink.client.put("/rest/v3/tags", json={}, headers=alice)
    assert sorted(assert_problem(response, 400, "invalid-data")["invalidElements"]) == ["newName", "oldName"]


async def test_delete_tags(shlink: Shlink, alice: dict[str, str], bob: dict[str, str]):
    await tagged(shlink, alice)
    await shlink.create(bob, "https://example.com/bob", tags=["tech"])
    response = await shlink.client.delete("/rest/v3/tags?tags[]=tech&tags[]=games", headers=alice)
    assert response.status_code == 204
    assert (await shlink.client.get("/rest/v3/tags", headers=alice)).json()["tags"]["data"] == ["shlink"]
    assert (await shlink.client.get("/rest/v3/tags", headers=bob)).json()["tags"]["data"] == ["tech"]
    assert (await shlink.client.delete("/rest/v3/tags", headers=alice)).status_code == 204


# -- visits ------------------------------------------------------------------------------------


async def test_visits_of_short_url_tag_and_domain(shlink: Shlink, alice: dict[str, str], bob: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com/visited", tags=["news"]))["shortCode"]
    other = (await shlink.create(bob, "https://example.com/bobs"))["shortCode"]
    await shlink.client.get(f"/{code}", headers={"User-Agent": FIREFOX, "Referer": "https://t.co/x"})
    shlink.clock.advance(seconds=60)
    await shlink.client.get(
        f"/{code}?utm=1", headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    )
    await shlink.client.get(f"/{other}")
    assert await shlink.store_visits() == 3

    response = await shlink.client.get(f"/rest/v3/short-urls/{code}/visits", headers=alice)
    assert response.status_code == 200, response.text
    visits = response.json()["visits"]
    assert visits["pagination"] == {
        "currentPage": 1,
        "pagesCount": 1,
        "itemsPerPage": 2,
        "itemsInCurrentPage": 2,
        "totalItems": 2,
    }
    newest, oldest = visits["data"]
    assert set(oldest) == {"referer", "date", "userAgent", "visitLocation", "potentialBot", "redirectUrl"}
    assert (oldest["referer"], oldest["userAgent"], oldest["potentialBot"]) == (
        "https://t.co/x",
        FIREFOX,
        False,
    )
    assert oldest["date"] == "2026-11-21T09:00:00+00:00"
    assert oldest["visitLocation"] is None  # no GeoIP database configured
    assert oldest["redirectUrl"] == "https://example.com/visited"
    assert newest["potentialBot"] is True
    assert newest["date"] == "2026-11-21T09:01:00+00:00"

    no_bots = await shlink.client.get(f"/rest/v3/short-urls/{code}/visits?excludeBots=true", headers=alice)
    assert len(no_bots.json()["visits"]["data"]) == 1
    ranged = await shlink.client.get(
        f"/rest/v3/short-urls/{code}/visits",
        params={"startDate": "2026-11-21T09:00:30+00:00", "itemsPerPage": 1},
        headers=alice,
    )
    assert ranged.json()["visits"]["data"] == [newest]
    assert ranged.json()["visits"]["pagination"]["itemsPerPage"] == 1

    tag = await shlink.client.get("/rest/v3/tags/news/visits", headers=alice)
    assert tag.json()["visits"]["data"] == visits["data"]
    assert_problem(await shlink.client.get("/rest/v3/tags/nope/visits", headers=alice), 404, "tag-not-found")
    for domain in ("DEFAULT", "testserver"):
        response = await shlink.client.get(f"/rest/v3/domains/{domain}/visits", headers=alice)
        assert response.json()["visits"]["data"] == visits["data"]
    response = await shlink.client.get("/rest/v3/domains/elsewhere.example/visits", headers=alice)
    assert assert_problem(response, 404, "domain-not-found")["authority"] == "elsewhere.example"
    non_orphan = await shlink.client.get("/rest/v3/visits/non-orphan", headers=alice)
    assert non_orphan.json()["visits"]["pagination"]["totalItems"] == 2

    stats = (await shlink.client.get(f"/rest/v3/short-urls/{code}", headers=alice)).json()
    assert stats["visitsSummary"] == {"total": 2, "nonBots": 1, "bots": 1}


async def test_orphan_visits_and_summary(shlink: Shlink, alice: dict[str, str]):
    admin = await shlink.key("root", admin=True)
    await shlink.create(alice, "https://example.com/1")
    assert (await shlink.client.get("/nosuchcode")).status_code == 404
    assert (await shlink.client.get("/some/deep/path")).status_code == 404
    assert await shlink.store_visits() == 2

    response = await shlink.client.get("/rest/v3/visits/orphan", headers=admin)
    orphans = response.json()["visits"]
    assert orphans["pagination"]["totalItems"] == 2
    by_type = {visit["type"]: visit for visit in orphans["data"]}
    assert set(by_type) == {"invalid_short_url", "regular_404"}
    assert by_type["invalid_short_url"]["visitedUrl"] == f"{BASE}/nosuchcode"
    assert by_type["regular_404"]["visitedUrl"] == f"{BASE}/some/deep/path"
    only = await shlink.client.get("/rest/v3/visits/orphan?type=regular_404", headers=admin)
    assert [visit["type"] for visit in only.json()["visits"]["data"]] == ["regular_404"]
    assert_problem(
        await shlink.client.get("/rest/v3/visits/orphan?type=valid", headers=admin), 400, "invalid-data"
    )

    summary = (await shlink.client.get("/rest/v3/visits", headers=admin)).json()
    assert summary == {
        "visits": {
            "nonOrphanVisits": {"total": 0, "nonBots": 0, "bots": 0},
            "orphanVisits": {"total": 2, "nonBots": 2, "bots": 0},
        }
    }
    # Orphan visits belong to no account: only administrators see them.
    mine = (await shlink.client.get("/rest/v3/visits/orphan", headers=alice)).json()["visits"]
    assert (mine["data"], mine["pagination"]["totalItems"]) == ([], 0)
    summary = (await shlink.client.get("/rest/v3/visits", headers=alice)).json()["visits"]
    assert summary["orphanVisits"] == {"total": 0, "nonBots": 0, "bots": 0}


async def test_visits_paging_is_bounded(shlink: Shlink, alice: dict[str, str]):
    response = await shlink.client.get(
        f"/rest/v3/visits/non-orphan?itemsPerPage={VISITS_PAGE_MAX + 1}", headers=alice
    )
    assert response.json()["visits"]["pagination"]["itemsPerPage"] == VISITS_PAGE_MAX
    response = await shlink.client.get("/rest/v3/visits/non-orphan?page=0", headers=alice)
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["page"]
    response = await shlink.client.get("/rest/v3/visits/non-orphan?endDate=soon", headers=alice)
    assert assert_problem(response, 400, "invalid-data")["invalidElements"] == ["endDate"]


# -- domains and the schema ----------------------------------------------------------------------


async def test_domains_lists_the_default_domain(shlink: Shlink, alice: dict[str, str]):
    response = await shlink.client.get("/rest/v3/domains", headers=alice)
    nothing = {"baseUrlRedirect": None, "regular404Redirect": None, "invalidShortUrlRedirect": None}
    assert response.json() == {
        "domains": {
            "data": [{"domain": "testserver", "isDefault": True, "redirects": nothing}],
            "defaultRedirects": nothing,
        }
    }


async def test_other_domain_finds_no_short_url(shlink: Shlink, alice: dict[str, str]):
    code = (await shlink.create(alice, "https://example.com"))["shortCode"]
    response = await shlink.client.get(f"/rest/v3/short-urls/{code}?domain=elsewhere.example", headers=alice)
    body = assert_problem(response, 404, "short-url-not-found")
    assert (body["shortCode"], body["domain"]) == (code, "elsewhere.example")
    response = await shlink.client.get(f"/rest/v3/short-urls/{code}?domain=testserver", headers=alice)
    assert response.status_code == 200


async def test_openapi_documents_shlink_routes_and_api_key(shlink: Shlink):
    schema = (await shlink.client.get("/openapi.json")).json()
    api_key = schema["components"]["securitySchemes"]["ApiKey"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "X-Api-Key")
    operations = {
        (path, method): operation
        for path, item in schema["paths"].items()
        if path.startswith("/rest/")
        for method, operation in item.items()
    }
    tags = {tag for operation in operations.values() for tag in operation["tags"]}
    assert tags == {"Short URLs", "Tags", "Visits", "Redirect rules", "Domains", "Monitoring"}
    assert all(operation.get("summary") for operation in operations.values())
    assert {"ApiKey": []} in operations[("/rest/v3/short-urls", "post")]["security"]
    assert "security" not in operations[("/rest/health", "get")]
    assert ("/rest/v3/short-urls/{shortCode}/redirect-rules", "patch") in operations


async def test_dates_render_in_utc_whatever_offset_was_sent(shlink: Shlink, alice: dict[str, str]):
    body = await shlink.create(alice, "https://example.com", validUntil="2027-03-01T12:30:45.123-05:00")
    assert body["meta"]["validUntil"] == "2027-03-01T17:30:45+00:00"
    assert datetime.fromisoformat(body["dateCreated"]) == T0
    shlink.clock.advance(seconds=timedelta(days=1).total_seconds())
    later = await shlink.create(alice, "https://example.com/later")
    assert later["dateCreated"] == "2026-11-22T09:00:00+00:00"


# -- a real server, driven by plain HTTP as Shlink's documentation shows --------------------------
# Bodies and queries follow the examples in Shlink's docs/swagger (paths/*.json, definitions/*.json).


@dataclass(frozen=True)
class RealServer:
    process: ServerProcess
    alice: dict[str, str]
    bob: dict[str, str]

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.process.url, timeout=10.0, **options)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    base = tmp_path_factory.mktemp("shortener-server")
    alice, bob = issue_api_keys(base / "data", "alice", "bob")
    process = start_shortener(base / "data", base / "server.log")
    try:
        yield RealServer(process, {"X-Api-Key": alice}, {"X-Api-Key": bob})
    finally:
        process.stop()


def ok(response: httpx.Response, server: RealServer, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.status_code} {response.text}\n{server.process.log_tail()}"
    )
    return response.json() if response.content else None


def assert_pagination(pagination: dict[str, Any]) -> None:
    keys = {"currentPage", "pagesCount", "itemsPerPage", "itemsInCurrentPage", "totalItems"}
    assert set(pagination) == keys
    assert all(isinstance(pagination[key], int) for key in keys)


@pytest.mark.integration
def test_documented_short_url_lifecycle(real: RealServer):
    with real.client(headers=real.alice) as http:
        created = ok(
            http.post(
                "/rest/v3/short-urls",
                json={
                    "longUrl": "https://store.steampowered.com",
                    "tags": ["games", "tech"],
                    "validSince": "2017-01-21T00:00:00+02:00",
                    "maxVisits": 500,
                    "title": "Welcome to Steam",
                    "crawlable": False,
                    "forwardQuery": True,
                    "findIfExists": False,
                },
            ),
            real,
        )
        assert_short_url(created)
        code = created["shortCode"]
        assert created["shortUrl"] == f"{real.process.url}/{code}"
        assert created["meta"]["maxVisits"] == 500

        listing = ok(
            http.get(
                "/rest/v3/short-urls",
                params={"page": 1, "itemsPerPage": 10, "orderBy": "dateCreated-DESC", "tags[]": ["games"]},
            ),
            real,
        )["shortUrls"]
        assert_pagination(listing["pagination"])
        assert [item["shortCode"] for item in listing["data"]] == [code]
        assert_short_url(listing["data"][0])

        edited = ok(
            http.patch(
                f"/rest/v3/short-urls/{code}",
                json={"maxVisits": None, "validSince": None, "validUntil": "2035-01-21T00:00:00+02:00"},
            ),
            real,
        )
        assert edited["meta"] == {
            "validSince": None,
            "validUntil": "2035-01-20T22:00:00+00:00",
            "maxVisits": None,
        }
        assert ok(http.get(f"/rest/v3/short-urls/{code}"), real) == edited

        with real.client() as visitor:
            redirect = visitor.get(f"/{code}", params={"ref": "docs"})
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "https://store.steampowered.com/?ref=docs"

        assert ok(http.delete(f"/rest/v3/short-urls/{code}"), real, 204) is None
        assert http.get(f"/rest/v3/short-urls/{code}").status_code == 404


@pytest.mark.integration
def test_documented_problems(real: RealServer):
    with real.client(headers=real.alice) as http:
        response = http.get("/rest/v3/short-urls/abc123")
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json() == {
            "detail": 'No URL found with short code "abc123"',
            "title": "Short URL not found",
            "type": "https://shlink.io/api/error/short-url-not-found",
            "status": 404,
            "shortCode": "abc123",
        }
        invalid = http.post(
            "/rest/v3/short-urls",
            json={"longUrl": "https://example.com", "maxVisits": "many", "validSince": "someday"},
        ).json()
        assert invalid["type"] == "https://shlink.io/api/error/invalid-data"
        assert (invalid["title"], invalid["status"]) == ("Invalid data", 400)
        assert sorted(invalid["invalidElements"]) == ["maxVisits", "validSince"]
        ok(
            http.post("/rest/v3/short-urls", json={"longUrl": "https://example.com", "customSlug": "taken"}),
            real,
        )
        duplicate = http.post(
            "/rest/v3/short-urls", json={"longUrl": "https://example.org", "customSlug": "TAKEN"}
        )
        assert duplicate.status_code == 400
        assert duplicate.json()["type"] == "https://shlink.io/api/error/non-unique-slug"
        assert duplicate.json()["customSlug"] == "TAKEN"
    with real.client(headers={"X-Api-Key": "not-a-key"}) as http:
        response = http.get("/rest/v3/short-urls")
        assert response.status_code == 401
        assert response.json()["type"] == "https://shlink.io/api/error/invalid-api-key"
    with real.client(headers=real.bob) as http:
        assert http.get("/rest/v3/short-urls/taken").status_code == 404


@pytest.mark.integration
def test_documented_redirect_rules_steer_real_redirects(real: RealServer):
    rules = [
        {
            "longUrl": "https://example.com/android-en-us",
            "conditions": [
                {"type": "device", "matchValue": "android", "matchKey": None},
                {"type": "language", "matchValue": "en-US", "matchKey": None},
            ],
        },
        {
            "longUrl": "https://example.com/fr",
            "conditions": [{"type": "language", "matchValue": "fr", "matchKey": None}],
        },
        {
            "longUrl": "https://example.com/query-foo-bar-hello-world",
            "conditions": [
                {"type": "query-param", "matchKey": "foo", "matchValue": "bar"},
                {"type": "query-param", "matchKey": "hello", "matchValue": "world"},
            ],
        },
    ]
    with real.client(headers=real.alice) as http:
        code = ok(
            http.post("/rest/v3/short-urls", json={"longUrl": "https://example.com", "forwardQuery": False}),
            real,
        )["shortCode"]
        body = ok(
            http.post(f"/rest/v3/short-urls/{code}/redirect-rules", json={"redirectRules": rules}), real
        )
        assert body["defaultLongUrl"] == "https://example.com"
        assert [(rule["longUrl"], rule["priority"]) for rule in body["redirectRules"]] == [
            (rule["longUrl"], priority) for priority, rule in enumerate(rules, 1)
        ]
        assert ok(http.get(f"/rest/v3/short-urls/{code}/redirect-rules"), real) == body
    with real.client() as visitor:
        cases = [
            ({"User-Agent": ANDROID, "Accept-Language": "en-US"}, {}, "https://example.com/android-en-us"),
            ({"User-Agent": FIREFOX, "Accept-Language": "fr"}, {}, "https://example.com/fr"),
            (
                {"User-Agent": FIREFOX},
                {"foo": "bar", "hello": "world"},
                "https://example.com/query-foo-bar-hello-world",
            ),
            ({"User-Agent": FIREFOX}, {"foo": "bar"}, "https://example.com"),
        ]
        for _ in range(2):  # the second round is answered from the redirect fast path's cache
            for headers, params, location in cases:
                response = visitor.get(f"/{code}", headers=headers, params=params)
                assert (response.status_code, response.headers["location"]) == (302, location)


@pytest.mark.integration
def test_documented_tags_shorten_domains_and_health(real: RealServer):
    with real.client(headers=real.alice) as http:
        ok(
            http.post(
                "/rest/v3/short-urls", json={"longUrl": "https://shlink.io", "tags": ["shlink", "php"]}
            ),
            real,
        )
        stats = ok(http.get("/rest/v3/tags/stats"), real)["tags"]
        assert_pagination(stats["pagination"])
        for info in stats["data"]:
            assert set(info) == {"tag", "shortUrlsCount", "visitsSummary"}
        ok(http.put("/rest/v3/tags", json={"oldName": "php", "newName": "python"}), real, 204)
        assert "python" in ok(http.get("/rest/v3/tags"), real)["tags"]["data"]
        ok(http.delete("/rest/v3/tags", params={"tags[]": ["python"]}), real, 204)
        assert "python" not in ok(http.get("/rest/v3/tags"), real)["tags"]["data"]

        domains = ok(http.get("/rest/v3/domains"), real)["domains"]
        assert domains["data"][0]["domain"] == real.process.url.removeprefix("http://")
        assert domains["data"][0]["isDefault"] is True
    with real.client() as http:
        params = {
            "apiKey": real.alice["X-Api-Key"],
            "longUrl": "https://github.com/shlinkio/shlink",
            "format": "txt",
        }
        short = http.get("/rest/v3/short-urls/shorten", params=params)
        assert short.status_code == 200
        assert short.text.startswith(f"{real.process.url}/")
        assert http.get(short.text.removeprefix(real.process.url)).headers["location"] == params["longUrl"]
        health = http.get("/rest/health")
        assert health.headers["content-type"].startswith("application/health+json")
        assert health.json()["status"] == "pass"


@pytest.mark.integration
def test_visits_arrive_through_the_analytics_pipeline(real: RealServer):
    with real.client(headers=real.alice) as http:
        code = ok(http.post("/rest/v3/short-urls", json={"longUrl": "https://example.com/counted"}), real)[
            "shortCode"
        ]
        with real.client() as visitor:
            visitor.get(f"/{code}", headers={"User-Agent": FIREFOX, "Referer": "https://twitter.com"})

        def stored() -> bool:
            return (
                ok(http.get(f"/rest/v3/short-urls/{code}/visits"), real)["visits"]["pagination"]["totalItems"]
                == 1
            )

        wait_until(stored, timeout_seconds=20, describe=real.process.log_tail)
        visits = ok(http.get(f"/rest/v3/short-urls/{code}/visits"), real)["visits"]
        assert_pagination(visits["pagination"])
        visit = visits["data"][0]
        assert (visit["referer"], visit["userAgent"], visit["potentialBot"]) == (
            "https://twitter.com",
            FIREFOX,
            False,
        )
        assert ISO_SECONDS.match(visit["date"])
        summary = ok(http.get("/rest/v3/visits"), real)["visits"]
        assert summary["nonOrphanVisits"]["total"] >= 1
        assert set(summary["orphanVisits"]) == {"total", "nonBots", "bots"}
        short_url = ok(http.get(f"/rest/v3/short-urls/{code}"), real)
        assert short_url["visitsSummary"] == {"total": 1, "nonBots": 1, "bots": 0}
