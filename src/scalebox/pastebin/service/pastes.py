"""Paste use cases: create, read (with burn after reading and passwords), remove, discover, report."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from scalebox.core.blobs import BlobNotFoundError, BlobStore
from scalebox.core.cache import Cache
from scalebox.core.clock import Clock
from scalebox.core.errors import ForbiddenError
from scalebox.core.events import EventBus
from scalebox.core.ids import random_base62
from scalebox.core.ratelimit import RateLimiter
from scalebox.core.singleflight import SingleFlight
from scalebox.pastebin import content, render, scan, search
from scalebox.pastebin.domain import (
    ID_LENGTH,
    REMOVAL_TOKEN_LENGTH,
    Draft,
    Paste,
    PasteFile,
    PasteRequest,
    Visibility,
    blob_key,
    content_hash,
    expires_at,
    highlight_key,
    token_hash,
    validate_request,
)
from scalebox.pastebin.errors import (
    AccountBannedError,
    IdCollisionError,
    PasteNotFoundError,
    SecretDetectedError,
)
from scalebox.pastebin.ports import PasteRepository, Report, ReportRepository
from scalebox.pastebin.service.limits import Limits, Viewer, check_rate
from scalebox.pastebin.service.stats import ReadStats

TOPIC = "pastebin.pastes"
_ID_ATTEMPTS = 5
_HIGHLIGHT_INLINE_BYTES_MAX = 32 * 1024  # larger pastes are highlighted in a worker thread
DISCOVERY_LIMIT_MAX = 100


@dataclass(frozen=True, slots=True)
class Created:
    paste: Paste
    removal_token: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class Opened:
    """A paste as a reader gets it: metadata and the text of each file, in order."""

    paste: Paste
    texts: tuple[str, ...]
    burned: bool = False  # this read consumed a burn-after-reading paste


class PasteService:
    """The pastebin's use cases. Every dependency is a port; time and randomness are injected."""

    def __init__(
        self,
        *,
        repo: PasteRepository,
        reports: ReportRepository,
        blobs: BlobStore,
        cache: Cache,
        events: EventBus,
        limiter: RateLimiter,
        clock: Clock,
        rng: random.Random,
        limits: Limits,
        stats: ReadStats,
    ) -> None:
        self.repo, self.reports, self.blobs, self.cache = repo, reports, blobs, cache
        self.events, self.limiter, self.clock, self.rng = events, limiter, clock, rng
        self.limits, self.stats = limits, stats
        self._pending_views: Counter[str] = Counter()
        self._inflight: SingleFlight[str, Paste | None] = SingleFlight()

    # -- create ------------------------------------------------------------------------------------

    async def create(self, request: PasteRequest, viewer: Viewer) -> Created:
        if viewer.banned:
            raise AccountBannedError("this account is banned from creating pastes")
        await check_rate(self.limiter, self.limits, "create", viewer)
        validate_request(
            request, size_bytes_max=self.limits.size_bytes_max, signed_in=viewer.account_id is not None
        )
        if self.limits.secret_scan == "reject":
            findings = [f for draft in request.files for f in scan.scan(draft.content)]
            if findings:
                raise SecretDetectedError(
                    f"the paste looks like it holds a secret: {scan.describe(findings)}"
                )
        now = self.clock.now()
        lexers = [_lexer_of(draft) for draft in request.files]  # may refuse: before any blob is written
        stored = [
            await self._store_file(i, draft, lexer, request.password)
            for i, (draft, lexer) in enumerate(zip(request.files, lexers, strict=True))
        ]
        paste_files = [paste_file for paste_file, _text in stored]
        token = random_base62(REMOVAL_TOKEN_LENGTH, self.rng)
        paste = Paste(
            id="",
            owner_id=viewer.account_id,
            title=request.title.strip(),
            visibility=request.visibility,
            burn_after_reading=request.burn_after_reading,
            encrypted=request.password is not None,
            created_at=now,
            expires_at=expires_at(request.expiry, now),
            removal_hash=token_hash(token),
            files=tuple(paste_files),
            source=request.source,
        )
        paste = await self._add_with_fresh_id(paste, now)
        # The reaper deletes an orphan blob inside the transaction that drops its row, so once our
        # row commit has gone through, a blob we skipped as "already stored" is either still there
        # (and now referenced) or was reaped just before: then it is written again.
        for paste_file, text in stored:
            if text is not None and not await self.blobs.exists(blob_key(paste_file.content_hash)):
                await self.blobs.put(blob_key(paste_file.content_hash), content.compress(text))
        await self.events.publish(
            TOPIC, paste.id.encode(), json.dumps({"type": "paste.created", "id": paste.id}).encode()
        )
        self.stats.record_created(request.source)
        return Created(paste, token)

    async def _store_file(
        self, position: int, draft: Draft, lexer: str, password: str | None
    ) -> tuple[PasteFile, str | None]:
        """Write the file's blob; the text comes back when an existing blob was reused (re-checked later)."""
        text_bytes = draft.content.encode("utf-8")
        reused: str | None = None
        if password is None:
            digest = content_hash(text_bytes)
            if await self.blobs.exists(blob_key(digest)):  # identical content is stored once
                reused = draft.content
            else:
                await self.blobs.put(blob_key(digest), content.compress(draft.content))
        else:
            sealed = await asyncio.to_thread(content.seal, draft.content, password, self.rng)
            digest = content_hash(sealed)
            await self.blobs.put(blob_key(digest), sealed)
        return PasteFile(position, draft.name, lexer, digest, len(text_bytes)), reused

    async def _add_with_fresh_id(self, paste: Paste, now: datetime) -> Paste:
        for _attempt in range(_ID_ATTEMPTS):
            candidate = replace(paste, id=random_base62(ID_LENGTH, self.rng))
            try:
                await self.repo.add(candidate, now)
            except IdCollisionError:
                continue
            return candidate
        raise IdCollisionError("could not mint a free paste id")

    # -- read --------------------------------------------------------------------------------------

    async def get(self, paste_id: str, viewer: Viewer) -> Paste:
        """Metadata of a live paste the viewer may see; PasteNotFoundError otherwise (private ones too)."""
        paste = await self._meta(paste_id)
        if (
            paste is None
            or paste.is_expired(self.clock.now())
            or not paste.can_view(viewer.account_id, is_admin=viewer.is_admin)
        ):
            raise PasteNotFoundError(f"no paste {paste_id!r}: it never existed, expired, or was removed")
        return paste

    async def open(self, paste_id: str, viewer: Viewer, password: str | None = None) -> Opened:
        """Read every file; consumes a burn-after-reading paste (exactly one reader wins)."""
        await check_rate(self.limiter, self.limits, "read", viewer)
        return await self._read(await self.get(paste_id, viewer), password)

    async def read(self, paste: Paste, viewer: Viewer, password: str | None = None) -> Opened:
        """`open` for a paste the caller already got through `get` (no second metadata lookup)."""
        await check_rate(self.limiter, self.limits, "read", viewer)
        return await self._read(paste, password)

    async def _read(self, paste: Paste, password: str | None) -> Opened:
        texts = tuple([await self.text_of(paste, f, password) for f in paste.files])  # unseal before burning
        if not paste.burn_after_reading:
            self._count_view(paste)
            return Opened(paste, texts)
        if not await self.repo.delete(paste.id):
            raise PasteNotFoundError(f"paste {paste.id!r} was burned after reading")
        await self.forget(paste.id)
        self.stats.record_read()
        return Opened(paste, texts, burned=True)

    async def count_read(self, paste: Paste, viewer: Viewer) -> None:
        """Count a read served without reopening the paste (a cached page); rate limits still apply."""
        assert not paste.burn_after_reading, "burn pastes are read only through open()"
        await check_rate(self.limiter, self.limits, "read", viewer)
        self._count_view(paste)

    def _count_view(self, paste: Paste) -> None:
        self._pending_views[paste.id] += 1  # flushed in batches by flush_views
        self.stats.record_read()

    async def forget(self, paste_id: str) -> None:
        """Drop a paste's cached metadata after it changed (deleted, burned, hidden)."""
        await self.cache.delete(_meta_key(paste_id))

    async def hide(self, paste_id: str) -> None:
        """Moderation: take a paste out of sight of everyone but its owner and admins."""
        await self.repo.set_hidden(paste_id, True)
        await self.forget(paste_id)

    async def highlighted(self, paste: Paste, file: PasteFile, text: str) -> str:
        """Highlighted HTML of one file: from the cache, then the blob store, else rendered and kept."""
        if paste.encrypted or paste.burn_after_reading:
            return await self._highlight(text, file)  # never kept: it would outlive the secret
        key = highlight_key(file.content_hash, file.lexer, render.HIGHLIGHT_VERSION)
        cached = await self.cache.get(key)
        if cached is not None:
            return cached.decode()
        try:
            html = content.decompress(await self.blobs.get(key))
        except BlobNotFoundError:
            html = await self._highlight(text, file)
            await self.blobs.put(key, content.compress(html))
        await self.cache.set(key, html.encode(), self.limits.content_cache_seconds)
        return html

    async def _highlight(self, text: str, file: PasteFile) -> str:
        prefix = f"f{file.position + 1}-L"
        if len(text) <= _HIGHLIGHT_INLINE_BYTES_MAX:
            return render.highlight_html(text, file.lexer, prefix)
        return await asyncio.to_thread(render.highlight_html, text, file.lexer, prefix)

    async def _meta(self, paste_id: str) -> Paste | None:
        if not 1 <= len(paste_id) <= 32:
            return None
        cached = await self.cache.get(_meta_key(paste_id))
        if cached is not None:
            self.stats.record_cache(hit=True)
            return _decode_paste(cached)
        self.stats.record_cache(hit=False)
        # Concurrent misses for one paste (a viral link) share one database read.
        return await self._inflight.run(paste_id, lambda: self._load_meta(paste_id))

    async def _load_meta(self, paste_id: str) -> Paste | None:
        paste = await self.repo.get(paste_id)
        if paste is not None and not paste.burn_after_reading:  # burn pastes always go to the database
            # Jitter spreads the expiry of entries filled together, so they are not all missed at once.
            ttl = self.limits.meta_cache_seconds * self.rng.uniform(0.8, 1.0)
            if paste.expires_at is not None:  # never cache past the paste's own end
                ttl = min(ttl, (paste.expires_at - self.clock.now()).total_seconds())
            await self.cache.set(_meta_key(paste_id), _encode_paste(paste), ttl)
        return paste

    async def text_of(self, paste: Paste, file: PasteFile, password: str | None) -> str:
        if paste.encrypted:
            blob = await self.blobs.get(blob_key(file.content_hash))
            return await asyncio.to_thread(content.unseal, blob, password)
        key = f"text:{file.content_hash}"
        cached = await self.cache.get(key)
        if cached is not None:
            return cached.decode("utf-8")
        text = content.decompress(await self.blobs.get(blob_key(file.content_hash)))
        await self.cache.set(key, text.encode("utf-8"), self.limits.content_cache_seconds)
        return text

    async def flush_views(self) -> int:
        """Write batched view counts (one write per paste per flush, never one per read)."""
        pending, self._pending_views = self._pending_views, Counter()
        if pending:
            await self.repo.add_views(pending, _bucket(self.clock.now()))
        return sum(pending.values())

    # -- remove ------------------------------------------------------------------------------------

    async def get_by_removal_token(self, token: str) -> Paste:
        paste = await self.repo.get_by_removal_hash(token_hash(token)) if len(token) <= 64 else None
        if paste is None:
            raise PasteNotFoundError("no paste has that removal link (it may be gone already)")
        return paste

    async def remove_by_token(self, token: str) -> str:
        paste = await self.get_by_removal_token(token)
        await self._delete(paste.id)
        return paste.id

    async def delete(self, paste_id: str, viewer: Viewer) -> None:
        paste = await self.get(paste_id, viewer)
        if not paste.can_delete(viewer.account_id, is_admin=viewer.is_admin):
            raise ForbiddenError("only the paste's owner can delete it")
        await self._delete(paste.id)

    async def _delete(self, paste_id: str) -> None:
        await self.repo.delete(paste_id)
        await self.forget(paste_id)
        await self.events.publish(
            TOPIC, paste_id.encode(), json.dumps({"type": "paste.deleted", "id": paste_id}).encode()
        )

    # -- discover ----------------------------------------------------------------------------------

    async def list_recent(self, limit: int = 50) -> list[Paste]:
        return await self.repo.list_recent(self.clock.now(), min(limit, DISCOVERY_LIMIT_MAX))

    async def list_trending(self, limit: int = 50) -> list[tuple[Paste, int]]:
        now = self.clock.now()
        return await self.repo.list_trending(now - timedelta(hours=1), now, min(limit, DISCOVERY_LIMIT_MAX))

    async def search(self, query: str, limit: int = 50) -> list[Paste]:
        return await self.repo.search(
            search.parse_query(query), self.clock.now(), min(limit, DISCOVERY_LIMIT_MAX)
        )

    async def list_mine(self, viewer: Viewer, limit: int = 100, offset: int = 0) -> list[Paste]:
        if viewer.account_id is None:
            return []
        return await self.repo.list_by_owner(viewer.account_id, min(limit, 500), offset)

    async def report(self, paste_id: str, reason: str, viewer: Viewer) -> Report:
        await check_rate(self.limiter, self.limits, "report", viewer)
        paste = await self.get(paste_id, viewer)
        reason = reason.strip()[:2000] or "no reason given"
        return await self.reports.add(paste.id, viewer.account_id, reason, self.clock.now())


