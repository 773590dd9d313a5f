"""Visit enrichment on real inputs: user agents through ua-parser, referers, anonymized addresses, and
places from a real MaxMind-format database written for the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from scalebox.shortener.analytics import (
    NOWHERE,
    Agent,
    Enricher,
    Place,
    anonymize_address,
    day_of,
    parse_referer_host,
    rollup_values,
    visit_problem,
    visited_at,
)
from scalebox.shortener.domain import Visit, anonymize_ip
from scalebox.shortener.ports import StoredVisit
from scalebox.shortener.service.analytics import stored_visit

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.5.0"

BERLIN = {
    "country": {"iso_code": "DE", "names": {"en": "Germany", "de": "Deutschland"}},
    "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin"}}],
    "city": {"names": {"en": "Berlin"}},
    "location": {"latitude": 52.5244, "longitude": 13.4105, "time_zone": "Europe/Berlin"},
}
ONLY_COUNTRY = {"country": {"iso_code": "JP", "names": {"en": "Japan"}}}


@pytest.fixture(scope="module")
def enricher() -> Iterator[Enricher]:
    enricher = Enricher(agent_cache_size=100)
    yield enricher
    enricher.close()


@pytest.fixture
def geo_database(tmp_path: Path) -> Path:
    """A GeoLite2-City-shaped database: 81.0.0.0/16 in Berlin, 2a01:4f8::/32 in Berlin, 1.2.0.0/16 in
    Japan with nothing finer."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    writer.insert_network(IPSet(["81.0.0.0/16", "2a01:4f8::/32"]), BERLIN)
    writer.insert_network(IPSet(["1.2.0.0/16"]), ONLY_COUNTRY)
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def enrich(enricher: Enricher, event_id: int, visit: Visit) -> StoredVisit:
    return stored_visit(event_id, visit, enricher.enrich(visit))


def make_visit(**overrides: object) -> Visit:
    fields: dict[str, object] = {
        "kind": "valid",
        "at_ms": 1_767_225_600_123,  # 2026-01-01T00:00:00.123Z
        "code": "abc1234",
        "link_id": 7,
        "user_agent": CHROME_WINDOWS,
        "referer": "https://News.Example.com/item?id=1",
        "remote_addr": "81.0.12.34",
        "visited_url": "https://s.test/abc1234",
        "redirect_url": "https://example.org/long",
    }
    fields.update(overrides)
    return Visit(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_WINDOWS, Agent("Chrome", "Windows", "desktop", is_bot=False)),
        (SAFARI_MAC, Agent("Safari", "Mac OS X", "desktop", is_bot=False)),
        (FIREFOX_LINUX, Agent("Firefox", "Linux", "desktop", is_bot=False)),
        (SAFARI_IPHONE, Agent("Mobile Safari", "iOS", "mobile", is_bot=False)),
        (CHROME_ANDROID, Agent("Chrome Mobile", "Android", "mobile", is_bot=False)),
        (SAFARI_IPAD, Agent("Mobile Safari", "iOS", "tablet", is_bot=False)),
        (CHROME_ANDROID_TABLET, Agent("Chrome", "Android", "tablet", is_bot=False)),
        (GOOGLEBOT, Agent("Googlebot", "Other", "bot", is_bot=True)),
        (CURL, Agent("curl", "Other", "bot", is_bot=True)),
        ("", Agent("Other", "Other", "other", is_bot=False)),
    ],
)
def test_describe_agent_names_browser_os_and_device(
    enricher: Enricher, user_agent: str, expected: Agent
) -> None:
    assert enricher.describe_agent(user_agent) == expected


@pytest.mark.parametrize(
    "user_agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "python-requests/2.31.0",
        "Wget/1.21.4",
        "Go-http-client/2.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 HeadlessChrome/124.0 Safari/537.36",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    ],
)
def test_describe_agent_flags_crawlers_previews_and_http_libraries(
    enricher: Enricher, user_agent: str
) -> None:
    agent = enricher.describe_agent(user_agent)
    assert (agent.is_bot, agent.device) == (True, "bot")


def test_describe_agent_does_not_flag_a_phone_brand_containing_bot(enricher: Enricher) -> None:
    cubot = "Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 Chrome/96.0 Mobile Safari/537.36"
    assert enricher.describe_agent(cubot).is_bot is False


def test_describe_agent_cache_stays_within_its_bound() -> None:
    small = Enricher(agent_cache_size=2)
    try:
        for user_agent in (CHROME_WINDOWS, SAFARI_IPHONE, CURL, CHROME_WINDOWS):
            small.describe_agent(user_agent)
        assert len(small._agents) == 2
        assert set(small._agents) == {CURL, CHROME_WINDOWS}
    finally:
        small.close()


