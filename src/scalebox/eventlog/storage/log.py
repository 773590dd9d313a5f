"""A partition's log: one directory of segments, with offsets, reads, retention and compaction.

Threading: append, read, retention and rolls run on one thread (the event loop); flush() and
compact() may run in worker threads. `_lock` guards the segment list and every fd's lifetime;
reads hold it, appends take it only to roll, flush holds it just long enough to dup the fd.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from pathlib import Path

from scalebox.core.files import fsync_directory
from scalebox.eventlog.domain import TopicConfig
from scalebox.eventlog.errors import OffsetOutOfRangeError
from scalebox.eventlog.protocol.records import (
    BATCH_HEADER_BYTES,
    BATCH_LENGTH_MIN,
    LOG_OVERHEAD_BYTES,
    BatchHeader,
    NewRecord,
    decode_records,
    encode_batch,
    read_header,
    set_base_offset,
    set_log_append_time,
)
from scalebox.eventlog.storage.compaction import Cleaner, CompactionStats
from scalebox.eventlog.storage.index import OFFSET_ENTRY_BYTES, TIME_ENTRY_BYTES
from scalebox.eventlog.storage.segment import (
    CLEANED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    RELATIVE_OFFSET_MAX,
    TEMPORARY_SUFFIX,
    TIME_INDEX_SUFFIX,
    Segment,
    datasync,
    write_file_atomically,
)

LOG_START_CHECKPOINT = "log-start-offset.checkpoint"
_BATCH_LENGTH = struct.Struct(">i")


class PartitionLog:
    """The segments of one topic-partition, oldest first; the last one is active (appended to)."""

    def __init__(self, directory: Path, config: TopicConfig, segments: list[Segment], start: int) -> None:
        assert segments
        self._directory = directory
        self._config = config
        self._segments = segments
        self._lock = threading.Lock()
        self._compaction_lock = threading.Lock()
        self._log_start_offset = start
        self._log_end_offset = segments[-1].next_offset
        self._durable_offset = self._log_end_offset
        self._closed = False

    @classmethod
    def open(cls, directory: Path, config: TopicConfig, now_ms: int) -> PartitionLog:
        """Open the partition in `directory`, creating it, or recovering it after a crash."""
        directory.mkdir(parents=True, exist_ok=True)
        bases = _discard_leftovers(directory)
        interval = config.index_interval_bytes
        segments = [
            Segment.load(directory, base, index_interval_bytes=interval, recover=base == bases[-1])
            for base in bases
        ]
        checkpoint = _read_log_start(directory)
        if segments:
            segments[-1].open_indexes(truncate=False)
        else:
            segments.append(Segment.create(directory, checkpoint or 0))
            fsync_directory(directory)
        active = segments[-1]
        datasync(active.fd)  # what survived a process crash may still be only in the page cache
        if active.first_append_ms is None or active.first_append_ms < 0:
            active.first_append_ms = now_ms if active.size_bytes else None
        end = active.next_offset
        start = segments[0].base_offset if checkpoint is None else checkpoint
        return cls(directory, config, segments, min(max(start, 0), end))

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._log_end_offset

    @property
    def durable_offset(self) -> int:
        return self._durable_offset

    @property
    def size_bytes(self) -> int:
        return sum(segment.size_bytes for segment in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def config(self) -> TopicConfig:
        return self._config

    def append(
        self, data: bytes | bytearray | memoryview, headers: Sequence[BatchHeader], now_ms: int
    ) -> int:
        """Assign offsets to validated batches, write them (no fsync); returns the first offset."""
        assert headers, "append needs at least one batch"
        assert not self._closed, "log is closed"
        first = self._log_end_offset
        last = first + sum(header.last_offset_delta + 1 for header in headers) - 1
        self._roll_if_needed(len(data), len(headers), last, now_ms)
        buffer = bytearray(data)  # the one copy: offsets (and maybe timestamps) are patched in it
        log_append_time = self._config.message_timestamp_type == "LogAppendTime"
        batches: list[tuple[int, int, int, int]] = []
        offset, position = first, 0
        for header in headers:
            set_base_offset(buffer, position, offset)
            if log_append_time:
                set_log_append_time(buffer, position, now_ms)
            next_offset = offset + header.last_offset_delta + 1
            batches.append(
                (offset, next_offset, now_ms if log_append_time else header.max_timestamp, header.size)
            )
            offset, position = next_offset, position + header.size
        assert position == len(buffer), "headers do not describe the data"
        active = self._segments[-1]
        active.append(buffer, batches, self._config.index_interval_bytes)
        if active.first_append_ms is None:
            active.first_append_ms = now_ms
        self._log_end_offset = offset  # after the write: flush() trusts everything below it
        return first

    def append_records(self, records: Sequence[NewRecord], now_ms: int) -> int:
        """Encode `records` as one uncompressed batch and append it (internal topics)."""
        data = encode_batch(records)
        return self.append(data, [read_header(data)], now_ms)

    def _roll_if_needed(self, size: int, batch_count: int, last_offset: int, now_ms: int) -> None:
        active, config = self._segments[-1], self._config
        if active.size_bytes == 0:
            return
        if (
            active.size_bytes + size > config.segment_bytes
            or self._aged(active, now_ms)
            or (len(active.index) + batch_count) * OFFSET_ENTRY_BYTES > config.segment_index_bytes
            or (len(active.time_index) + batch_count) * TIME_ENTRY_BYTES > config.segment_index_bytes
            or last_offset - active.base_offset > RELATIVE_OFFSET_MAX
        ):
            self._roll()

    def _aged(self, segment: Segment, now_ms: int) -> bool:
        started = segment.first_append_ms
        return started is not None and now_ms - started > self._config.segment_ms

    def _roll(self) -> None:
        with self._lock:
            outgoing = self._segments[-1]
            outgoing.seal()  # log and indexes fsynced before the new segment exists
            self._segments.append(Segment.create(self._directory, self._log_end_offset))
            fsync_directory(self._directory)
            self._durable_offset = max(self._durable_offset, outgoing.next_offset)

    def roll_if_due(self, now_ms: int) -> bool:
        """Roll a non-empty active segment older than segment.ms."""
        active = self._segments[-1]
        if self._closed or active.size_bytes == 0 or not self._aged(active, now_ms):
            return False
        self._roll()
        return True

    def flush(self) -> int:
        """Fsync what was written since the last flush; returns the new durable offset.

        Safe from a worker thread: the fd is duplicated under the lock, so a concurrent roll or
        close cannot close it under the fsync, and the lock is not held while the disk works.
        """
        with self._lock:
            end = self._log_end_offset
            if self._closed or end <= self._durable_offset:
                return self._durable_offset
            fd = os.dup(self._segments[-1].fd)
        try:
            datasync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._durable_offset = max(self._durable_offset, end)
            return self._durable_offset

    def read(self, offset: int, max_bytes: int) -> bytes:
        """Whole batches from the one holding `offset`, at most `max_bytes` (but at least one, KIP-74)."""
        with self._lock:
            self._check_offset(offset)
            if offset == self._log_end_offset:
                return b""
            chunks: list[memoryview] = []
            remaining = max_bytes
            for segment in self._segments[self._segment_index(offset) :]:
                position = segment.find_position(offset)
                if position is None:
                    continue  # compaction emptied the rest of this segment
                available = segment.size_bytes - position
                data = segment.read(position, max(0, min(remaining, available)))
                whole = _whole_batches_bytes(data)
                if not whole:
                    return _read_first_batch(segment, position) if not chunks else b"".join(chunks)
                chunks.append(memoryview(data)[:whole])
                remaining -= whole
                if whole < available:
                    break
            return b"".join(chunks)

    def _check_offset(self, offset: int) -> None:
        assert not self._closed, "log is closed"
        if not self._log_start_offset <= offset <= self._log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside [{self._log_start_offset}, {self._log_end_offset}]"
            )

    def _segment_index(self, offset: int) -> int:
        return max(0, bisect_right(self._segments, offset, key=_base_offset) - 1)

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record stamped at or after `timestamp_ms`, if any."""
        with self._lock:
            start = self._log_start_offset
            for segment in self._segments:
                if segment.max_timestamp < timestamp_ms:
                    continue
                for position, header in segment.headers(segment.timestamp_search_start(timestamp_ms)):
                    if header.max_timestamp < timestamp_ms or header.last_offset < start:
                        continue
                    for record in decode_records(segment.read(position, header.size)):
                        if record.timestamp >= timestamp_ms and record.offset >= start:
                            return record.offset, record.timestamp
            return None

    def max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets MAX_TIMESTAMP)."""
        with self._lock:
            best = max(self._segments, key=lambda segment: segment.max_timestamp)
            if best.max_timestamp < 0:
                return None
            position = best.find_position(best.offset_of_max_timestamp)
            assert position is not None, "the batch holding a segment's largest timestamp is gone"
            header = read_header(best.read(position, BATCH_HEADER_BYTES))
            for record in decode_records(best.read(position, header.size)):
                if record.timestamp == best.max_timestamp:
                    return record.offset, record.timestamp
            return header.last_offset, header.max_timestamp  # a header claiming more than its records

    def batch_headers(self, start_offset: int = 0) -> Iterator[BatchHeader]:
        """Every batch header from the batch holding `start_offset`, one segment at a time."""
        index = self._segment_index(start_offset)
        while True:
            with self._lock:
                if self._closed or index >= len(self._segments):
                    return
                segment = self._segments[index]
                position = segment.find_position(start_offset)
                headers = [] if position is None else [header for _, header in segment.headers(position)]
            yield from headers
            index += 1

    def enforce_retention(self, now_ms: int) -> int:
        """Delete whole closed segments past retention.ms or retention.bytes; returns how many."""
        config = self._config
        if not config.deletes:
            return 0
        with self._lock:
            if self._closed:
                return 0  # a background job racing shutdown
            size = sum(segment.size_bytes for segment in self._segments)
            doomed = 0
            for segment in self._segments[:-1]:
                expired = config.retention_ms >= 0 and now_ms - segment.max_timestamp > config.retention_ms
                # Kafka's rule: delete the oldest while what stays is still at least retention.bytes.
                oversized = (
                    config.retention_bytes >= 0 and size - segment.size_bytes >= config.retention_bytes
                )
                if not (expired or oversized):
                    break
                doomed += 1
                size -= segment.size_bytes
            if doomed:
                self._advance_log_start(self._segments[doomed].base_offset)
                for segment in self._segments[:doomed]:
                    segment.close()
                    segment.remove_files()
                del self._segments[:doomed]
            return doomed

    def _advance_log_start(self, offset: int) -> None:
        # Checkpointed before any file goes, so a restart never sees offsets come back.
        if offset > self._log_start_offset:
            write_file_atomically(self._directory / LOG_START_CHECKPOINT, f"{offset}\n".encode())
            fsync_directory(self._directory)
            self._log_start_offset = offset

    def compact(self, now_ms: int) -> CompactionStats:
        """Keep only the latest record per key in closed segments older than min.compaction.lag.ms.

        Safe from a worker thread. Each rewritten segment is built as a ".cleaned" file, fsynced,
        then swapped in under the lock, so concurrent reads see either the old or the new file.
        """
        if not self._config.compacted or not self._compaction_lock.acquire(blocking=False):
            return CompactionStats()
        try:
            with self._lock:
                if self._closed:
                    return CompactionStats()  # a background job racing shutdown
                # Own fds, so a concurrent retention or close cannot pull files from under us.
                snapshot = [(segment, os.dup(segment.fd), segment.size_bytes) for segment in self._segments]
                lag_horizon_ms = now_ms - self._config.min_compaction_lag_ms
                cleaner = Cleaner(now_ms - self._config.delete_retention_ms)
            try:
                cleanable = 0
                while (
                    cleanable < len(snapshot) - 1 and snapshot[cleanable][0].max_timestamp <= lag_horizon_ms
                ):
                    cleanable += 1
                if cleanable:
                    for _, fd, size in snapshot:
                        cleaner.collect(fd, size)
                    for segment, fd, size in snapshot[:cleanable]:
                        self._clean(segment, fd, size, cleaner)
            finally:
                for _, fd, _ in snapshot:
                    os.close(fd)
            return cleaner.stats
        finally:
            self._compaction_lock.release()

    def _clean(self, segment: Segment, fd: int, size: int, cleaner: Cleaner) -> None:
        cleaned_path = segment.path(LOG_SUFFIX + CLEANED_SUFFIX)
        out_fd = os.open(cleaned_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        replacement = Segment(self._directory, segment.base_offset, out_fd)
        retired = [replacement]
        try:
            if not cleaner.clean_segment(fd, size, out_fd):
                return
            replacement.size_bytes = os.fstat(out_fd).st_size
            replacement.recover(self._config.index_interval_bytes)  # indexes, outside the lock
            with self._lock:
                if self._closed or segment not in self._segments:
                    return  # retention or close got there first
                survivor = replacement if replacement.size_bytes else None
                self._swap(segment, survivor)
                retired = [segment] if survivor else [segment, replacement]
                for old in retired:
                    old.close()  # under the lock: no read can be using it
                cleaner.stats.segments_cleaned += 1
        finally:
            for old in retired:
                old.close()
            cleaned_path.unlink(missing_ok=True)

    def _swap(self, old: Segment, new: Segment | None) -> None:
        # Crash-safe order: indexes go first, so any crash leaves a log whose indexes are
        # missing (rebuilt on open) rather than stale.
        old.path(INDEX_SUFFIX).unlink(missing_ok=True)
        old.path(TIME_INDEX_SUFFIX).unlink(missing_ok=True)
        i = self._segments.index(old)
        if new is None:
            old.path(LOG_SUFFIX).unlink()
            del self._segments[i]
        else:
            os.replace(new.path(LOG_SUFFIX + CLEANED_SUFFIX), old.path(LOG_SUFFIX))
            new.write_indexes()
            self._segments[i] = new
        fsync_directory(self._directory)

    def reconfigure(self, config: TopicConfig) -> None:
        self._config = config

    def close(self) -> None:
        """Fsync the active segment and close every file."""
        with self._lock:
            if self._closed:
                return
            self._segments[-1].seal()
            for segment in self._segments:
                segment.close()
            self._durable_offset = self._log_end_offset
            self._closed = True

    def delete(self) -> None:
        """Close the log and remove its directory."""
        self.close()
        shutil.rmtree(self._directory)


def _base_offset(segment: Segment) -> int:
    return segment.base_offset


def _whole_batches_bytes(data: bytes) -> int:
    """Length of the longest prefix of `data` made of whole batches."""
    position = 0
    while len(data) - position >= LOG_OVERHEAD_BYTES:
        (batch_length,) = _BATCH_LENGTH.unpack_from(data, position + 8)
        size = LOG_OVERHEAD_BYTES + batch_length
        if batch_length < BATCH_LENGTH_MIN or size > len(data) - position:
            break
        position += size
    return position


def _read_first_batch(segment: Segment, position: int) -> bytes:
    (batch_length,) = _BATCH_LENGTH.unpack_from(segment.read(position + 8, 4))
    return segment.read(position, LOG_OVERHEAD_BYTES + batch_length)


def _discard_leftovers(directory: Path) -> list[int]:
    """Remove what an interrupted compaction or index rewrite left; returns the segment bases."""
    bases: set[int] = set()
    indexes: list[Path] = []
    for path in directory.iterdir():
        name = path.name
        if name.endswith((CLEANED_SUFFIX, TEMPORARY_SUFFIX, ".swap")):
            path.unlink()
        elif name.endswith(LOG_SUFFIX) and len(path.stem) == 20 and path.stem.isdigit():
            bases.add(int(path.stem))
        elif name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX)):
            indexes.append(path)
    for path in indexes:
        if not path.stem.isdigit() or int(path.stem) not in bases:
            path.unlink()  # orphaned by a deletion that crashed halfway
    return sorted(bases)


def _read_log_start(directory: Path) -> int | None:
    try:
        return int((directory / LOG_START_CHECKPOINT).read_text())
    except (FileNotFoundError, ValueError):
        return None


__all__ = ["LOG_START_CHECKPOINT", "CompactionStats", "PartitionLog"]
