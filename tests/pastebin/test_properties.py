"""Properties: ids are unique and ordered, and any text survives a paste round trip byte for byte."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalebox.core.clock import FakeClock
from scalebox.core.ids import SnowflakeGenerator, is_base62, random_base62
from scalebox.pastebin.app import build_app
from scalebox.pastebin.domain import ID_LENGTH
from scalebox.pastebin.settings import PastebinSettings

# -- ids ---------------------------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64))
def test_random_base62_ids_are_unique_and_base62_over_ten_thousand_draws(seed):
    rng = random.Random(seed)

    ids = [random_base62(ID_LENGTH, rng) for _ in range(10_000)]

    assert len(set(ids)) == len(ids)
    assert all(len(i) == ID_LENGTH and is_base62(i) for i in ids)


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.0, 0.0001, 0.0009, 0.001, 0.0015, 0.5, 3600.0]),  # often standing still
            st.integers(min_value=1, max_value=50),
        ),
        min_size=1,
        max_size=30,
    ),
    node=st.integers(min_value=0, max_value=1023),
)
def test_snowflake_ids_strictly_increase_while_the_clock_stands_still_or_moves(steps, node):
    clock = FakeClock()
    generator = SnowflakeGenerator(clock, node)
    minted: list[int] = []

    for advance_seconds, count in steps:
        clock.advance(seconds=advance_seconds)
        minted.extend(generator.next_id() for _ in range(count))

    assert all(a < b for a, b in itertools.pairwise(minted))
    assert all(0 < i < 2**63 for i in minted)


def test_snowflake_ids_keep_increasing_past_4096_in_one_millisecond():
    clock = FakeClock()
    generator = SnowflakeGenerator(clock)

    minted = [generator.next_id() for _ in range(10_000)]
    clock.advance(seconds=0.001)
    minted += [generator.next_id() for _ in range(10)]

    assert all(a < b for a, b in itertools.pairwise(minted))


# -- text round trip ---------------------------------------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings_ = PastebinSettings(
        data_dir=tmp_path,
        workers=False,
        log_requests=False,
        blob_url="memory://",
        events_url="memory://",
        create_limit_per_minute_anonymous=0,  # off: this test creates many pastes quickly
    )
    app = build_app(settings_)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client,
    ):
        yield client


_AWKWARD = st.sampled_from(
    [
        *("\r", "\n", "\r\n", " ", "\t", "\x0b", "\x0c", "\x85", "\u2028", "\ufeff", "\u00e9", "e\u0301"),
        *("\U0001f600", "\U00010348", "\u200d", "<", "&", "\\", '"', "a", "Z", "0", "\x7f", "\x1b"),
    ]
)
PASTE_TEXT = st.one_of(
    st.text(),  # every code point but surrogates, astral ones included
    st.lists(_AWKWARD, min_size=1).map("".join),  # line endings, BOMs, combining marks, emoji
    st.lists(_AWKWARD | st.text()).map("".join),
).filter(lambda text: text.strip() != "" and "\x00" not in text)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=PASTE_TEXT, trailing=st.sampled_from(["", " ", "\n", "  \r\n", "\r", "\t\t"]))
async def test_any_text_survives_create_then_raw_byte_for_byte(client, text, trailing):
    text = text + trailing

    created = await client.post("/api/v1/paste", json={"files": [{"content": text}]})
    assert created.status_code == 200, created.text
    raw = await client.get(created.json()["raw"].removeprefix("http://testserver"))

    assert raw.status_code == 200
    assert raw.content == text.encode("utf-8")


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=PASTE_TEXT)
async def test_any_text_survives_a_curl_body_and_haste_byte_for_byte(client, text):
    body = text.encode("utf-8")

    curl = await client.post("/curl", content=body)
    assert curl.status_code == 200, curl.text
    raw_url = curl.text.splitlines()[1].split()[-1].removeprefix("http://testserver")
    haste = await client.post("/documents", content=body)
    assert haste.status_code == 200, haste.text

    assert (await client.get(raw_url)).content == body
    assert (await client.get(f"/documents/{haste.json()['key']}")).json()["data"] == text
