"""CSV import and export: format detection, per-row checks, limits, and the export → import round trip."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalebox.core.errors import TooLargeError
from scalebox.shortener.domain import RESERVED_SLUGS, TAG_LENGTH_MAX, TITLE_LENGTH_MAX, Link, fold
from scalebox.shortener.errors import InvalidLinkError
from scalebox.shortener.transfer import COLUMNS, ImportRow, export_csv, parse_import

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BASE = "https://sho.rt"
_serial = itertools.count(1)


def make_link(**overrides: Any) -> Link:
    serial = next(_serial)
    fields: dict[str, Any] = {
        "id": serial,
        "code": f"code{serial:04d}",
        "long_url": f"https://example.com/page/{serial}",
        "target_host": "example.com",
        "url_hash": "0" * 64,
        "created_at": T0,
    }
    return Link(**{**fields, **overrides})


def csv_bytes(*lines: str, newline: str = "\r\n") -> bytes:
    return (newline.join(lines) + newline).encode()


def exported(links: list[Link]) -> bytes:
    return "".join(export_csv(links, BASE)).encode()


# -- our own format ---------------------------------------------------------------------------


def test_export_header_is_first_chunk_and_lists_the_columns():
    chunks = list(export_csv([], BASE))

    assert chunks == [",".join(COLUMNS) + "\r\n"]


def test_export_writes_one_row_per_link_with_short_url_and_utc_dates():
    link = make_link(
        code="abc1234",
        title="Hello, world",
        tags=("news", "tech"),
        created_at=datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        valid_until=datetime(2026, 1, 1, tzinfo=UTC),
        max_visits=10,
        redirect_type=301,
        visits=7,
    )

    text = "".join(export_csv([link], BASE + "/"))

    row = list(csv.reader(text.splitlines()))[1]
    assert row == [
        "abc1234",
        "https://sho.rt/abc1234",
        link.long_url,
        "Hello, world",
        "news|tech",
        "2025-03-01T12:00:00+00:00",
        "",
        "2026-01-01T00:00:00+00:00",
        "10",
        "301",
        "7",
    ]


def test_export_treats_naive_datetimes_as_utc():
    link = make_link(created_at=datetime(2025, 1, 2, 3, 4, 5))

    text = "".join(export_csv([link], BASE))

    assert "2025-01-02T03:04:05+00:00" in text


def test_export_yields_chunks_that_join_into_every_row():
    links = [make_link() for _ in range(1201)]

    chunks = list(export_csv(links, BASE))

    assert len(chunks) == 4  # header, 500, 500, 201
    assert "".join(chunks).count("\r\n") == 1202


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "'"])
def test_export_prefixes_formula_cells_with_an_apostrophe(lead):
    link = make_link(title=f"{lead}HYPERLINK(1)x", tags=(f"{lead}SUM(A1)",))

    row = next(itertools.islice(csv.reader("".join(export_csv([link], BASE)).splitlines()), 1, None))

    assert row[3] == f"'{lead}HYPERLINK(1)x"
    assert row[4] == f"'{lead}SUM(A1)"


def test_export_import_round_trip_keeps_hostile_values():
    link = make_link(
        code="My-Slug_1",
        long_url='https://example.com/a,b;c"d?q=1&r=2#frag',
        title='=cmd|" /C calc"!A0, with "quotes"\r\nand a new line',
        tags=("a|b", "back\\slash", "-minus", "'quote", "comma, inside", "ünïcödé"),
        created_at=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
        valid_since=datetime(2024, 1, 1, tzinfo=UTC),
        valid_until=datetime(2030, 1, 1, tzinfo=UTC),
        max_visits=1,
        redirect_type=308,
        visits=12_345,
    )

    result = parse_import(exported([link]))

    assert result.format == "scalebox"
    assert result.errors == ()
    assert result.rows == (
        ImportRow(
            line=2,
            long_url=link.long_url,
            slug="My-Slug_1",
            title=link.title,
            tags=link.tags,
            created_at=link.created_at,
            visits=12_345,
            valid_since=link.valid_since,
            valid_until=link.valid_until,
            max_visits=1,
            redirect_type=308,
        ),
    )


def test_export_drops_nul_so_the_file_stays_importable():
    link = make_link(title="bad\x00title")

    result = parse_import(exported([link]))

    assert result.rows[0].title == "badtitle"


def test_import_of_our_format_checks_window_limits_and_redirect_type():
    header = ",".join(COLUMNS)
    data = csv_bytes(
        header,
        "abc1,,https://a.example/,,,,2025-02-01T00:00:00Z,2025-01-01T00:00:00Z,,,",
        "abc2,,https://a.example/,,,,,,0,,",
        "abc3,,https://a.example/,,,,,,,303,",
        "abc4,,https://a.example/,,,,,,,,-1",
        "abc5,,https://a.example/,,,,,,,,",
    )

    result = parse_import(data)

    assert [(error.line, error.message) for error in result.errors] == [
        (2, "validUntil must come after validSince"),
        (3, "max_visits: '0' is not a whole number of at least 1"),
        (4, "redirect_type is one of 301, 302, 307, 308"),
        (5, "visits: '-1' is not a whole number of at least 0"),
    ]
    assert [row.slug for row in result.rows] == ["abc5"]
    assert result.rows[0].redirect_type is None
    assert result.rows[0].created_at is None


def _ordered(window: tuple[datetime | None, datetime | None]) -> bool:
    since, until = window
    return since is None or until is None or since < until


def _links() -> st.SearchStrategy[Link]:
    slug = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9_]|-[A-Za-z0-9_]){2,30}", fullmatch=True).filter(
        lambda text: fold(text) not in RESERVED_SLUGS
    )
    url_chars = st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="\x7f")
    long_url = (
        st.text(url_chars, max_size=60)
        .map(lambda path: f"https://example.com/{path}")
        .filter(lambda url: url == url.strip())  # stored URLs went through check_target
    )
    text_chars = st.characters(codec="utf-8", exclude_characters="\x00")
    title = st.none() | st.text(text_chars, min_size=1, max_size=80).map(str.strip).filter(bool)
    tag = st.text(text_chars, min_size=1, max_size=TAG_LENGTH_MAX).map(lambda text: " ".join(text.split()))
    tags = st.lists(tag.filter(bool), max_size=5, unique_by=str.lower).map(tuple)
    offsets = st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14)).map(
        lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))
    )
    moment = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 1, 1), timezones=offsets)
    window = st.tuples(st.none() | moment, st.none() | moment).filter(_ordered)
    return st.builds(
        lambda code, window, **fields: make_link(
            code=code, valid_since=window[0], valid_until=window[1], **fields
        ),
        code=slug,
        window=window,
        long_url=long_url,
        title=title,
        tags=tags,
        created_at=moment,
        max_visits=st.none() | st.integers(min_value=1, max_value=10**9),
        redirect_type=st.sampled_from([301, 302, 307, 308]),
        visits=st.integers(min_value=0, max_value=10**15),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(links=st.lists(_links(), max_size=6, unique_by=lambda link: fold(link.code)))
def test_export_then_import_gives_back_the_same_links(links):
    result = parse_import(exported(links))

    assert result.format == "scalebox"
    assert result.errors == ()
    assert [
        (
            row.slug,
            row.long_url,
            row.title,
            row.tags,
            row.created_at,
            row.valid_since,
            row.valid_until,
            row.max_visits,
            row.redirect_type,
            row.visits,
        )
        for row in result.rows
    ] == [
        (
            link.code,
            link.long_url,
            link.title,
            link.tags,
            link.created_at,
            link.valid_since,
            link.valid_until,
            link.max_visits,
            link.redirect_type,
            link.visits,
        )
        for link in links
    ]
    assert all(row.created_at is not None and row.created_at.tzinfo is UTC for row in result.rows)


# -- YOURLS -----------------------------------------------------------------------------------


def test_yourls_export_maps_keyword_url_timestamp_and_clicks():
    data = csv_bytes(
        "keyword,url,title,timestamp,ip,clicks",
        'ozh,http://ozh.org/,"Ozh, the blog",2009-09-19 15:42:21,127.0.0.1,12',
        "yourls,https://yourls.org/,,2024-01-01 00:00:00,::1,0",
    )

    result = parse_import(data)

    assert result.format == "yourls"
    assert result.errors == ()
    assert result.rows == (
        ImportRow(
            2,
            "http://ozh.org/",
            "ozh",
            "Ozh, the blog",
            (),
            datetime(2009, 9, 19, 15, 42, 21, tzinfo=UTC),
            12,
        ),
        ImportRow(3, "https://yourls.org/", "yourls", None, (), datetime(2024, 1, 1, tzinfo=UTC), 0),
    )


def test_yourls_headers_are_accepted_in_any_order_and_case():
    data = csv_bytes("CLICKS;Timestamp;URL;Keyword", "3;2020-05-05 05:05:05;https://a.example/x;abc")

    result = parse_import(data)

    assert result.format == "yourls"
    assert result.rows[0].slug == "abc"
    assert result.rows[0].visits == 3


def test_yourls_keywords_shorter_than_a_slug_are_reported_not_dropped():
    data = csv_bytes("keyword,url", "1,https://a.example/", "ab,https://b.example/", "abc,https://c.example/")

    result = parse_import(data)

    assert [error.line for error in result.errors] == [2, 3]
    assert result.errors[0].message == "slug '1': a custom slug has 3 to 64 characters"
    assert [row.slug for row in result.rows] == ["abc"]


# -- Bitly ------------------------------------------------------------------------------------


def test_bitly_dashboard_export_takes_the_slug_from_the_bitlink():
    data = csv_bytes(
        "Title,Bitlink,Long URL,Date Created,Tags,Custom back-halves,Clicks",
        'Docs,bit.ly/3xYzAbc,https://docs.example/,2023-01-15T10:20:30+0000,"docs, work",,"1,234"',
        "Promo,https://bit.ly/3abcdeF,https://shop.example/,2023-02-01 08:00:00 UTC,,bit.ly/spring-sale,5",
    )

    result = parse_import(data)

    assert result.format == "bitly"
    assert result.errors == ()
    first, second = result.rows
    assert (first.slug, first.title, first.tags, first.visits) == ("3xYzAbc", "Docs", ("docs", "work"), 1234)
    assert first.created_at == datetime(2023, 1, 15, 10, 20, 30, tzinfo=UTC)
    assert second.slug == "spring-sale"  # the custom back-half is the one people shared
    assert second.created_at == datetime(2023, 2, 1, 8, tzinfo=UTC)


def test_bitly_api_shaped_export_is_recognised():
    data = csv_bytes(
        "id,link,long_url,title,created_at,archived,tags,custom_bitlinks",
        "bit.ly/abc1234,https://bit.ly/abc1234,https://a.example/,T,2023-01-01T00:00:00+0000,false,x|y,",
    )

    result = parse_import(data)

    assert result.format == "bitly"
    assert result.rows[0].slug == "abc1234"
    assert result.rows[0].tags == ("x", "y")


# -- generic ----------------------------------------------------------------------------------


def test_generic_csv_needs_only_a_url_column():
    result = parse_import(csv_bytes("url", "https://a.example/", "https://b.example/"))

    assert result.format == "generic"
    assert [(row.line, row.long_url, row.slug) for row in result.rows] == [
        (2, "https://a.example/", None),
        (3, "https://b.example/", None),
    ]


def test_generic_csv_reads_shlink_web_client_exports():
    data = csv_bytes(
        "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits",
        "2024-03-01T10:00:00+01:00,,abc12,https://s.test/abc12,https://a.example/,A,one|two,4",
    )

    row = parse_import(data).rows[0]

    assert (row.slug, row.tags, row.visits) == ("abc12", ("one", "two"), 4)
    assert row.created_at == datetime(2024, 3, 1, 9, tzinfo=UTC)


def test_generic_csv_takes_unix_seconds_and_plain_dates():
    data = csv_bytes("Long URL,created", "https://a.example/,1700000000", "https://b.example/,2024-05-01")

    rows = parse_import(data).rows

    assert rows[0].created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert rows[1].created_at == datetime(2024, 5, 1, tzinfo=UTC)


def test_file_without_a_url_column_is_refused():
    with pytest.raises(InvalidLinkError, match="no long URL column") as caught:
        parse_import(csv_bytes("name,email", "a,b"))

    assert caught.value.field == "file"


# -- encodings, delimiters, quoting -----------------------------------------------------------


def test_bom_semicolons_and_crlf_are_handled():
    data = "\ufeffLong URL;Title\r\nhttps://a.example/;Über; alles\r\n".encode()

    result = parse_import(data)

    assert result.rows[0].title == "Über"


def test_excel_sep_hint_line_sets_the_delimiter_and_counts_as_a_line():
    data = csv_bytes("sep=;", "url;title", "https://a.example/?a=1,2;T")

    result = parse_import(data)

    assert result.rows[0].long_url == "https://a.example/?a=1,2"
    assert result.rows[0].line == 3


def test_quoted_fields_with_new_lines_keep_the_record_start_line():
    data = csv_bytes("url,title", 'https://a.example/,"two\nlines"', "nope,x", newline="\n")

    result = parse_import(data)

    assert result.rows[0].title == "two\nlines"
    assert result.errors[0].line == 4
    assert result.errors[0].message == "only http and https URLs can be shortened"


def test_blank_lines_are_skipped_and_lone_lf_works():
    data = b"url\n\nhttps://a.example/\n\n"

    result = parse_import(data)

    assert [row.line for row in result.rows] == [3]


def test_formula_prefix_is_stripped_from_any_source():
    result = parse_import(csv_bytes("url,title,tags", "https://a.example/,'=1+1,'@x|'y"))

    assert result.rows[0].title == "=1+1"
    assert result.rows[0].tags == ("@x", "'y")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"url\nhttps://a.example/\xe9t\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 22\)"),
        (b"\xef\xbb\xbfurl\n\xff", r"byte 0xff at offset 7\)"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
        ("url\n".encode("utf-16"), "UTF-16"),
        (b"", "empty"),
    ],
)
def test_files_that_are_not_utf8_csv_text_are_refused(data, message):
    with pytest.raises(InvalidLinkError, match=message):
        parse_import(data)


# -- per-row checks ---------------------------------------------------------------------------


def test_bad_rows_become_errors_with_their_line_and_the_rest_import():
    data = csv_bytes(
        "url,slug,created_at,visits,tags",
        "https://ok.example/,good-slug,,,",
        "ftp://files.example/,,,,",
        "https://user:pw@a.example/,,,,",
        "https://a.example/,bad--slug,,,",
        "https://a.example/,admin,,,",
        "https://a.example/,,yesterday,,",
        "https://a.example/,,,many,",
        "https://a.example/,,,," + "|".join(f"t{n}" for n in range(40)),
        "https://a.example/,GOOD-SLUG,,,",
    )

    result = parse_import(data)

    assert [row.slug for row in result.rows] == ["good-slug"]
    assert [(error.line, error.message) for error in result.errors] == [
        (3, "only http and https URLs can be shortened"),
        (4, "URLs with credentials (user:password@) cannot be shortened"),
        (
            5,
            "slug 'bad--slug': a custom slug uses letters, digits, '-' and '_', starts with a letter or"
            " digit, and has no leading, trailing or double '-'",
        ),
        (6, "slug 'admin': 'admin' is reserved"),
        (7, "created_at: 'yesterday' is not a date (use ISO 8601, e.g. 2024-05-01T12:00:00Z)"),
        (8, "visits: 'many' is not a whole number of at least 0"),
        (9, "a link has at most 32 tags"),
        (10, "slug 'GOOD-SLUG' is already used on line 2"),
    ]


def test_short_rows_read_missing_cells_as_empty():
    result = parse_import(csv_bytes("title,url,visits", "only a title"))

    assert result.errors[0].message == "the long URL is empty"


def test_overlong_titles_are_cut_not_refused():
    result = parse_import(csv_bytes("url,title", "https://a.example/," + "x" * 600))

    title = result.rows[0].title
    assert title is not None
    assert len(title) == TITLE_LENGTH_MAX
    assert title.endswith("…")


# -- limits -----------------------------------------------------------------------------------


def test_rows_up_to_the_maximum_are_accepted():
    data = csv_bytes("url", *["https://a.example/"] * 3, "")

    assert len(parse_import(data, rows_max=3).rows) == 3


def test_rows_past_the_maximum_raise_too_large():
    data = csv_bytes("url", *["https://a.example/"] * 4)

    with pytest.raises(TooLargeError, match="more than 3 rows"):
        parse_import(data, rows_max=3)


def test_a_record_longer_than_the_limit_raises_too_large_with_its_line():
    data = csv_bytes("url,title", "https://a.example/,short", "https://a.example/," + "y" * 200)

    with pytest.raises(TooLargeError, match="line 3: a row is longer than 100 characters"):
        parse_import(data, record_chars_max=100)


def test_a_runaway_quoted_field_stops_at_the_limit():
    data = csv_bytes("url,title", 'https://a.example/,"never closed', *["more text"] * 1000)

    with pytest.raises(TooLargeError, match="line 2"):
        parse_import(data, record_chars_max=1000)


def test_import_leaves_the_global_csv_field_limit_alone():
    before = csv.field_size_limit()

    parse_import(csv_bytes("url,title", "https://a.example/," + "z" * 5000))

    assert csv.field_size_limit() == before


def test_blank_lines_before_the_header_are_skipped():
    result = parse_import(b"\r\n\r\nurl\r\nhttps://a.example/\r\n")

    assert result.rows[0].line == 4


def test_a_bitly_file_without_long_urls_is_refused():
    with pytest.raises(InvalidLinkError, match="the bitly file has no long URL column"):
        parse_import(csv_bytes("Bitlink,Title", "bit.ly/abc,T"))


def test_csv_module_errors_become_invalid_with_the_line():
    field = "w" * (csv.field_size_limit() + 1)  # past the csv module's own (global) field limit

    with pytest.raises(InvalidLinkError, match="line 2: malformed CSV: field larger than field limit"):
        parse_import(csv_bytes("url,title", f"https://a.example/,{field}"), record_chars_max=10**7)
