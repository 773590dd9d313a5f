"""The search index's words: what a paste is indexed under and what a query asks for. Pure."""

from __future__ import annotations

import re

TERM_CHARS_MIN = 2
TERM_CHARS_MAX = 64
TERMS_PER_PASTE_MAX = 5000
QUERY_TERMS_MAX = 8

_WORD = re.compile(r"[^\W_]+(?:_[^\W_]+)*", re.UNICODE)


def _words(text: str) -> list[str]:
    found: list[str] = []
    for match in _WORD.finditer(text.casefold()):
        word = match.group()
        found.append(word)
        if "_" in word:  # snake_case identifiers are found by their parts too
            found.extend(word.split("_"))
    return [word for word in found if TERM_CHARS_MIN <= len(word) <= TERM_CHARS_MAX]


def index_terms(title: str, texts: list[str]) -> set[str]:
    """The distinct terms a paste is found by (bounded, so one huge paste cannot bloat the index)."""
    terms: set[str] = set()
    for text in (title, *texts):
        for word in _words(text):
            terms.add(word)
            if len(terms) >= TERMS_PER_PASTE_MAX:
                return terms
    return terms


def parse_query(query: str) -> list[str]:
    """The terms a query asks for, all of which must match; at most QUERY_TERMS_MAX."""
    seen: dict[str, None] = {}
    for word in _words(query):
        seen.setdefault(word, None)
    return list(seen)[:QUERY_TERMS_MAX]