@pytest.mark.parametrize(
    ("referer", "host"),
    [
        ("https://News.Example.com/item?id=1", "news.example.com"),
        ("http://example.org:8080/", "example.org"),
        ("https://example.org./x", "example.org"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("https://[2001:db8::1]/page", "2001:db8::1"),
        ("", ""),
        ("example.com/no-scheme", ""),
        ("http://[::1/broken", ""),
        ("not a url at all", ""),
    ],
)
def test_parse_referer_host_gives_lowercase_host_or_empty(referer: str, host: str) -> None:
    assert parse_referer_host(referer) == host


def test_enrich_fills_every_field_of_a_link_visit(enricher: Enricher) -> None:
    stored = enrich(enricher, 41, make_visit())
    assert stored.event_id == 41
    assert stored.visited_at == datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    assert (stored.kind, stored.link_id, stored.code) == ("valid", 7, "abc1234")
    assert (stored.browser, stored.os, stored.device, stored.is_bot) == (
        "Chrome",
        "Windows",
        "desktop",
        False,
    )
    assert (stored.referer_host, stored.remote_addr) == ("news.example.com", "81.0.12.0")
    assert stored.country_code is None  # no geo database configured
    assert (stored.visited_url, stored.redirect_url) == ("https://s.test/abc1234", "https://example.org/long")


@pytest.mark.parametrize(
    ("address", "anonymized"),
    [
        ("81.0.12.34", "81.0.12.0"),
        ("2a01:4f8:1c1c:abcd::1", "2a01:4f8:1c1c::"),
        ("garbage", None),
        ("", None),
    ],
)
def test_enrich_anonymizes_the_address(enricher: Enricher, address: str, anonymized: str | None) -> None:
    assert enrich(enricher, 1, make_visit(remote_addr=address)).remote_addr == anonymized


def test_enrich_keeps_no_link_on_an_orphan_visit(enricher: Enricher) -> None:
    stored = enrich(enricher, 2, make_visit(kind="regular_404", link_id=5, code=None, referer=""))
    assert (stored.kind, stored.link_id, stored.code, stored.referer_host) == ("regular_404", None, None, "")


def test_locate_reads_city_fields_from_a_maxmind_database(geo_database: Path) -> None:
    enricher = Enricher(geoip_database=geo_database)
    try:
        berlin = Place("DE", "Germany", "Land Berlin", "Berlin", 52.5244, 13.4105, "Europe/Berlin")
        assert enricher.locate("81.0.200.1") == berlin
        assert enricher.locate("2a01:4f8:1c1c:abcd::1") == berlin
        assert enricher.locate("1.2.3.4") == Place(country_code="JP", country_name="Japan")
        assert enricher.locate("9.9.9.9") == NOWHERE
        assert enricher.locate("not an address") == NOWHERE
        assert enricher.locate("") == NOWHERE
    finally:
        enricher.close()


def test_enrich_locates_the_raw_address_before_anonymizing(geo_database: Path) -> None:
    enricher = Enricher(geoip_database=geo_database)
    try:
        # 81.0.255.7 is in the Berlin network; so is its /24, but the lookup must not depend on that.
        stored = enrich(enricher, 3, make_visit(remote_addr="81.0.255.7"))
        assert (stored.country_code, stored.city_name, stored.timezone) == ("DE", "Berlin", "Europe/Berlin")
        assert stored.remote_addr == "81.0.255.0"
    finally:
        enricher.close()
    enricher.close()  # closing twice is harmless


def test_rollup_values_cover_every_dimension(enricher: Enricher) -> None:
    stored = enrich(enricher, 4, make_visit(referer=""))
    assert rollup_values(stored) == (
        ("total", ""),
        ("referrer", ""),
        ("country", ""),
        ("browser", "Chrome"),
        ("os", "Windows"),
        ("device", "desktop"),
    )
    assert day_of(stored.visited_at) == "2026-01-01"


def test_visited_at_is_exact_to_the_millisecond() -> None:
    assert visited_at(1_767_225_599_999) == datetime(2025, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({}, None),
        ({"kind": "base_url", "link_id": None}, None),
        ({"at_ms": -1}, "at_ms"),
        ({"at_ms": 10**20}, "at_ms"),
        ({"at_ms": "soon"}, "at_ms"),
        ({"link_id": None}, "link id"),
        ({"link_id": "7"}, "link id"),
        ({"user_agent": 5}, "text field"),
        ({"code": 5}, "code"),
    ],
)
def test_visit_problem_rejects_values_storage_cannot_take(
    overrides: dict[str, object], problem: str | None
) -> None:
    found = visit_problem(make_visit(**overrides))
    assert (found is None) if problem is None else (found is not None and problem in found)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.lists(st.integers(min_value=0, max_value=999).map(str), min_size=4, max_size=4).map(".".join),
        st.text(alphabet="0123456789.:abcdef ٣", max_size=20),
    )
)
def test_the_fast_anonymizer_agrees_with_the_domain_rule(address: str) -> None:
    assert anonymize_address(address) == anonymize_ip(address)
