"""One log segment: a .log file of record batches plus its sparse .index and .timeindex.

Files are named by the segment's base offset in 20 digits, as Kafka names them. The segment
reads and writes through raw file descriptors; the partition log owns their lifetime.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from scalebox.core.errors import IntegrityError
from scalebox.eventlog.protocol.records import (
    BATCH_HEADER_BYTES,
    BATCH_LENGTH_MIN,
    BatchHeader,
    batch_crc,
    read_header,
)
from scalebox.eventlog.storage.index import OffsetIndex, TimeIndex

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
CLEANED_SUFFIX = ".cleaned"  # a compaction output not yet swapped in
TEMPORARY_SUFFIX = ".tmp"  # an index file being rewritten
RELATIVE_OFFSET_MAX = 2**31 - 1  # .index holds int32 relative offsets
_READ_CHUNK_BYTES = 1024 * 1024
_HEADER_CHUNK_BYTES = 16 * 1024

datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def segment_path(directory: Path, base_offset: int, suffix: str) -> Path:
    return directory / f"{base_offset:020d}{suffix}"


def write_fully(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves either the old or the new file, never half."""
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_fully(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def iter_batches(fd: int, end: int, position: int = 0) -> Iterator[tuple[int, BatchHeader, memoryview]]:
    """Whole batches from `position` to `end`, read in large chunks; stops at a torn header."""
    chunk, chunk_start = b"", position
    while end - position >= BATCH_HEADER_BYTES:
        if position + BATCH_HEADER_BYTES > chunk_start + len(chunk):
            chunk, chunk_start = os.pread(fd, min(_READ_CHUNK_BYTES, end - position), position), position
        header = read_header(chunk, position - chunk_start)
        if header.batch_length < BATCH_LENGTH_MIN or header.size > end - position:
            return
        if position + header.size > chunk_start + len(chunk):
            chunk = os.pread(fd, min(max(_READ_CHUNK_BYTES, header.size), end - position), position)
            chunk_start = position
        offset = position - chunk_start
        yield position, header, memoryview(chunk)[offset : offset + header.size]
        position += header.size


def iter_headers(fd: int, end: int, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
    """Batch headers from `position` to `end`, skipping bodies; on-disk garbage is an IntegrityError."""
    chunk, chunk_start = b"", position
    while position < end:
        if position + BATCH_HEADER_BYTES > chunk_start + len(chunk):
            chunk = os.pread(fd, max(BATCH_HEADER_BYTES, _HEADER_CHUNK_BYTES), position)
            chunk_start = position
        if len(chunk) < BATCH_HEADER_BYTES:
            raise IntegrityError(f"log segment ends inside a batch header at byte {position}")
        header = read_header(chunk, position - chunk_start)
        if header.magic != 2 or header.batch_length < BATCH_LENGTH_MIN or header.size > end - position:
            raise IntegrityError(f"log segment holds a malformed batch at byte {position}")
        yield position, header
        position += header.size


class Segment:
    """A segment's file descriptor, size, end offset, largest timestamp and in-memory indexes."""

    def __init__(self, directory: Path, base_offset: int, fd: int) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.fd = fd
        self.size_bytes = 0
        self.next_offset = base_offset  # exact for scanned and active segments
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset  # base offset of the batch holding it
        self.first_append_ms: int | None = None
        self.index = OffsetIndex()
        self.time_index = TimeIndex()
        self.closed = False
        self._bytes_since_index = 0
        self._index_fd: int | None = None
        self._time_index_fd: int | None = None

    def path(self, suffix: str = LOG_SUFFIX) -> Path:
        return segment_path(self.directory, self.base_offset, suffix)

    @classmethod
    def create(cls, directory: Path, base_offset: int) -> Segment:
        """A new, empty active segment."""
        path = segment_path(directory, base_offset, LOG_SUFFIX)
        segment = cls(
            directory, base_offset, os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        )
        segment.open_indexes(truncate=True)
        return segment

    @classmethod
    def load(cls, directory: Path, base_offset: int, *, index_interval_bytes: int, recover: bool) -> Segment:
        """An existing segment: trusted when its indexes check out, else scanned and truncated."""
        fd = os.open(segment_path(directory, base_offset, LOG_SUFFIX), os.O_RDWR | os.O_APPEND)
        segment = cls(directory, base_offset, fd)
        segment.size_bytes = os.fstat(fd).st_size
        if recover or not segment._load_indexes():
            segment.recover(index_interval_bytes)
            segment.write_indexes()
        return segment

    def _load_indexes(self) -> bool:
        try:
            offsets = OffsetIndex.decode(self.path(INDEX_SUFFIX).read_bytes(), self.size_bytes)
            times = TimeIndex.decode(self.path(TIME_INDEX_SUFFIX).read_bytes())
        except FileNotFoundError:
            return False
        if offsets is None or times is None or (self.size_bytes and not times):
            return False
        self.index, self.time_index = offsets, times
        if times:
            self.max_timestamp = times.timestamps[-1]
            self.offset_of_max_timestamp = self.base_offset + times.relative_offsets[-1]
        # Walk the tail from the last indexed batch: it must start where the index says and the
        # batches must end exactly at the end of the file.
        position = offsets.lookup(RELATIVE_OFFSET_MAX)
        try:
            for i, (_, header) in enumerate(iter_headers(self.fd, self.size_bytes, position)):
                if (
                    i == 0
                    and offsets
                    and header.base_offset != self.base_offset + offsets.relative_offsets[-1]
                ):
                    return False
                self.next_offset = header.next_offset
        except IntegrityError:
            return False
        return True

    def recover(self, interval: int) -> None:
        """Scan every batch checking its layout, offsets and CRC; truncate at the first bad one.

        Rebuilds the in-memory indexes only: the caller writes them with `write_indexes`.
        """
        end = self.size_bytes
        self.size_bytes, self.next_offset, self._bytes_since_index = 0, self.base_offset, 0
        self.index, self.time_index = OffsetIndex(), TimeIndex()
        self.max_timestamp, self.offset_of_max_timestamp = -1, self.base_offset
        for position, header, batch in iter_batches(self.fd, end):
            if not self._plausible(header) or batch_crc(batch, 0, header.size) != header.crc:
                break
            if position == 0:
                self.first_append_ms = header.max_timestamp
            self.track(header.base_offset, header.next_offset, header.max_timestamp, header.size, interval)
        self.time_entry()
        if self.size_bytes < end:
            os.ftruncate(self.fd, self.size_bytes)  # a torn write from a crash, or corruption
            os.fsync(self.fd)

    def _plausible(self, header: BatchHeader) -> bool:
        return (
            header.magic == 2
            and header.base_offset >= self.next_offset
            and header.last_offset_delta >= 0
            and header.records_count >= 0
            and header.last_offset - self.base_offset <= RELATIVE_OFFSET_MAX
        )

    def track(
        self, base_offset: int, next_offset: int, max_timestamp: int, size: int, interval: int
    ) -> bytes:
        """Account for a batch written at the end; returns new .index bytes (Kafka's cadence)."""
        entry = b""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = max_timestamp, base_offset
        if self._bytes_since_index > interval:
            entry = self.index.append(base_offset - self.base_offset, self.size_bytes)
            self._bytes_since_index = 0
        self._bytes_since_index += size
        self.size_bytes += size
        self.next_offset = next_offset
        return entry

    def time_entry(self) -> bytes:
        """A .timeindex entry when the largest timestamp grew since the last one, else b""."""
        if self.max_timestamp <= self.time_index.last_timestamp:
            return b""
        return self.time_index.append(self.max_timestamp, self.offset_of_max_timestamp - self.base_offset)

    def append(
        self, data: bytes | bytearray, batches: list[tuple[int, int, int, int]], interval: int
    ) -> None:
        """Write whole batches (base offset, next offset, max timestamp, size each); no fsync."""
        start = self.size_bytes
        try:
            write_fully(self.fd, data)
        except OSError:
            os.ftruncate(self.fd, start)  # keep the file a sequence of whole batches
            raise
        index_entries = bytearray()
        time_entries = bytearray()
        for base_offset, next_offset, max_timestamp, size in batches:
            indexed = self.track(base_offset, next_offset, max_timestamp, size, interval)
            if indexed:
                index_entries += indexed
                time_entries += self.time_entry()
        assert self.size_bytes == start + len(data), (self.size_bytes, start, len(data))
        if index_entries and self._index_fd is not None and self._time_index_fd is not None:
            write_fully(self._index_fd, index_entries)
            write_fully(self._time_index_fd, time_entries)

    def open_indexes(self, *, truncate: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        self._index_fd = os.open(self.path(INDEX_SUFFIX), flags, 0o644)
        self._time_index_fd = os.open(self.path(TIME_INDEX_SUFFIX), flags, 0o644)

    def write_indexes(self) -> None:
        """Rewrite both index files from memory, each atomically."""
        write_file_atomically(self.path(INDEX_SUFFIX), self.index.encode())
        write_file_atomically(self.path(TIME_INDEX_SUFFIX), self.time_index.encode())

    def seal(self) -> None:
        """Make an outgoing active segment final: last time entry, everything fsynced, indexes closed."""
        if self._time_index_fd is not None:
            write_fully(self._time_index_fd, self.time_entry())
        datasync(self.fd)
        for fd in (self._index_fd, self._time_index_fd):
            if fd is not None:
                os.fsync(fd)
                os.close(fd)
        self._index_fd = self._time_index_fd = None

    def read(self, position: int, size: int) -> bytes:
        return os.pread(self.fd, size, position)

    def headers(self, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        return iter_headers(self.fd, self.size_bytes, position)

    def find_position(self, offset: int) -> int | None:
        """Position of the first batch whose last offset is >= `offset`, or None past the end."""
        for position, header in self.headers(self.index.lookup(offset - self.base_offset)):
            if header.last_offset >= offset:
                return position
        return None

    def timestamp_search_start(self, timestamp: int) -> int:
        """A position before which no batch holds a record at or after `timestamp`."""
        relative_offset = self.time_index.search_start(timestamp)
        return 0 if relative_offset is None else self.index.lookup(relative_offset)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in (self._index_fd, self._time_index_fd, self.fd):
            if fd is not None:
                os.close(fd)
        self._index_fd = self._time_index_fd = None

    def remove_files(self) -> None:
        """Delete the log first, so a crash can only leave orphan indexes (cleaned up on open)."""
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            self.path(suffix).unlink(missing_ok=True)
