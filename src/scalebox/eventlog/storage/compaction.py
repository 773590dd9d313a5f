"""Log compaction (Kafka's log cleaner, simplified): keep only the latest record of every key.

Pure record decisions plus the streaming rewrite of one segment file; `PartitionLog.compact`
picks the segments, and swaps the results in under its lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from scalebox.eventlog.protocol.records import (
    BatchHeader,
    NewRecord,
    Record,
    decode_records,
    encode_batch,
)
from scalebox.eventlog.storage.segment import iter_batches, write_fully

_WRITE_CHUNK_BYTES = 1024 * 1024


@dataclass
class CompactionStats:
    """What one `compact()` call did, over the segments it examined."""

    segments_cleaned: int = 0  # segments rewritten (or removed, when nothing survived)
    records_before: int = 0
    records_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


@dataclass
class Cleaner:
    """One compaction pass: the key -> latest offset map, the tombstone horizon, running stats."""

    tombstone_horizon_ms: int
    latest: dict[bytes, int] = field(default_factory=dict)
    stats: CompactionStats = field(default_factory=CompactionStats)

    def collect(self, fd: int, end: int) -> None:
        """Note the offset of every keyed record in the file up to `end` (later ones win)."""
        latest = self.latest
        for _, header, batch in iter_batches(fd, end):
            if header.is_control:
                continue  # transaction markers have keys of their own, not the topic's
            for record in decode_records(batch):
                if record.key is not None:
                    latest[record.key] = record.offset

    def is_retained(self, record: Record) -> bool:
        """The latest record of its key, unless it is a tombstone older than the horizon."""
        if record.key is None or self.latest.get(record.key) != record.offset:
            return False
        return record.value is not None or record.timestamp >= self.tombstone_horizon_ms

    def clean_batch(self, batch: memoryview, header: BatchHeader) -> bytes | memoryview | None:
        """What to write instead of `batch`: itself, a smaller re-encoded copy, or nothing."""
        if header.is_control:
            return batch
        records = decode_records(batch)
        kept = [record for record in records if self.is_retained(record)]
        self.stats.records_before += len(records)
        self.stats.records_after += len(kept)
        if len(kept) == len(records):
            return batch  # untouched batches stay byte-identical
        if not kept:
            return None
        return encode_batch(
            [NewRecord(r.key, r.value, r.timestamp, r.headers, r.offset - header.base_offset) for r in kept],
            base_offset=header.base_offset,
            producer_id=header.producer_id,
            producer_epoch=header.producer_epoch,
            base_sequence=header.base_sequence,
            transactional=header.is_transactional,
            partition_leader_epoch=header.partition_leader_epoch,
        )

    def clean_segment(self, fd: int, end: int, out_fd: int) -> bool:
        """Write the retained batches of `fd` (up to `end`) to `out_fd`; True if anything changed."""
        changed = False
        pending = bytearray()
        for _, header, batch in iter_batches(fd, end):
            kept = self.clean_batch(batch, header)
            self.stats.bytes_before += header.size
            changed = changed or kept is not batch
            if kept is not None:
                self.stats.bytes_after += len(kept)
                pending += kept
            if len(pending) >= _WRITE_CHUNK_BYTES:
                write_fully(out_fd, pending)
                pending.clear()
        write_fully(out_fd, pending)
        if changed:
            os.fsync(out_fd)
        return changed
