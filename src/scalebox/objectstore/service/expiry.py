"""The lifecycle job: applies each bucket's lifecycle rules to its versions and uploads.

A pass walks every bucket that has rules, key by key in listing order with each key's versions
newest first, and for each rule that selects them: expires current versions (a delete marker in a
versioned bucket, a deletion otherwise), deletes noncurrent versions for good, removes delete
markers left with no version behind them, and aborts incomplete multipart uploads. What it decides
is the pure functions of `objectstore.lifecycle`; S3 runs the same rules about once a day.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from scalebox.core.clock import Clock
from scalebox.objectstore import lifecycle
from scalebox.objectstore.domain import Bucket, ObjectVersion, new_version_id
from scalebox.objectstore.storage.sql import SqlMetadataStore

log = structlog.get_logger("objectstore.lifecycle")
_PAGE = 1000


@dataclass(slots=True)
class ExpiryTally:
    """What one pass did."""

    buckets: int = 0
    expired: int = 0  # current versions expired
    noncurrent_deleted: int = 0
    markers_removed: int = 0
    uploads_aborted: int = 0


class Expiry:
    """Runs lifecycle passes over the metadata store."""

    def __init__(self, store: SqlMetadataStore, clock: Clock, *, on_garbage: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self._on_garbage = on_garbage
        self.last: ExpiryTally | None = None

    async def run_once(self) -> ExpiryTally:
        """One pass over every bucket with lifecycle rules, at the clock's now."""
        now = self.clock.now()
        tally = ExpiryTally()
        for bucket in await self.store.list_buckets():
            if not bucket.lifecycle_xml:
                continue
            rules = [
                rule for rule in lifecycle.parse_lifecycle(bucket.lifecycle_xml.encode()) if rule.enabled
            ]
            if rules:
                tally.buckets += 1
                await self._versions(bucket, rules, now, tally)
                await self._uploads(bucket, rules, now, tally)
        if tally.expired or tally.noncurrent_deleted or tally.markers_removed or tally.uploads_aborted:
            self._on_garbage()
            log.info("lifecycle pass", **dataclasses.asdict(tally))
        self.last = tally
        return tally

    async def run(self, *, seconds: float) -> None:
        """A pass every `seconds`, until cancelled."""
        while True:
            await self.run_once()
            await asyncio.sleep(seconds)

    async def _versions(
        self, bucket: Bucket, rules: Sequence[lifecycle.LifecycleRule], now: datetime, tally: ExpiryTally
    ) -> None:
        group: list[ObjectVersion] = []
        key_marker, after_sequence = "", None
        while True:
            page = await self.store.scan_versions(
                bucket.id,
                lower="",
                upper=None,
                key_marker=key_marker,
                after_sequence=after_sequence,
                limit=_PAGE,
            )
            for version in page:
                if group and version.key != group[0].key:
                    await self._key(bucket, group, rules, now, tally)
                    group = []
                group.append(version)
            if len(page) < _PAGE:
                break
            key_marker, after_sequence = page[-1].key, page[-1].sequence
        if group:
            await self._key(bucket, group, rules, now, tally)

    async def _key(
        self,
        bucket: Bucket,
        versions: list[ObjectVersion],
        rules: Sequence[lifecycle.LifecycleRule],
        now: datetime,
        tally: ExpiryTally,
    ) -> None:
        """Apply the rules to one key's versions, newest first."""
        latest = versions[0] if versions[0].is_latest else None
        if (
            latest is not None
            and not latest.is_delete_marker
            and any(
                lifecycle.expires_current(
                    rule,
                    key=latest.key,
                    tags=latest.tags,
                    size=latest.size,
                    last_modified=latest.last_modified,
                    now=now,
                )
                for rule in rules
            )
        ):
            marker = ObjectVersion(
                bucket_id=bucket.id,
                key=latest.key,
                version_id=new_version_id(),
                last_modified=now,
                is_delete_marker=True,
                owner=latest.owner,
            )
            await self.store.delete_object(bucket.id, latest.key, None, bucket.versioning, marker)
            tally.expired += 1
            return  # the key's versions changed; the next pass sees them as they are now
        kept: list[ObjectVersion] = []
        newer_noncurrent = 0
        for index, version in enumerate(versions):
            if version.is_latest:
                kept.append(version)
                continue
            replaced_at = versions[index - 1].last_modified if index else version.last_modified
            if not version.is_delete_marker and any(
                lifecycle.expires_noncurrent(
                    rule,
                    key=version.key,
                    tags=version.tags,
                    size=version.size,
                    noncurrent_since=replaced_at,
                    newer_noncurrent_count=newer_noncurrent,
                    now=now,
                )
                for rule in rules
            ):
                await self.store.delete_object(
                    bucket.id, version.key, version.version_id, bucket.versioning, version
                )
                tally.noncurrent_deleted += 1
                continue
            kept.append(version)
            newer_noncurrent += 1
        if (
            len(kept) == 1
            and kept[0].is_latest
            and kept[0].is_delete_marker
            and any(
                lifecycle.removes_delete_marker(rule, key=kept[0].key, is_only_version=True) for rule in rules
            )
        ):
            await self.store.delete_object(
                bucket.id, kept[0].key, kept[0].version_id, bucket.versioning, kept[0]
            )
            tally.markers_removed += 1

    async def _uploads(
        self, bucket: Bucket, rules: Sequence[lifecycle.LifecycleRule], now: datetime, tally: ExpiryTally
    ) -> None:
        key_marker, upload_marker = "", ""
        while True:
            page = await self.store.list_uploads(
                bucket.id,
                lower="",
                upper=None,
                key_marker=key_marker,
                upload_id_marker=upload_marker,
                limit=_PAGE,
            )
            for upload in page:
                if any(
                    lifecycle.aborts_upload(rule, key=upload.key, initiated=upload.initiated, now=now)
                    for rule in rules
                ):
                    await self.store.abort_upload(upload.upload_id, now)
                    tally.uploads_aborted += 1
            if len(page) < _PAGE:
                return
            key_marker, upload_marker = page[-1].key, page[-1].upload_id
