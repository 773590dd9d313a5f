"""Test data for the pastebin: `make_<thing>(**overrides)` factories and an in-memory pastebin opener."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scalebox.core.clock import FakeClock
from scalebox.pastebin.app import Pastebin, open_pastebin
from scalebox.pastebin.domain import Draft, Paste, PasteFile, PasteRequest, Visibility, token_hash
from scalebox.pastebin.settings import PastebinSettings

T0 = datetime(2025, 1, 1, tzinfo=UTC)
_serial = itertools.count(1)


def make_paste_file(**overrides: Any) -> PasteFile:
    text = overrides.pop("text", "print('hello')\n")
    digest = hashlib.sha256(text.encode()).hexdigest()
    fields: dict[str, Any] = {
        "position": 0,
        "name": None,
        "lexer": "python",
        "content_hash": digest,
        "size_bytes": len(text.encode()),
    }
    return PasteFile(**{**fields, **overrides})


def make_paste(**overrides: Any) -> Paste:
    """A public, never-expiring, one-file paste with a unique id and removal hash."""
    serial = next(_serial)
    fields: dict[str, Any] = {
        "id": f"p{serial:09d}",
        "owner_id": None,
        "title": "",
        "visibility": Visibility.PUBLIC,
        "burn_after_reading": False,
        "encrypted": False,
        "created_at": T0,
        "expires_at": None,
        "removal_hash": token_hash(f"token-{serial}"),
        "files": (make_paste_file(),),
    }
    return Paste(**{**fields, **overrides})


def make_draft(**overrides: Any) -> Draft:
    fields: dict[str, Any] = {"content": "def main():\n    return 42\n", "lexer": "python", "name": None}
    return Draft(**{**fields, **overrides})


def make_request(**overrides: Any) -> PasteRequest:
    """A one-file unlisted request; `content=` is a shortcut for the single draft's text."""
    content = overrides.pop("content", None)
    files = overrides.pop("files", None)
    if files is None:
        files = (make_draft() if content is None else make_draft(content=content),)
    return PasteRequest(files=tuple(files), **overrides)


def make_settings(data_dir: Path, **overrides: Any) -> PastebinSettings:
    """Embedded SQLite under `data_dir`; blobs, events, cache and rate limits in memory; no workers."""
    base = PastebinSettings(
        data_dir=data_dir,
        blob_url="memory://",
        events_url="memory://",
        cache_url="memory://",
        ratelimit_url="memory://",
        workers=False,
        log_requests=False,
        secret_key="test-secret-key-not-for-production",
    )
    return replace(base, **overrides)


@contextlib.asynccontextmanager
async def open_test_pastebin(
    data_dir: Path, *, clock: FakeClock | None = None, seed: int = 1234, **settings: Any
) -> AsyncIterator[Pastebin]:
    """A whole pastebin on SQLite and memory adapters, with FakeClock time and seeded randomness."""
    async with open_pastebin(
        make_settings(data_dir, **settings), clock=clock or FakeClock(), rng=random.Random(seed)
    ) as pastebin:
        yield pastebin
