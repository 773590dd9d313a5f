"""A segment's sparse offset index and time index: held in memory, mirrored to Kafka-style files.

.index entries are (int32 offset relative to the segment base, int32 byte position) of indexed
batches; .timeindex entries are (int64 largest timestamp so far, int32 relative offset of the
batch that holds it). Both are big-endian and strictly increasing, so lookups are bisections.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
OFFSET_ENTRY_BYTES = _OFFSET_ENTRY.size
TIME_ENTRY_BYTES = _TIME_ENTRY.size


class OffsetIndex:
    """Relative offset -> byte position of some batches, one every index.interval.bytes."""

    def __init__(self) -> None:
        self.relative_offsets = array("q")
        self.positions = array("q")

    def __len__(self) -> int:
        return len(self.relative_offsets)

    def append(self, relative_offset: int, position: int) -> bytes:
        """Record an entry; returns its file encoding."""
        assert not self.positions or (
            relative_offset > self.relative_offsets[-1] and position > self.positions[-1]
        ), (relative_offset, position)
        self.relative_offsets.append(relative_offset)
        self.positions.append(position)
        return _OFFSET_ENTRY.pack(relative_offset, position)

    def lookup(self, relative_offset: int) -> int:
        """Position of the last indexed batch starting at or before `relative_offset` (else 0)."""
        i = bisect_right(self.relative_offsets, relative_offset)
        return self.positions[i - 1] if i else 0

    def encode(self) -> bytes:
        return b"".join(
            _OFFSET_ENTRY.pack(o, p) for o, p in zip(self.relative_offsets, self.positions, strict=True)
        )

    @classmethod
    def decode(cls, data: bytes, log_size_bytes: int) -> OffsetIndex | None:
        """The index a file holds, or None when it is torn or does not fit its log."""
        if len(data) % OFFSET_ENTRY_BYTES:
            return None
        index = cls()
        for relative_offset, position in _OFFSET_ENTRY.iter_unpack(data):
            if relative_offset < 0 or not 0 < position < log_size_bytes:
                return None
            if index.positions and (
                relative_offset <= index.relative_offsets[-1] or position <= index.positions[-1]
            ):
                return None
            index.relative_offsets.append(relative_offset)
            index.positions.append(position)
        return index


class TimeIndex:
    """Largest timestamp so far -> the batch that first reached it, at the offset index's cadence."""

    def __init__(self) -> None:
        self.timestamps = array("q")
        self.relative_offsets = array("q")

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def last_timestamp(self) -> int:
        return self.timestamps[-1] if self.timestamps else -1

    def append(self, timestamp: int, relative_offset: int) -> bytes:
        assert timestamp > self.last_timestamp, (timestamp, self.last_timestamp)
        self.timestamps.append(timestamp)
        self.relative_offsets.append(relative_offset)
        return _TIME_ENTRY.pack(timestamp, relative_offset)

    def search_start(self, timestamp: int) -> int | None:
        """A relative offset before which every record is older than `timestamp` (None: scan all).

        An entry (t, o) is written after every record up to its batch was seen, all with
        timestamps <= t; so the last entry with t < target bounds what can be skipped.
        """
        i = bisect_left(self.timestamps, timestamp)
        return self.relative_offsets[i - 1] if i else None

    def encode(self) -> bytes:
        return b"".join(
            _TIME_ENTRY.pack(t, o) for t, o in zip(self.timestamps, self.relative_offsets, strict=True)
        )

    @classmethod
    def decode(cls, data: bytes) -> TimeIndex | None:
        if len(data) % TIME_ENTRY_BYTES:
            return None
        index = cls()
        for timestamp, relative_offset in _TIME_ENTRY.iter_unpack(data):
            if relative_offset < 0 or timestamp <= index.last_timestamp:
                return None
            if index.relative_offsets and relative_offset < index.relative_offsets[-1]:
                return None
            index.timestamps.append(timestamp)
            index.relative_offsets.append(relative_offset)
        return index
