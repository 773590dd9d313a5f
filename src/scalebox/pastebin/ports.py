"""What the pastebin needs from storage, as roles. Adapters: storage.sql.SqlPasteRepository (SQLite,
PostgreSQL) and storage.sql.SqlReportRepository. Blobs, events, cache and rate limits are core ports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scalebox.pastebin.domain import Paste


@dataclass(frozen=True, slots=True)
class Report:
    """An abuse report, or a finding of the secret scanner (reporter_id None, reason "secret-scan: ...")."""

    id: int
    paste_id: str
    reporter_id: int | None
    reason: str
    created_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = None


class PasteRepository(Protocol):
    """Paste metadata, content references, view counts and the search index."""

    async def add(self, paste: Paste, now: datetime) -> None:
        """Store a paste and its files and mark their contents referenced; IdCollisionError on a taken id."""
        ...

    async def get(self, paste_id: str) -> Paste | None: ...

    async def get_by_removal_hash(self, removal_hash: str) -> Paste | None: ...

    async def delete(self, paste_id: str) -> bool:
        """True only for the one caller that deleted it: burn after reading relies on this."""
        ...

    async def list_recent(self, now: datetime, limit: int) -> list[Paste]:
        """Listed pastes (public, not burn, not sealed, not hidden, not expired), newest first."""
        ...

    async def list_trending(self, since: datetime, now: datetime, limit: int) -> list[tuple[Paste, int]]:
        """Listed pastes with the most views since `since`, with that count."""
        ...

    async def list_by_owner(self, owner_id: int, limit: int, offset: int = 0) -> list[Paste]: ...

    async def count(self, now: datetime) -> int:
        """Live (unexpired) pastes."""
        ...

    async def add_views(self, counts: Mapping[str, int], bucket: datetime) -> None:
        """Add batched view counts: to each paste's total and to its bucket for trending."""
        ...

    async def delete_expired(self, now: datetime, limit: int) -> list[str]:
        """Delete up to `limit` expired pastes; returns their ids."""
        ...

    async def list_orphan_contents(self, unreferenced_since: datetime, limit: int) -> list[str]:
        """Content hashes no file references, and none has since `unreferenced_since` (the grace period)."""
        ...

    async def reap_content(
        self, digest: str, unreferenced_since: datetime, delete_blobs: Callable[[], Awaitable[None]]
    ) -> bool:
        """Forget an orphan content, calling `delete_blobs` before the forgetting commits; False
        (and no call) when a paste referenced it again since it was listed."""
        ...

    async def set_scan_verdict(self, paste_id: str, verdict: str | None) -> None: ...

    async def set_hidden(self, paste_id: str, hidden: bool) -> None: ...

    async def index_terms(self, paste_id: str, terms: Iterable[str]) -> None: ...

    async def search(self, terms: list[str], now: datetime, limit: int) -> list[Paste]:
        """Listed pastes holding every term, newest first."""
        ...

    async def prune_views(self, before: datetime) -> int: ...


class ReportRepository(Protocol):
    """Abuse reports and the moderation queue."""

    async def add(self, paste_id: str, reporter_id: int | None, reason: str, now: datetime) -> Report: ...

    async def list_open(self, limit: int) -> list[Report]: ...

    async def resolve(self, report_id: int, resolution: str, now: datetime) -> bool: ...

    async def resolve_for_paste(self, paste_id: str, resolution: str, now: datetime) -> int: ...