def _lexer_of(draft: Draft) -> str:
    if draft.lexer:
        return render.normalise_lexer(draft.lexer)
    return render.guess_lexer_alias(draft.content, draft.name)


def _meta_key(paste_id: str) -> str:
    return f"paste:{paste_id}"


def _bucket(now: datetime) -> datetime:
    """Views are bucketed by 5 minutes: trending sums the buckets of the last hour."""
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)


def _encode_paste(paste: Paste) -> bytes:
    data = {
        "id": paste.id,
        "owner_id": paste.owner_id,
        "title": paste.title,
        "visibility": paste.visibility.value,
        "burn": paste.burn_after_reading,
        "encrypted": paste.encrypted,
        "created_at": paste.created_at.timestamp(),
        "expires_at": paste.expires_at.timestamp() if paste.expires_at else None,
        "removal_hash": paste.removal_hash,
        "source": paste.source,
        "view_count": paste.view_count,
        "scan_verdict": paste.scan_verdict,
        "hidden": paste.hidden,
        "files": [[f.position, f.name, f.lexer, f.content_hash, f.size_bytes] for f in paste.files],
    }
    return json.dumps(data, separators=(",", ":")).encode()


def _decode_paste(data: bytes) -> Paste:
    raw = json.loads(data)
    return Paste(
        id=raw["id"],
        owner_id=raw["owner_id"],
        title=raw["title"],
        visibility=Visibility(raw["visibility"]),
        burn_after_reading=raw["burn"],
        encrypted=raw["encrypted"],
        created_at=datetime.fromtimestamp(raw["created_at"], UTC),
        expires_at=datetime.fromtimestamp(raw["expires_at"], UTC) if raw["expires_at"] is not None else None,
        removal_hash=raw["removal_hash"],
        source=raw["source"],
        view_count=raw["view_count"],
        scan_verdict=raw["scan_verdict"],
        hidden=raw["hidden"],
        files=tuple(PasteFile(*f) for f in raw["files"]),
    )
