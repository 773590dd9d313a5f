"""The machine APIs in process (pinnwand v1, curl, haste, raw), on real SQLite and file blobs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalebox.core.web.errors import status_for
from scalebox.pastebin.app import build_app
from scalebox.pastebin.domain import EXPIRIES
from scalebox.pastebin.errors import PasteTooLargeError
from scalebox.pastebin.settings import PastebinSettings

BASE = "http://testserver"
PROBLEM_JSON = "application/problem+json"
CURL_OUTPUT = re.compile(r"\APaste URL:   (\S+)\nRaw URL:     (\S+)\nRemoval URL: (\S+)\n\Z")
SIZE_MAX = 1024


@contextlib.asynccontextmanager
async def serve(data_dir: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The pastebin app with its lifespan running, and a client that talks to it in process."""
    settings = PastebinSettings(data_dir=data_dir, workers=False, log_requests=False, **overrides)
    app = build_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client,
    ):
        client.app = app  # type: ignore[attr-defined]  # for reaching the pastebin behind it
        yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(tmp_path, size_bytes_max=SIZE_MAX) as client:
        yield client


def path_of(url: str) -> str:
    assert url.startswith(BASE + "/"), url
    return url.removeprefix(BASE)


async def create(client: httpx.AsyncClient, content: str = "hello\n", **fields: Any) -> dict[str, str]:
    response = await client.post("/api/v1/paste", json={"files": [{"content": content}], **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def paste_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/api/stats")
    assert response.status_code == 200
    return next(f["value"] for f in response.json()["figures"] if f["key"] == "pastes")


async def stored_blob_count(client: httpx.AsyncClient) -> int:
    blobs = client.app.state.pastebin.blobs  # type: ignore[attr-defined]
    return len([info async for info in blobs.list("content/")])


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    if code is not None:
        assert body["code"] == code


# -- pinnwand v1 -------------------------------------------------------------------------------


async def test_pinnwand_create_answers_link_raw_and_removal(client):
    response = await client.post(
        "/api/v1/paste",
        json={
            "expiry": "1day",
            "files": [
                {"name": "main.py", "lexer": "py", "content": "print('hi')\n"},
                {"name": "notes.md", "lexer": "markdown", "content": "# Notes\n"},
                {"content": "plain"},
            ],
        },
    )

    assert response.status_code == 200
    links = response.json()
    assert set(links) >= {"link", "removal"}
    paste_id = path_of(links["link"]).strip("/")
    assert path_of(links["raw"]) == f"/raw/{paste_id}"
    assert re.fullmatch(r"/remove/[0-9A-Za-z]{24}", path_of(links["removal"]))

    shown = (await client.get(f"/api/v1/paste/{paste_id}")).json()
    assert [(f["name"], f["lexer"], f["content"]) for f in shown["files"]] == [
        ("main.py", "python", "print('hi')\n"),
        ("notes.md", "markdown", "# Notes\n"),
        (None, "text", "plain"),
    ]
    lifetime = datetime.fromisoformat(shown["expires_at"]) - datetime.fromisoformat(shown["created_at"])
    assert lifetime == timedelta(days=1)
    assert (await client.get(f"/raw/{paste_id}/2")).text == "# Notes\n"
    assert (await client.get(f"/raw/{paste_id}/3")).text == "plain"


async def test_pinnwand_create_defaults_to_one_week(client):
    links = await create(client)

    shown = (await client.get(f"/api/v1/paste/{path_of(links['link']).strip('/')}")).json()
    lifetime = datetime.fromisoformat(shown["expires_at"]) - datetime.fromisoformat(shown["created_at"])
    assert lifetime == timedelta(weeks=1)


async def test_pinnwand_create_with_expiry_never_has_no_expiry(client):
    links = await create(client, expiry="never")

    shown = (await client.get(f"/api/v1/paste/{path_of(links['link']).strip('/')}")).json()
    assert shown["expires_at"] is None


async def test_pinnwand_lexer_list_is_a_dict_of_names(client):
    response = await client.get("/api/v1/lexer")

    assert response.status_code == 200
    lexers = response.json()
    assert isinstance(lexers, dict)
    assert lexers["python"] == "Python"
    assert lexers["text"] == "Plain text"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in lexers.items())


async def test_pinnwand_expiry_list_is_a_dict_of_every_expiry(client):
    response = await client.get("/api/v1/expiry")

    assert response.status_code == 200
    expiries = response.json()
    assert isinstance(expiries, dict)
    assert set(expiries) == set(EXPIRIES)
    assert expiries["never"] == "never"
    assert all(isinstance(v, str) and v for v in expiries.values())


# -- curl --------------------------------------------------------------------------------------


async def check_curl_output(client: httpx.AsyncClient, response: httpx.Response, expected: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    match = CURL_OUTPUT.match(response.text)
    assert match, response.text
    link, raw, removal = match.groups()
    assert path_of(raw) == "/raw/" + path_of(link).strip("/")
    assert path_of(removal).startswith("/remove/")
    assert (await client.get(path_of(raw))).text == expected


async def test_curl_accepts_the_raw_field_as_multipart(client):
    response = await client.post("/curl", files={"raw": (None, "from -F raw=<-\n")})

    await check_curl_output(client, response, "from -F raw=<-\n")


async def test_curl_accepts_the_raw_field_as_an_uploaded_file(client):
    response = await client.post("/curl", files={"raw": ("notes.txt", b"from -F raw=@notes.txt\n")})

    await check_curl_output(client, response, "from -F raw=@notes.txt\n")


async def test_curl_accepts_the_raw_field_urlencoded(client):
    response = await client.post("/curl", data={"raw": "from --data-urlencode\n", "lexer": "python"})

    await check_curl_output(client, response, "from --data-urlencode\n")


async def test_curl_accepts_a_raw_body(client):
    response = await client.post("/curl", content=b"from --data-binary @-\r\n")

    await check_curl_output(client, response, "from --data-binary @-\r\n")


async def test_curl_applies_lexer_and_expiry_fields(client):
    response = await client.post("/curl", data={"raw": "x = 1\n", "lexer": "py", "expiry": "1hour"})
    link = CURL_OUTPUT.match(response.text).group(1)

    shown = (await client.get(f"/api/v1/paste/{path_of(link).strip('/')}")).json()
    assert shown["files"][0]["lexer"] == "python"
    lifetime = datetime.fromisoformat(shown["expires_at"]) - datetime.fromisoformat(shown["created_at"])
    assert lifetime == timedelta(hours=1)


# -- haste -------------------------------------------------------------------------------------


async def test_haste_documents_round_trip(client):
    created = await client.post("/documents", content=b"haste body\n")

    assert created.status_code == 200
    assert set(created.json()) == {"key"}
    key = created.json()["key"]
    shown = await client.get(f"/documents/{key}")
    assert shown.json() == {"data": "haste body\n", "key": key}
    assert (await client.get(f"/raw/{key}")).text == "haste body\n"


async def test_haste_document_is_not_found_when_unknown(client):
    assert_problem(await client.get("/documents/nosuchkey"), 404, "paste_not_found")


# -- raw ---------------------------------------------------------------------------------------


async def test_raw_is_plain_utf8_text_that_browsers_must_not_sniff(client):
    links = await create(client, "<script>alert(1)</script> \u00e9\n")

    response = await client.get(path_of(links["raw"]))

    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == "<script>alert(1)</script> \u00e9\n".encode()


async def test_raw_of_a_missing_file_number_is_a_clear_error(client):
    links = await create(client)

    response = await client.get(path_of(links["raw"]) + "/2")

    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


async def test_raw_is_not_found_when_paste_is_unknown(client):
    assert_problem(await client.get("/raw/nosuchpaste"), 404, "paste_not_found")


# -- bad input ---------------------------------------------------------------------------------


def _json(body: object) -> dict[str, Any]:
    return {"json": body}


BAD_CREATES = [
    ("empty", "/api/v1/paste", _json({"files": [{"content": ""}]}), 422, "invalid_paste"),
    ("whitespace", "/api/v1/paste", _json({"files": [{"content": " \n\t"}]}), 422, "invalid_paste"),
    ("nul", "/api/v1/paste", _json({"files": [{"content": "a\u0000b"}]}), 422, "invalid_paste"),
    ("lexer", "/api/v1/paste", _json({"files": [{"content": "x", "lexer": "nope"}]}), 422, "invalid_paste"),
    ("expiry", "/api/v1/paste", _json({"files": [{"content": "x"}], "expiry": "2w"}), 422, "invalid_paste"),
    ("no-files", "/api/v1/paste", _json({"files": []}), 422, "invalid"),
    ("files-missing", "/api/v1/paste", _json({"expiry": "1day"}), 422, "invalid"),
    (
        "private-anonymous",
        "/api/v1/paste",
        _json({"files": [{"content": "x"}], "visibility": "private"}),
        422,
        None,
    ),
    (
        "malformed-json",
        "/api/v1/paste",
        {"content": b'{"files": [', "headers": {"content-type": "application/json"}},
        422,
        "invalid",
    ),
    (
        "wrong-content-type",
        "/api/v1/paste",
        {"content": b'{"files": [{"content": "x"}]}', "headers": {"content-type": "text/plain"}},
        422,
        None,
    ),
    ("curl-empty", "/curl", {"content": b""}, 422, "invalid_paste"),
    ("curl-no-raw-field", "/curl", {"data": {"lexer": "python"}}, 422, "invalid_paste"),
    ("curl-non-utf8", "/curl", {"content": b"caf\xe9\n"}, 422, "invalid_paste"),
    (
        "curl-binary",
        "/curl",
        {"files": {"raw": ("a.out", b"\x7fELF\x02\x01\x01\x00\x00")}},
        422,
        "invalid_paste",
    ),
    ("curl-bad-expiry", "/curl", {"data": {"raw": "x", "expiry": "forever"}}, 422, "invalid_paste"),
    ("curl-bad-lexer", "/curl", {"data": {"raw": "x", "lexer": "nope"}}, 422, "invalid_paste"),
    ("haste-non-utf8", "/documents", {"content": b"\xff\xfe"}, 422, "invalid_paste"),
    ("haste-binary", "/documents", {"content": b"PK\x03\x04\x00\x00"}, 422, "invalid_paste"),
    ("haste-empty", "/documents", {"content": b""}, 422, "invalid_paste"),
]


@pytest.mark.parametrize(
    ("path", "request_args", "status", "code"),
    [case[1:] for case in BAD_CREATES],
    ids=[case[0] for case in BAD_CREATES],
)
async def test_create_answers_a_clear_problem_and_writes_nothing_when_input_is_bad(
    client, path, request_args, status, code
):
    await create(client, "already here\n")
    before = (await paste_count(client), await stored_blob_count(client))

    response = await client.post(path, **request_args)

    assert_problem(response, status, code)
    assert (await paste_count(client), await stored_blob_count(client)) == before


async def test_create_writes_nothing_when_a_later_file_is_invalid(client):
    before = (await paste_count(client), await stored_blob_count(client))

    response = await client.post(
        "/api/v1/paste", json={"files": [{"content": "good file"}, {"content": "bad", "lexer": "nope"}]}
    )

    assert_problem(response, 422, "invalid_paste")
    assert (await paste_count(client), await stored_blob_count(client)) == before


@pytest.mark.parametrize(
    ("path", "request_args"),
    [
        ("/api/v1/paste", {"json": {"files": [{"content": "x" * (SIZE_MAX + 1)}]}}),
        ("/curl", {"content": b"x" * (SIZE_MAX + 1)}),
        ("/curl", {"data": {"raw": "x" * (SIZE_MAX + 1)}}),
        ("/documents", {"content": b"x" * (SIZE_MAX + 1)}),
    ],
    ids=["pinnwand", "curl-body", "curl-form", "haste"],
)
async def test_create_answers_the_documented_too_large_status_when_over_size_max(client, path, request_args):
    response = await client.post(path, **request_args)

    assert_problem(response, status_for(PasteTooLargeError()), "paste_too_large")
    assert await paste_count(client) == 0


async def test_create_accepts_a_paste_of_exactly_size_max(client):
    await create(client, "x" * SIZE_MAX)


@pytest.mark.parametrize(
    ("path", "request_args"),
    [
        ("/api/v1/paste", {"json": {"files": [{"content": "x" * (4 * SIZE_MAX + 64 * 1024)}]}}),
        ("/curl", {"content": b"x" * (4 * SIZE_MAX + 64 * 1024)}),
        ("/documents", {"content": b"x" * (4 * SIZE_MAX + 64 * 1024)}),
    ],
    ids=["pinnwand", "curl", "haste"],
)
async def test_create_answers_the_body_limit_status_when_the_body_is_over_the_http_limit(
    client, path, request_args
):
    response = await client.post(path, **request_args)

    assert response.status_code in (413, 413), response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert await paste_count(client) == 0


async def test_create_answers_the_body_limit_status_when_a_streamed_body_is_too_large(client):
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/curl", content=chunks())

    assert response.status_code in (413, 413), response.text
    assert await paste_count(client) == 0


# -- rate limits -------------------------------------------------------------------------------


async def test_create_answers_429_with_retry_after_over_the_anonymous_limit(tmp_path):
    async with serve(tmp_path, create_limit_per_minute_anonymous=3) as client:
        for _ in range(3):
            await create(client)

        response = await client.post("/api/v1/paste", json={"files": [{"content": "one too many"}]})

        assert_problem(response, 429, "rate_limited")
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert (await client.post("/curl", content=b"still limited")).status_code == 429
        assert await paste_count(client) == 3


# -- API keys ----------------------------------------------------------------------------------


async def test_api_key_creates_and_reads_a_private_paste_that_others_cannot_see(client):
    accounts = client.app.state.pastebin.accounts
    account = await accounts.register("alice", "correct horse battery staple")
    _key, plaintext = await accounts.issue_api_key(account.id, "cli")
    bearer = {"Authorization": f"Bearer {plaintext}"}

    response = await client.post(
        "/api/v1/paste", json={"files": [{"content": "for my eyes"}], "visibility": "private"}, headers=bearer
    )
    assert response.status_code == 200, response.text
    raw = path_of(response.json()["raw"])

    mine = await client.get(raw, headers=bearer)
    assert mine.text == "for my eyes"
    assert mine.headers["cache-control"] == "private, no-store"
    assert (await client.get(raw, headers={"X-Api-Key": plaintext})).text == "for my eyes"
    assert_problem(await client.get(raw), 404, "paste_not_found")
    assert_problem(
        await client.get(raw, headers={"Authorization": "Bearer sbx_bogus_key"}), 401, "unauthorized"
    )


async def test_api_key_owner_can_delete_their_paste_and_others_cannot(client):
    accounts = client.app.state.pastebin.accounts
    alice = await accounts.register("alice", "correct horse battery staple")
    _key, alice_key = await accounts.issue_api_key(alice.id, "cli")
    links = (
        await client.post(
            "/api/v1/paste",
            json={"files": [{"content": "alice's"}]},
            headers={"Authorization": f"Bearer {alice_key}"},
        )
    ).json()
    paste_id = path_of(links["link"]).strip("/")

    assert_problem(await client.delete(f"/api/v1/paste/{paste_id}"), 403)
    response = await client.delete(
        f"/api/v1/paste/{paste_id}", headers={"Authorization": f"Bearer {alice_key}"}
    )
    assert response.status_code == 204
    assert_problem(await client.get(f"/raw/{paste_id}"), 404)


# -- removal -----------------------------------------------------------------------------------


async def test_remove_by_token_answers_204_then_404(client):
    links = await create(client)
    removal = path_of(links["removal"])

    assert (await client.delete(removal)).status_code == 204
    assert_problem(await client.delete(removal), 404, "paste_not_found")
    assert_problem(await client.get(path_of(links["raw"])), 404, "paste_not_found")


# -- edge --------------------------------------------------------------------------------------


async def test_security_headers_are_on_every_response(client):
    links = await create(client)
    for path in (path_of(links["raw"]), "/api/v1/lexer", "/raw/nosuchpaste", "/healthz"):
        response = await client.get(path)

        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"]
        assert response.headers["x-request-id"]


async def test_public_pastes_are_cacheable_briefly_and_burn_pastes_never(client):
    public = await create(client, visibility="public")
    burn = await create(client, burn_after_reading=True)

    assert (await client.get(path_of(public["raw"]))).headers["cache-control"] == "public, max-age=300"
    assert (await client.get(path_of(burn["raw"]))).headers["cache-control"] == "private, no-store"


async def test_healthz_reports_every_check_ok(client):
    response = await client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "blobs": "ok"}


async def test_metrics_expose_request_and_paste_counters(client):
    await create(client)
    await client.get("/raw/nosuchpaste")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(
        r'scalebox_pastebin_http_requests_total\{[^}]*route="/api/v1/paste"[^}]*status="200"[^}]*\} 1\.0',
        response.text,
    )
    assert 'scalebox_pastebin_created_total{source="api"} 1.0' in response.text
