"""Turning text into HTML: Pygments highlighting with linkable line anchors, lexer lists and guesses,
and safe Markdown (raw HTML disabled, unsafe link schemes refused)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer as PygmentsLexer
from pygments.lexers import (
    find_lexer_class_by_name,
    get_all_lexers,
    get_lexer_by_name,
    guess_lexer_for_filename,
)
from pygments.util import ClassNotFound

from scalebox.pastebin.errors import InvalidPasteError

HIGHLIGHT_VERSION = "1"  # bump to invalidate stored highlight renders when the markup changes
GUESS_CHARS_MAX = 10_000  # guessing reads a prefix: enough to tell, cheap on big pastes
COMMON_LEXERS = (
    "text",
    "python",
    "javascript",
    "typescript",
    "json",
    "yaml",
    "toml",
    "bash",
    "console",
    "go",
    "rust",
    "c",
    "cpp",
    "csharp",
    "java",
    "kotlin",
    "php",
    "ruby",
    "sql",
    "html",
    "css",
    "markdown",
    "diff",
    "docker",
    "ini",
    "xml",
    "lua",
    "haskell",
    "elixir",
    "swift",
    "scala",
    "nixos",
    "make",
    "pytb",
)
MARKDOWN_LEXERS = frozenset({"markdown", "md"})

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


@dataclass(frozen=True, slots=True)
class Lexer:
    alias: str
    name: str


@functools.cache
def list_lexers() -> dict[str, str]:
    """Every lexer alias Pygments knows, mapped to its display name (pinnwand's /api/v1/lexer shape)."""
    lexers: dict[str, str] = {}
    for name, aliases, _patterns, _mimes in get_all_lexers():
        if aliases:
            lexers[aliases[0]] = name
    lexers["text"] = "Plain text"
    return dict(sorted(lexers.items()))


@functools.cache
def _all_aliases() -> frozenset[str]:
    names = frozenset(alias for _name, aliases, _p, _m in get_all_lexers() for alias in aliases)
    return names | {"text", "plain", "plaintext"}


@functools.cache
def _common_lexer_classes() -> tuple[tuple[str, type[PygmentsLexer]], ...]:
    return tuple((alias, find_lexer_class_by_name(alias)) for alias in COMMON_LEXERS[1:])


@functools.lru_cache(maxsize=1024)
def normalise_lexer(alias: str) -> str:
    """The canonical alias for `alias` (e.g. "py" -> "python"); InvalidPasteError if Pygments has none."""
    alias = alias.strip().lower()
    if alias not in _all_aliases():
        raise InvalidPasteError(f"unknown lexer {alias!r}; GET /api/v1/lexer lists them", field="lexer")
    if alias in ("text", "plain", "plaintext"):
        return "text"
    try:
        return str(get_lexer_by_name(alias).aliases[0])
    except ClassNotFound:  # pragma: no cover - every alias in the set resolves
        raise InvalidPasteError(f"unknown lexer {alias!r}", field="lexer") from None


def guess_lexer_alias(content: str, file_name: str | None) -> str:
    """The lexer a paste without one gets: from its file name, else from its content, else text."""
    sample = content[:GUESS_CHARS_MAX]
    if file_name:
        try:
            lexer = guess_lexer_for_filename(file_name, sample)
        except ClassNotFound:
            pass
        else:
            return str(lexer.aliases[0]) if lexer.aliases else "text"
    # Pygments' guess over all 600 lexers picks exotic ones for everyday code; scoring only the
    # common ones gives the answer people expect, and plain text when nothing is confident.
    best, best_score = "text", 0.0
    for alias, lexer_class in _common_lexer_classes():
        score = float(lexer_class.analyse_text(sample) or 0.0)
        if score > best_score:
            best, best_score = alias, score
    return best if best_score >= 0.1 else "text"


def highlight_html(content: str, lexer_alias: str, anchor_prefix: str) -> str:
    """Highlighted HTML, one `<span id="{prefix}-N">` per line so `#f1-L-12` links to line 12."""
    try:
        lexer = get_lexer_by_name(lexer_alias, stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    formatter = HtmlFormatter(
        linenos="table", lineanchors=anchor_prefix, anchorlinenos=True, cssclass="highlight", wrapcode=True
    )
    return str(highlight(content, lexer, formatter))


def render_markdown(content: str) -> str:
    """CommonMark to HTML with raw HTML escaped and javascript:/vbscript:/data: links refused."""
    return str(_markdown.render(content))


def pygments_css() -> str:
    light = HtmlFormatter(style="default").get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    dark = HtmlFormatter(style="monokai").get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
