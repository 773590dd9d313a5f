"""Rendering: lexer names and guesses, highlighted HTML with line anchors, and safe Markdown."""

from __future__ import annotations

import re

import pytest

from scalebox.pastebin.errors import InvalidPasteError
from scalebox.pastebin.render import (
    COMMON_LEXERS,
    guess_lexer_alias,
    highlight_html,
    list_lexers,
    normalise_lexer,
    render_markdown,
)

# -- lexers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("python", "python"),
        ("py", "python"),
        ("python3", "python"),
        ("Python", "python"),
        ("  PY  ", "python"),
        ("js", "javascript"),
        ("sh", "bash"),
        ("shell", "bash"),
        ("golang", "go"),
        ("c++", "cpp"),
        ("yml", "yaml"),
        ("md", "markdown"),
        ("dockerfile", "docker"),
        ("text", "text"),
    ],
)
def test_normalise_lexer_maps_an_alias_to_its_canonical_name(alias, canonical):
    assert normalise_lexer(alias) == canonical


@pytest.mark.parametrize("alias", ["plain", "plaintext"])
def test_normalise_lexer_maps_plain_text_names_to_text(alias):
    assert normalise_lexer(alias) == "text"


@pytest.mark.parametrize("alias", ["nope", "", "python;drop", "<script>"])
def test_normalise_lexer_raises_when_alias_is_unknown(alias):
    with pytest.raises(InvalidPasteError, match="unknown lexer") as caught:
        normalise_lexer(alias)
    assert caught.value.field == "lexer"


def test_normalise_lexer_is_idempotent_over_a_spread_of_listed_lexers():
    for alias in sorted(list_lexers())[::25]:  # a spread: loading all 600 lexer modules takes seconds
        assert normalise_lexer(normalise_lexer(alias)) == normalise_lexer(alias)


def test_list_lexers_maps_aliases_to_display_names_including_plain_text():
    lexers = list_lexers()

    assert lexers["text"] == "Plain text"
    assert lexers["python"] == "Python"
    assert set(COMMON_LEXERS) <= set(lexers)
    assert list(lexers) == sorted(lexers)


@pytest.mark.parametrize("alias", COMMON_LEXERS)
def test_common_lexers_are_canonical_so_guesses_match_normalised_choices(alias):
    assert normalise_lexer(alias) == alias


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("main.rs", "rust"),
        ("app.py", "python"),
        ("Dockerfile", "docker"),
        ("Makefile", "make"),
        ("index.html", "html"),
        ("notes.txt", "text"),
    ],
)
def test_guess_lexer_alias_uses_the_file_name_first(file_name, expected):
    assert guess_lexer_alias("x = 1\n", file_name) == expected


def test_guess_lexer_alias_prefers_the_file_name_over_the_content():
    assert guess_lexer_alias("#!/usr/bin/env python3\nprint(1)\n", "notes.txt") == "text"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("#!/usr/bin/env python3\nprint('hi')\n", "python"),
        ("#!/bin/bash\necho hi\n", "bash"),
        ("<?php echo 'hi'; ?>\n", "php"),
        ("<!DOCTYPE html>\n<html><body><p>hi</p></body></html>\n", "html"),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", "diff"),
    ],
    ids=["python-shebang", "bash-shebang", "php", "html", "diff"],
)
def test_guess_lexer_alias_uses_the_content_when_there_is_no_file_name(content, expected):
    assert guess_lexer_alias(content, None) == expected


def test_guess_lexer_alias_falls_back_to_the_content_when_the_file_name_is_unknown():
    assert guess_lexer_alias("<?php echo 1;\n", "script.unknownext") == "php"


def test_guess_lexer_alias_is_text_when_nothing_is_confident():
    assert guess_lexer_alias("Hello there, just a note about lunch.\n", None) == "text"


# -- highlight_html ----------------------------------------------------------------------------


def test_highlight_html_escapes_markup_in_the_paste():
    html = highlight_html("<script>alert(1)</script>\n", "html", "f1-L")

    assert "<script>" not in html
    assert "</script>" not in html
    assert "&lt;" in html


@pytest.mark.parametrize("lexer", ["text", "python", "javascript", "markdown", "no-such-lexer"])
def test_highlight_html_escapes_markup_whatever_the_lexer(lexer):
    html = highlight_html('"><img src=x onerror=alert(1)><script>x</script>\n', lexer, "f1-L")

    assert "<script" not in html
    assert "<img" not in html


def test_highlight_html_anchors_every_line_under_the_prefix():
    html = highlight_html("a = 1\nb = 2\nc = 3\n", "python", "f2-L")

    assert re.findall(r'id="(f2-L-\d+)"', html) == ["f2-L-1", "f2-L-2", "f2-L-3"]
    assert 'href="#f2-L-3"' in html


def test_highlight_html_falls_back_to_plain_text_when_lexer_is_unknown():
    html = highlight_html("one\ntwo\n", "no-such-lexer", "f1-L")

    assert 'id="f1-L-2"' in html
    assert "two" in html


def test_highlight_html_keeps_entities_literal():
    assert "&amp;amp;" in highlight_html("x = '&amp;'\n", "python", "f1-L")


# -- render_markdown ---------------------------------------------------------------------------


def test_render_markdown_renders_commonmark():
    html = render_markdown("# Title\n\nSome *emphasis* and [a link](https://example.com).\n")

    assert "<h1>Title</h1>" in html
    assert "<em>emphasis</em>" in html
    assert '<a href="https://example.com">a link</a>' in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        "<iframe src=https://evil.example></iframe>",
        "<div>\n<script>alert(1)</script>\n</div>",
    ],
)
def test_render_markdown_escapes_raw_html(source):
    html = render_markdown(source)

    assert not re.search(r"<(script|img|a|iframe|div)\b", html)
    assert "&lt;" in html


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](javascript:alert(1))",
        "<javascript:alert(1)>",
        "[x]: javascript:alert(1)\n\n[click][x]",
    ],
)
def test_render_markdown_refuses_unsafe_link_schemes(source):
    html = render_markdown(source)

    assert not re.search(r"(?i)(href|src)=\"\s*(javascript|vbscript|data):", html)
    assert "<a " not in html
    assert "<img" not in html
