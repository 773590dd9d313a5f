"""The shortener's pure rules: codes, slugs, targets, link state, redirect rules, visits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalebox.shortener.domain import (
    CODE_LENGTH,
    CODE_SPACE,
    CodeCipher,
    Condition,
    Link,
    RedirectRule,
    Visit,
    VisitFacts,
    accepted_languages,
    anonymize_ip,
    check_rules,
    check_tags,
    check_target,
    check_window,
    decide,
    device_of,
    forward_query,
    host_blocked,
    looks_like_code,
    normalize_domain,
    validate_slug,
)
from scalebox.shortener.errors import InvalidLinkError, InvalidSlugError, InvalidUrlError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY = b"k" * 32
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def make_link(**changes: object) -> Link:
    target = check_target("https://example.com/page")
    link = Link(
        id=1,
        code="Abc1234",
        long_url=target.url,
        target_host=target.host,
        url_hash=target.url_hash,
        created_at=NOW,
    )
    return link.with_changes(**changes)


# -- codes --------------------------------------------------------------------------------------


def test_codes_are_seven_base62_characters_and_distinct_for_a_block() -> None:
    cipher = CodeCipher(KEY)
    codes = [cipher.code_for(number) for number in range(5000)]
    assert all(len(code) == CODE_LENGTH and code.isalnum() and code.isascii() for code in codes)
    assert len(set(codes)) == len(codes)


def test_neighbouring_numbers_give_unrelated_codes() -> None:
    cipher = CodeCipher(KEY)
    first, second = cipher.code_for(1000), cipher.code_for(1001)
    # No shared prefix worth speaking of, and no simple numeric relation between them.
    assert sum(a == b for a, b in zip(first, second, strict=True)) <= 3
    same_positions = [
        sum(cipher.code_for(n)[i] == cipher.code_for(n + 1)[i] for n in range(300)) for i in range(7)
    ]
    assert max(same_positions) < 30  # about 300/62 expected at random; a counter would share 6 of 7


def test_codes_depend_on_the_key() -> None:
    assert CodeCipher(KEY).code_for(42) != CodeCipher(b"x" * 32).code_for(42)
    assert CodeCipher(KEY).code_for(42) == CodeCipher(KEY).code_for(42)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=CODE_SPACE - 1), st.integers(min_value=0, max_value=CODE_SPACE - 1))
def test_the_permutation_is_injective(first: int, second: int) -> None:
    cipher = CodeCipher(KEY)
    assert (cipher.code_for(first) == cipher.code_for(second)) == (first == second)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(AssertionError):
        CodeCipher(b"short")


# -- slugs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["my-link", "Launch_2026", "abc", "a" * 64, "x-y_z"])
def test_valid_slugs_keep_their_case(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "ab",
        "a" * 65,
        "-lead",
        "trail-",
        "dou--ble",
        "sp ace",
        "dot.ted",
        "slash/ed",
        "ünï",
        "_lead",
        "<script>",
    ],
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InvalidSlugError):
        validate_slug(slug)


@pytest.mark.parametrize("slug", ["api", "ADMIN", "Static", "rest", "login", "healthz"])
def test_reserved_words_are_refused_whatever_their_case(slug: str) -> None:
    with pytest.raises(InvalidSlugError, match="reserved"):
        validate_slug(slug)


def test_looks_like_code() -> None:
    assert looks_like_code("Abc1234")
    assert looks_like_code("my-link")
    assert not looks_like_code("favicon.ico")
    assert not looks_like_code("")


# -- targets ------------------------------------------------------------------------------------


def test_check_target_normalizes_for_deduplication() -> None:
    one = check_target("HTTPS://Example.COM:443/a?b=1#frag")
    two = check_target("https://example.com/a?b=1")
    assert one.url_hash == two.url_hash
    assert one.host == "example.com"
    assert one.url == "HTTPS://Example.COM:443/a?b=1#frag"  # redirects go where the owner said
    assert check_target("http://example.com").normalized == "http://example.com/"


def test_international_hosts_are_punycoded() -> None:
    assert check_target("https://bücher.example/x").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "only http and https"),
        ("data:text/html,<script>", "only http and https"),
        ("ftp://example.com/file", "only http and https"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https:///path-only", "no host"),
        ("example.com/no-scheme", "only http and https"),
        ("https://example.com/" + "a" * 2100, "longer than"),
        ("https://exa mple.com/", "spaces or control"),
        ("https://example.com/\x00", "spaces or control"),
        ("", "empty"),
        ("https://example.com:99999/", "malformed"),
        ("https://[::1/", "malformed"),
    ],
)
def test_bad_targets_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(InvalidUrlError, match=message):
        check_target(url)


def test_links_to_the_shortener_itself_are_refused() -> None:
    with pytest.raises(InvalidUrlError, match="itself"):
        check_target("https://s.example/abc", own_hosts=["s.example"])
    with pytest.raises(InvalidUrlError, match="itself"):
        check_target("http://127.0.0.1:8002/abc", own_hosts=["127.0.0.1:8002"])
    assert check_target("http://127.0.0.1:9000/abc", own_hosts=["127.0.0.1:8002"]).host == "127.0.0.1"


def test_blocklist_matches_domains_and_their_subdomains() -> None:
    blocked = frozenset({"evil.example"})
    assert host_blocked("evil.example", blocked)
    assert host_blocked("www.EVIL.example", blocked)
    assert not host_blocked("notevil.example", blocked)
    assert not host_blocked("example", blocked)


@pytest.mark.parametrize(
    ("entry", "domain"),
    [
        ("Evil.Example", "evil.example"),
        ("*.evil.example", "evil.example"),
        ("https://evil.example/x", "evil.example"),
    ],
)
def test_blocklist_entries_are_normalized(entry: str, domain: str) -> None:
    assert normalize_domain(entry) == domain


@pytest.mark.parametrize("entry", ["", "not a domain", "https://", "a..b"])
def test_bad_blocklist_entries_are_refused(entry: str) -> None:
    with pytest.raises(InvalidUrlError):
        normalize_domain(entry)


def test_forward_query_appends_and_overrides() -> None:
    assert forward_query("https://e.x/a", "") == "https://e.x/a"
    assert forward_query("https://e.x/a", "utm=1") == "https://e.x/a?utm=1"
    assert forward_query("https://e.x", "utm=1") == "https://e.x/?utm=1"
    assert forward_query("https://e.x/a?x=1&utm=0", "utm=1&y=") == "https://e.x/a?x=1&utm=1&y="


# -- link state ---------------------------------------------------------------------------------


def test_status_follows_the_validity_window_and_visit_limit() -> None:
    assert make_link().status(NOW) == "active"
    assert make_link(disabled=True).status(NOW) == "disabled"
    assert make_link(valid_since=NOW + timedelta(seconds=1)).status(NOW) == "not_yet_valid"
    assert make_link(valid_since=NOW).status(NOW) == "active"
    assert make_link(valid_until=NOW).status(NOW) == "expired"
    assert make_link(valid_until=NOW + timedelta(seconds=1)).status(NOW) == "active"
    assert make_link(max_visits=3, visits=2).status(NOW) == "active"
    assert make_link(max_visits=3, visits=2).status(NOW, pending_visits=1) == "visits_exhausted"


def test_cache_lifetime_is_clamped_to_the_next_change_of_state() -> None:
    assert make_link().cache_seconds(NOW, 300) == 300
    assert make_link(valid_until=NOW + timedelta(seconds=20)).cache_seconds(NOW, 300) == 20
    assert make_link(valid_since=NOW + timedelta(seconds=5)).cache_seconds(NOW, 300) == 5
    assert make_link(valid_until=NOW - timedelta(seconds=5)).cache_seconds(NOW, 300) == 300


def test_check_window_needs_order_and_time_zones() -> None:
    check_window(NOW, NOW + timedelta(days=1))
    with pytest.raises(InvalidLinkError, match="after"):
        check_window(NOW, NOW)
    with pytest.raises(InvalidLinkError, match="timezone"):
        check_window(datetime(2026, 1, 1), None)


def test_check_tags_trims_deduplicates_and_bounds() -> None:
    assert check_tags(["  news ", "News", "a  b", ""]) == ("news", "a b")
    with pytest.raises(InvalidLinkError):
        check_tags(["x" * 65])
    with pytest.raises(InvalidLinkError):
        check_tags([f"t{i}" for i in range(33)])
    with pytest.raises(InvalidLinkError):
        check_tags([1])


# -- redirect rules -----------------------------------------------------------------------------


def rules() -> tuple[RedirectRule, ...]:
    return check_rules(
        [
            {"longUrl": "https://apps.apple.com/x", "conditions": [{"type": "device", "matchValue": "ios"}]},
            {
                "longUrl": "https://es.example/",
                "conditions": [{"type": "language", "matchValue": "es-ES"}],
            },
            {
                "longUrl": "https://campaign.example/",
                "conditions": [{"type": "query-param", "matchKey": "c", "matchValue": "spring"}],
            },
            {"longUrl": "https://fr.example/", "conditions": [{"type": "language", "matchValue": "fr"}]},
        ]
    )


@pytest.mark.parametrize(
    ("user_agent", "language", "query", "expected"),
    [
        (IPHONE, "es-ES", "", "https://apps.apple.com/x"),  # priority: the first matching rule wins
        (ANDROID, "es-ES,en;q=0.5", "", "https://es.example/"),
        (DESKTOP, "es", "", "https://example.com/page"),  # es-ES rule needs the region
        (DESKTOP, "en", "c=spring", "https://campaign.example/?c=spring"),
        (DESKTOP, "fr-CA", "", "https://fr.example/"),  # fr rule takes any region
        (DESKTOP, "fr;q=0", "", "https://example.com/page"),  # q=0 means "not French"
        (DESKTOP, "*", "c=autumn", "https://example.com/page?c=autumn"),
    ],
)
def test_rules_are_evaluated_in_priority_order(
    user_agent: str, language: str, query: str, expected: str
) -> None:
    link = make_link(rules=rules())
    decision = decide(link, VisitFacts.from_request(user_agent, language, query), query, NOW)
    assert (decision.status, decision.location) == (302, expected)


def test_query_param_presence_conditions() -> None:
    any_value = Condition("any-value-query-param", match_key="ref")
    valueless = Condition("valueless-query-param", match_key="beta")
    assert any_value.matches(VisitFacts.from_request("", "", "ref=x"))
    assert not any_value.matches(VisitFacts.from_request("", "", "ref="))
    assert valueless.matches(VisitFacts.from_request("", "", "beta"))
    assert not valueless.matches(VisitFacts.from_request("", "", "beta=1"))
    assert not valueless.matches(VisitFacts.from_request("", "", ""))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"longUrl": "https://x.example", "conditions": []}], "at least one condition"),
        ([{"conditions": [{"type": "device", "matchValue": "ios"}]}], "longUrl"),
        ([{"longUrl": "https://x.example", "conditions": [{"type": "weather"}]}], "condition type"),
        (
            [{"longUrl": "https://x.example", "conditions": [{"type": "device", "matchValue": "fridge"}]}],
            "device",
        ),
        (
            [{"longUrl": "https://x.example", "conditions": [{"type": "language", "matchValue": "!!"}]}],
            "language",
        ),
        (
            [{"longUrl": "https://x.example", "conditions": [{"type": "query-param", "matchValue": "1"}]}],
            "matchKey",
        ),
        ([{"longUrl": "javascript:x", "conditions": [{"type": "device", "matchValue": "ios"}]}], "http"),
        ([{"longUrl": "https://x.example", "conditions": ["device"]}], "object"),
    ],
)
def test_bad_rules_are_refused(raw: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidLinkError, match=message):
        check_rules(raw)


def test_rule_count_is_bounded() -> None:
    rule = {"longUrl": "https://x.example", "conditions": [{"type": "device", "matchValue": "ios"}]}
    with pytest.raises(InvalidLinkError, match="at most"):
        check_rules([rule] * 33)


def test_device_and_language_parsing() -> None:
    assert device_of(IPHONE) == "ios"
    assert device_of(ANDROID) == "android"
    assert device_of(DESKTOP) == "desktop"
    assert device_of("") is None
    assert accepted_languages("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5") == ("fr-CH", "fr", "en", "de")
    assert accepted_languages("en;q=abc, es") == ("es",)


# -- decide -------------------------------------------------------------------------------------


def test_decide_uses_the_link_redirect_type_and_forwards_the_query() -> None:
    assert decide(make_link(redirect_type=301), None, "", NOW).status == 301
    assert decide(make_link(), None, "a=1", NOW).location == "https://example.com/page?a=1"
    assert decide(make_link(forward_query=False), None, "a=1", NOW).location == "https://example.com/page"
    inactive = decide(make_link(valid_until=NOW), None, "", NOW)
    assert (inactive.status, inactive.location, inactive.reason) == (404, None, "expired")


# -- visits -------------------------------------------------------------------------------------


def test_visits_round_trip_and_cut_long_fields() -> None:
    visit = Visit(
        "valid", 1_700_000_000_000, "Abc1234", 7, "ua" * 1000, "https://ref.example/", "10.0.0.1", "/Abc1234"
    )
    decoded = Visit.decode(visit.encode())
    assert decoded.code == "Abc1234"
    assert decoded.link_id == 7
    assert decoded.remote_addr == "10.0.0.1"
    assert len(decoded.user_agent) == 1024
    with pytest.raises(ValueError, match="kind"):
        Visit.decode(b'["nope",1,null,null,"","","","",""]')


def test_anonymize_ip() -> None:
    assert anonymize_ip("203.0.113.77") == "203.0.113.0"
    assert anonymize_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert anonymize_ip("::ffff:198.51.100.9") == "198.51.100.0"
    assert anonymize_ip("not-an-ip") is None
