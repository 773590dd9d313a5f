"""The sequenced input journal: append-only segment files of checksummed, hash-chained records.

Record layout (little-endian):
    u32 payload length | u32 CRC-32 of everything after this field | u64 sequence
    | i64 timestamp (ns since the epoch) | 16 bytes chain | payload
where chain = BLAKE2b-128(previous chain || sequence || timestamp || payload) and the first
record chains from 16 zero bytes. The CRC finds torn or flipped bytes; the chain makes the log
tamper-evident (change one record and every later chain value differs).

`append` writes a batch and fsyncs once (group commit). At open, a torn tail (a record cut
short by a crash) is truncated; a record that is complete but fails its checks is corruption
and raises rather than being silently dropped.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from scalebox.core.files import fsync_directory
from scalebox.exchange.errors import JournalCorruptError

_HEADER = struct.Struct("<IIQq16s")
HEADER_BYTES = _HEADER.size
GENESIS = bytes(16)
PAYLOAD_BYTES_MAX = 1 << 20
_SUFFIX = ".journal"


class JournalRecord(NamedTuple):
    sequence: int
    timestamp_ns: int
    payload: bytes
    chain: bytes


def chain_of(previous: bytes, sequence: int, timestamp_ns: int, payload: bytes) -> bytes:
    digest = hashlib.blake2b(previous, digest_size=16)
    digest.update(struct.pack("<Qq", sequence, timestamp_ns))
    digest.update(payload)
    return digest.digest()


def encode_record(sequence: int, timestamp_ns: int, payload: bytes, chain: bytes) -> bytes:
    body = struct.pack("<Qq16s", sequence, timestamp_ns, chain) + payload
    return struct.pack("<II", len(payload), zlib.crc32(body)) + body


def read_records(
    stream: BinaryIO, previous_chain: bytes | None = None
) -> Iterator[tuple[JournalRecord, int]]:
    """Complete records from the stream's position, each with the offset just after it. Stops at a
    short (torn) tail. A complete record that fails its CRC, or whose chain does not follow
    `previous_chain` (when given), raises JournalCorruptError."""
    while True:
        start = stream.tell()
        header = stream.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            stream.seek(start)
            return
        length, crc, sequence, timestamp_ns, chain = _HEADER.unpack(header)
        if length > PAYLOAD_BYTES_MAX:
            raise JournalCorruptError(f"record at offset {start}: payload length {length} over the limit")
        payload = stream.read(length)
        if len(payload) < length:
            stream.seek(start)
            return
        if zlib.crc32(header[8:] + payload) != crc:
            raise JournalCorruptError(f"record {sequence} at offset {start}: CRC mismatch")
        if previous_chain is not None:
            if chain_of(previous_chain, sequence, timestamp_ns, payload) != chain:
                raise JournalCorruptError(f"record {sequence}: hash chain broken")
            previous_chain = chain
        yield JournalRecord(sequence, timestamp_ns, payload, chain), stream.tell()


class Journal:
    """The primary's journal directory: segments named by their first sequence number."""

    def __init__(self, directory: Path, segment_bytes: int = 64 << 20) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.last_sequence = 0
        self.last_chain = GENESIS
        self._file: BinaryIO | None = None
        self._file_bytes = 0

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def open(self) -> None:
        """Verify every segment, truncate a torn tail, and get ready to append."""
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = self.segments()
        for path in segments:
            with path.open("rb") as stream:
                end = 0
                for record, offset in read_records(stream, self.last_chain):
                    end = offset
                    if record.sequence != self.last_sequence + 1:
                        raise JournalCorruptError(
                            f"{path.name}: sequence {record.sequence} after {self.last_sequence}"
                        )
                    self.last_sequence, self.last_chain = record.sequence, record.chain
            if end < path.stat().st_size:
                if path != segments[-1]:
                    raise JournalCorruptError(f"{path.name}: torn record inside the journal, not at its end")
                with path.open("r+b") as stream:
                    stream.truncate(end)
                    os.fsync(stream.fileno())
        if segments:
            self._file = segments[-1].open("ab")
            self._file_bytes = segments[-1].stat().st_size

    def append(self, records: list[tuple[int, int, bytes]]) -> list[bytes]:
        """Write (sequence, timestamp, payload) records after the last one and fsync once;
        returns their chain values. Blocking: the sequencer calls it from a worker thread."""
        chunks: list[bytes] = []
        chains: list[bytes] = []
        chain = self.last_chain
        expected = self.last_sequence + 1
        for sequence, timestamp_ns, payload in records:
            assert sequence == expected, (sequence, expected)
            if len(payload) > PAYLOAD_BYTES_MAX:
                raise ValueError(f"journal payload of {len(payload)} bytes is over the limit")
            chain = chain_of(chain, sequence, timestamp_ns, payload)
            chunks.append(encode_record(sequence, timestamp_ns, payload, chain))
            chains.append(chain)
            expected += 1
        data = b"".join(chunks)
        stream = self._writable(records[0][0])
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
        self._file_bytes += len(data)
        self.last_sequence, self.last_chain = expected - 1, chain
        return chains

    def _writable(self, first_sequence: int) -> BinaryIO:
        if self._file is None or self._file_bytes >= self.segment_bytes:
            if self._file is not None:
                self._file.close()
            path = self.directory / f"{first_sequence:020d}{_SUFFIX}"
            self._file = path.open("ab")
            self._file_bytes = 0
            fsync_directory(self.directory)
        return self._file

    def read(self, after_sequence: int = 0) -> Iterator[JournalRecord]:
        """Every record with a sequence above `after_sequence`, in order."""
        segments = self.segments()
        for index, path in enumerate(segments):
            if index + 1 < len(segments) and int(segments[index + 1].stem) <= after_sequence + 1:
                continue  # the whole segment is before what is asked for
            with path.open("rb") as stream:
                for record, _ in read_records(stream):
                    if record.sequence > after_sequence:
                        yield record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class JournalFollower:
    """Reads records as another process appends them (the standby's view of the journal)."""

    def __init__(self, directory: Path, after_sequence: int = 0, chain: bytes = GENESIS) -> None:
        self.directory = directory
        self.last_sequence = after_sequence  # start after a snapshot: its sequence and chain value
        self.last_chain = chain
        self._path: Path | None = None
        self._offset = 0

    def poll(self) -> list[JournalRecord]:
        """Every complete record appended since the last poll (verified, chained)."""
        out: list[JournalRecord] = []
        while True:
            if self._path is None:
                self._path = self._segment_with(self.last_sequence + 1)
                self._offset = 0
                if self._path is None:
                    return out
            with self._path.open("rb") as stream:
                stream.seek(self._offset)
                for record, end in read_records(stream):
                    if record.sequence <= self.last_sequence:
                        self._offset = end
                        continue
                    if record.sequence != self.last_sequence + 1 or record.chain != chain_of(
                        self.last_chain, record.sequence, record.timestamp_ns, record.payload
                    ):
                        raise JournalCorruptError(
                            f"record {record.sequence} does not follow {self.last_sequence}"
                        )
                    out.append(record)
                    self.last_sequence, self.last_chain, self._offset = record.sequence, record.chain, end
            following = self._segment_with(self.last_sequence + 1)
            if following is None or following == self._path:
                return out
            self._path = following
            self._offset = 0

    def _segment_with(self, sequence: int) -> Path | None:
        candidates = [p for p in sorted(self.directory.glob(f"*{_SUFFIX}")) if int(p.stem) <= sequence]
        return candidates[-1] if candidates else None
