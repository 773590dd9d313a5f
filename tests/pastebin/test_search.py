"""Search terms: what a paste is indexed under and what a query asks for."""

from __future__ import annotations

from scalebox.pastebin.search import (
    QUERY_TERMS_MAX,
    TERM_CHARS_MAX,
    TERMS_PER_PASTE_MAX,
    index_terms,
    parse_query,
)


def test_index_terms_folds_case():
    assert index_terms("Hello WORLD", []) == {"hello", "world"}


def test_index_terms_folds_case_beyond_ascii():
    assert "strasse" in index_terms("", ["STRASSE Straße"])
    assert index_terms("", ["Straße"]) == {"strasse"}


def test_index_terms_includes_title_and_every_text():
    assert index_terms("Title", ["first file", "second"]) == {"title", "first", "file", "second"}


def test_index_terms_finds_snake_case_identifiers_whole_and_by_part():
    assert index_terms("", ["parse_http_header(x)"]) == {"parse_http_header", "parse", "http", "header"}


def test_index_terms_splits_on_punctuation_and_keeps_digits():
    assert index_terms("", ["os.path.join(a, 'b') v2 42"]) == {"os", "path", "join", "v2", "42"}


def test_index_terms_keeps_non_latin_words():
    assert index_terms("", ["Привет мир 日本語"]) == {"привет", "мир", "日本語"}


def test_index_terms_drops_terms_when_too_short_or_too_long():
    long_word = "x" * (TERM_CHARS_MAX + 1)
    edge_word = "y" * TERM_CHARS_MAX

    assert index_terms("", [f"a I ab {long_word} {edge_word}"]) == {"ab", edge_word}


def test_index_terms_keeps_the_parts_of_an_over_long_snake_case_word():
    word = "_".join(["part"] * 20)  # 99 characters

    assert index_terms("", [word]) == {"part"}


def test_index_terms_stops_at_the_per_paste_maximum():
    text = " ".join(f"w{i}" for i in range(TERMS_PER_PASTE_MAX + 500))

    assert len(index_terms("", [text])) == TERMS_PER_PASTE_MAX


def test_index_terms_is_empty_when_there_are_no_words():
    assert index_terms("", ["", "  ... --- !!!", "_ __ ___"]) == set()


def test_parse_query_folds_case_and_keeps_first_seen_order():
    assert parse_query("Redis cache REDIS timeout") == ["redis", "cache", "timeout"]


def test_parse_query_expands_snake_case_like_the_index():
    assert parse_query("read_config") == ["read_config", "read", "config"]


def test_parse_query_terms_are_all_found_by_the_index_of_the_same_text():
    text = "def Read_Config(path): return Yaml.safe_load(path)"

    assert set(parse_query(text)) <= index_terms("", [text])


def test_parse_query_drops_one_letter_terms():
    assert parse_query("a b c python") == ["python"]


def test_parse_query_keeps_at_most_query_terms_max():
    words = [f"term{i}" for i in range(QUERY_TERMS_MAX + 4)]

    assert parse_query(" ".join(words)) == words[:QUERY_TERMS_MAX]


def test_parse_query_is_empty_when_query_is_blank_or_punctuation():
    assert parse_query("") == []
    assert parse_query("   ?! ") == []
