"""Work off the request path: reacting to paste events (highlight, secret scan, search index), reaping
expired pastes and orphan blobs, and the live figures."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from scalebox.core.blobs import BlobStore
from scalebox.core.clock import Clock
from scalebox.core.events import Event, EventBus
from scalebox.pastebin import scan, search
from scalebox.pastebin.domain import Paste, blob_key, highlight_prefix
from scalebox.pastebin.ports import PasteRepository, ReportRepository
from scalebox.pastebin.service.pastes import TOPIC, PasteService
from scalebox.pastebin.service.stats import Figures

log = logging.getLogger(__name__)

REAP_BATCH = 1000
VIEW_BUCKETS_KEPT = timedelta(days=2)
EVENT_RETENTION = timedelta(days=7)  # consumed events are kept a week, for replay and debugging


@dataclass(frozen=True, slots=True)
class Reaped:
    pastes: int
    blobs: int


class Upkeep:
    """Background use cases; the workers call them in loops, tests call one step directly."""

    def __init__(
        self,
        *,
        pastes: PasteService,
        repo: PasteRepository,
        reports: ReportRepository,
        blobs: BlobStore,
        events: EventBus,
        clock: Clock,
        orphan_grace_seconds: float,
        highlight_ahead_max_lag_seconds: float = 5.0,
    ) -> None:
        self.highlight_ahead_max_lag_seconds = highlight_ahead_max_lag_seconds
        self.events = events
        self.pastes, self.repo, self.reports, self.blobs, self.clock = pastes, repo, reports, blobs, clock
        self.orphan_grace = timedelta(seconds=orphan_grace_seconds)

    async def on_paste_event(self, event: Event) -> None:
        """`paste.created`: pre-render highlighting, scan for secrets (flag mode), index for search."""
        message = json.loads(event.value)
        if message.get("type") != "paste.created":
            return
        opened = await self._peek(message["id"])
        if opened is None:
            return  # deleted before the worker got to it, or sealed / burn-after-reading
        paste, texts = opened
        # Highlighting ahead only warms a cache (a read renders on a miss), so it is shed when the
        # worker falls behind: under a flood of creates, scanning and indexing keep up instead.
        lag_seconds = (self.clock.now() - event.timestamp).total_seconds()
        if lag_seconds <= self.highlight_ahead_max_lag_seconds:
            for file, text in zip(paste.files, texts, strict=True):
                await self.pastes.highlighted(paste, file, text)
        if self.pastes.limits.secret_scan == "flag":
            findings = [finding for text in texts for finding in scan.scan(text)]
            if findings:
                verdict = scan.describe(findings)
                await self.repo.set_scan_verdict(paste.id, verdict[:200])
                await self.reports.add(paste.id, None, f"secret scanner: {verdict}", self.clock.now())
        if paste.is_listed(self.clock.now()):
            await self.repo.index_terms(paste.id, search.index_terms(paste.title, list(texts)))

    async def _peek(self, paste_id: str) -> tuple[Paste, list[str]] | None:
        paste = await self.repo.get(paste_id)
        if paste is None or paste.encrypted or paste.burn_after_reading:
            return None  # sealed and burn pastes are never read by workers
        texts = [await self.pastes.text_of(paste, file, None) for file in paste.files]
        return paste, texts

    async def reap(self) -> Reaped:
        """Delete expired pastes, then blobs no paste has referenced for the grace period."""
        now = self.clock.now()
        reaped_pastes = 0
        while expired := await self.repo.delete_expired(now, REAP_BATCH):
            reaped_pastes += len(expired)
            if len(expired) < REAP_BATCH:
                break
        reaped_blobs = 0
        while orphans := await self.repo.list_orphan_contents(now - self.orphan_grace, REAP_BATCH):
            for digest in orphans:
                if await self.repo.reap_content(
                    digest, now - self.orphan_grace, partial(self._delete_blobs, digest)
                ):
                    reaped_blobs += 1
            if len(orphans) < REAP_BATCH:
                break
        await self.repo.prune_views(now - VIEW_BUCKETS_KEPT)
        await self.events.trim(TOPIC, now - EVENT_RETENTION)
        if reaped_pastes or reaped_blobs:
            log.info("reaped %d expired pastes and %d orphan blobs", reaped_pastes, reaped_blobs)
        return Reaped(reaped_pastes, reaped_blobs)

    async def _delete_blobs(self, digest: str) -> None:
        await self.blobs.delete(blob_key(digest))
        async for info in self.blobs.list(highlight_prefix(digest)):
            await self.blobs.delete(info.key)

    async def figures(self) -> Figures:
        stats = self.pastes.stats
        return Figures(await self.repo.count(self.clock.now()), stats.reads_per_minute(), stats.hit_ratio())

    async def check_blobs(self) -> None:
        """Health check: the blob store answers."""
        await self.blobs.exists("health/probe")
