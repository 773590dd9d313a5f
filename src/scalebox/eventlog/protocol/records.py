"""Kafka record batches (magic 2): validate, patch, decode and encode them, without I/O.

Layout: https://kafka.apache.org/documentation/#recordbatch. The broker stores batches exactly as
received, so the hot path (`parse_batches`, `set_base_offset`) only reads headers and CRCs.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cramjam
from crc32c import crc32c

from scalebox.eventlog.errors import (
    CorruptRecordError,
    InvalidRecordError,
    RecordTooLargeError,
    UnsupportedMessageFormatError,
)

Buffer = bytes | bytearray | memoryview
_DecompressInto = Callable[[memoryview, bytearray], int]

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordsCount
_HEADER = struct.Struct(">qiibIhiqqqhii")
BATCH_HEADER_BYTES = 61
assert _HEADER.size == BATCH_HEADER_BYTES
LOG_OVERHEAD_BYTES = 12  # baseOffset + batchLength: the bytes batchLength does not count
BATCH_LENGTH_MIN = BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES

_MAGIC_AT = 16
_CRC_AT = 17
_ATTRIBUTES_AT = 21  # the CRC covers everything from here to the end of the batch
_MAX_TIMESTAMP_AT = 35
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")

COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD = range(5)
_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20
DECOMPRESSED_BYTES_MAX = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The fixed 61-byte header of a record batch, in wire order."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return LOG_OVERHEAD_BYTES + self.batch_length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & _COMPRESSION_MASK

    @property
    def timestamp_type_log_append(self) -> bool:
        return bool(self.attributes & _TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)


def read_header(data: Buffer, position: int = 0) -> BatchHeader:
    """The header of the batch at `position`; checks only that 61 bytes are there (no CRC)."""
    if len(data) - position < BATCH_HEADER_BYTES:
        raise CorruptRecordError(f"record batch header truncated at byte {position}")
    return BatchHeader(*_HEADER.unpack_from(data, position))


def batch_crc(data: Buffer, position: int, size: int) -> int:
    """CRC-32C of the batch at `position`, computed over attributes to the end, without a copy."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    return crc32c(view[position + _ATTRIBUTES_AT : position + size])


def parse_batches(data: Buffer, *, batch_bytes_max: int) -> list[BatchHeader]:
    """Validate the records of a Produce request: whole magic-2 batches with good CRCs, nothing else.

    Kafka itself requires exactly one batch per partition; we accept one or more.
    """
    view = memoryview(data)
    end = len(view)
    if end == 0:
        raise InvalidRecordError("the produce request has no record batch")
    headers: list[BatchHeader] = []
    position = 0
    while position < end:
        header = _check_header(view, position, end)
        if header.size > batch_bytes_max:
            raise RecordTooLargeError(
                f"record batch of {header.size} bytes is over the limit of {batch_bytes_max}"
            )
        if batch_crc(view, position, header.size) != header.crc:
            raise CorruptRecordError(f"record batch at byte {position} failed its CRC-32C check")
        if not header.is_control and (
            header.records_count < 1 or header.last_offset_delta != header.records_count - 1
        ):
            raise InvalidRecordError(
                f"record batch holds {header.records_count} records"
                f" but its last offset delta is {header.last_offset_delta}"
            )
        headers.append(header)
        position += header.size
    return headers


def _check_header(view: memoryview, position: int, end: int) -> BatchHeader:
    # Legacy message sets (magic 0 and 1) also keep their magic at byte 16; other values are garbage.
    if end - position > _MAGIC_AT:
        magic = view[position + _MAGIC_AT]
        if magic in (0, 1):
            raise UnsupportedMessageFormatError(f"message format v{magic} is not supported, only v2")
        if magic != 2:
            raise CorruptRecordError(f"invalid magic {magic} at byte {position}")
    header = read_header(view, position)
    if header.batch_length < BATCH_LENGTH_MIN:
        raise CorruptRecordError(f"record batch length {header.batch_length} is too small")
    if header.size > end - position:
        raise CorruptRecordError(f"record batch at byte {position} is truncated")
    return header


def set_base_offset(buffer: bytearray | memoryview, position: int, base_offset: int) -> None:
    """Patch the batch's base offset in place; the CRC does not cover it."""
    _INT64.pack_into(buffer, position, base_offset)


def set_log_append_time(buffer: bytearray | memoryview, position: int, timestamp_ms: int) -> None:
    """Stamp the batch with the broker's time (LogAppendTime) and recompute its CRC."""
    (attributes,) = _INT16.unpack_from(buffer, position + _ATTRIBUTES_AT)
    _INT16.pack_into(buffer, position + _ATTRIBUTES_AT, attributes | _TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(buffer, position + _MAX_TIMESTAMP_AT, timestamp_ms)
    (batch_length,) = _INT32.unpack_from(buffer, position + 8)
    _UINT32.pack_into(buffer, position + _CRC_AT, batch_crc(buffer, position, 12 + batch_length))


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with its absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to encode; `offset_delta` keeps an original offset (compaction leaves gaps)."""

    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: tuple[tuple[str, bytes | None], ...] = ()
    offset_delta: int | None = None


def decode_records(batch: Buffer, *, decompressed_bytes_max: int = DECOMPRESSED_BYTES_MAX) -> list[Record]:
    """Every record of one whole batch (header included), decompressing its records section."""
    header = read_header(batch, 0)
    view = memoryview(batch)
    if header.size > len(view) or header.batch_length < BATCH_LENGTH_MIN:
        raise CorruptRecordError("record batch is truncated")
    section = view[BATCH_HEADER_BYTES : header.size]
    body = _decompress(header.compression, section, decompressed_bytes_max)
    # LogAppendTime batches carry the broker's time in maxTimestamp, and it applies to every record.
    fixed_timestamp = header.max_timestamp if header.timestamp_type_log_append else None
    return _RecordReader(body, header.base_offset, header.base_timestamp, fixed_timestamp).read_all(
        header.records_count
    )


class _RecordReader:
    """Walks the records section: varint-framed records with zigzag-encoded fields."""

    def __init__(self, body: Buffer, base_offset: int, base_timestamp: int, fixed: int | None) -> None:
        self._buf = body if isinstance(body, bytes) else bytes(body)
        self._pos = 0
        self._base_offset = base_offset
        self._base_timestamp = base_timestamp
        self._fixed_timestamp = fixed

    def read_all(self, count: int) -> list[Record]:
        if count < 0:
            raise CorruptRecordError(f"negative record count {count}")
        records = [self._record() for _ in range(count)]
        if self._pos != len(self._buf):
            raise CorruptRecordError("record batch has bytes after its last record")
        return records

    def _record(self) -> Record:
        length = self._varint(5)
        end = self._pos + length
        if length < 6 or end > len(self._buf):
            raise CorruptRecordError(f"record length {length} does not fit the batch")
        self._pos += 1  # attributes: unused in magic 2
        timestamp_delta = self._varint(10)
        offset_delta = self._varint(5)
        key = self._bytes(end)
        value = self._bytes(end)
        count = self._varint(5)
        if count < 0:
            raise CorruptRecordError(f"negative header count {count}")
        headers = tuple(self._header(end) for _ in range(count))
        if self._pos != end:
            raise CorruptRecordError("record length does not match its fields")
        timestamp = self._fixed_timestamp
        if timestamp is None:
            timestamp = self._base_timestamp + timestamp_delta
        return Record(self._base_offset + offset_delta, timestamp, key, value, headers)

    def _header(self, end: int) -> tuple[str, bytes | None]:
        name = self._bytes(end)
        if name is None:
            raise CorruptRecordError("record header key is null")
        try:
            return name.decode(), self._bytes(end)
        except UnicodeDecodeError as exc:
            raise CorruptRecordError("record header key is not UTF-8") from exc

    def _bytes(self, end: int) -> bytes | None:
        length = self._varint(5)
        if length == -1:
            return None
        start = self._pos
        if length < 0 or start + length > end:
            raise CorruptRecordError(f"field length {length} does not fit the record")
        self._pos = start + length
        return self._buf[start : self._pos]

    def _varint(self, bytes_max: int) -> int:
        buf, pos = self._buf, self._pos
        result = shift = 0
        for _ in range(bytes_max):
            if pos >= len(buf):
                break
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self._pos = pos
                return (result >> 1) ^ -(result & 1)
            shift += 7
        raise CorruptRecordError(f"malformed varint at byte {self._pos} of the records")


def _decompress(codec: int, section: memoryview, limit: int) -> Buffer:
    if codec == COMPRESSION_NONE:
        return section
    try:
        if codec == COMPRESSION_GZIP:
            return _gunzip(section, limit)
        if codec == COMPRESSION_SNAPPY:
            return _unsnappy(section, limit)
        if codec == COMPRESSION_LZ4:
            return _decompress_growing(cramjam.lz4.decompress_into, _LZ4_FRAME_MAGIC, section, limit)
        if codec == COMPRESSION_ZSTD:
            return _decompress_growing(cramjam.zstd.decompress_into, _ZSTD_FRAME_MAGIC, section, limit)
    except (zlib.error, cramjam.DecompressionError) as exc:
        raise CorruptRecordError(f"records section does not decompress: {exc}") from exc
    raise CorruptRecordError(f"unknown compression codec {codec}")


def _too_big(limit: int) -> CorruptRecordError:
    return CorruptRecordError(f"records section decompresses to more than {limit} bytes")


def _gunzip(section: memoryview, limit: int) -> bytes:
    out = bytearray()
    data: bytes | memoryview = section
    while True:  # a gzip stream may hold several members
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise _too_big(limit)
        if not inflater.eof:
            raise CorruptRecordError("gzip records section is truncated")
        data = inflater.unused_data
        if not data:
            return bytes(out)


_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER_BYTES = 16  # magic, int32 version, int32 minimum compatible version


def _unsnappy(section: memoryview, limit: int) -> bytes:
    if section[: len(_XERIAL_MAGIC)] != _XERIAL_MAGIC:
        return _unsnappy_raw(section, limit)
    # Java clients use xerial's framing: [int32 length][raw snappy block], repeated.
    out = bytearray()
    position = _XERIAL_HEADER_BYTES
    while position < len(section):
        if position + 4 > len(section):
            raise CorruptRecordError("xerial snappy block length is truncated")
        (length,) = _INT32.unpack_from(section, position)
        position += 4
        if length < 0 or position + length > len(section):
            raise CorruptRecordError(f"xerial snappy block of {length} bytes does not fit")
        out += _unsnappy_raw(section[position : position + length], limit - len(out))
        position += length
    return bytes(out)


def _unsnappy_raw(block: memoryview, limit: int) -> bytes:
    # Raw snappy states its uncompressed size up front, so the bomb check costs nothing.
    if cramjam.snappy.decompress_raw_len(block) > limit:
        raise _too_big(limit)
    return bytes(cramjam.snappy.decompress_raw(block))


_LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
_ZSTD_FRAME_MAGIC = b"\x28\xb5\x2f\xfd"


def _decompress_growing(
    decompress_into: _DecompressInto, magic: bytes, section: memoryview, limit: int
) -> memoryview:
    # Frame formats may omit their content size: decompress into a bounded buffer, growing it
    # on failure until it is one byte over the limit, so a bomb never allocates more than that.
    if section[: len(magic)] != magic:
        raise CorruptRecordError("records section is not a compressed frame")
    size = min(limit + 1, max(8 * len(section), 64 * 1024))
    while True:
        out = bytearray(size)
        try:
            written = decompress_into(section, out)
        except cramjam.DecompressionError:
            if size > limit:
                raise
            size = min(limit + 1, 4 * size)
            continue
        if written > limit:
            raise _too_big(limit)
        return memoryview(out)[:written]


def encode_batch(
    records: Sequence[NewRecord],
    *,
    base_offset: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    compression: int = COMPRESSION_NONE,
    control: bool = False,
    transactional: bool = False,
    partition_leader_epoch: int = 0,
) -> bytes:
    """One batch holding `records` (at least one), with a correct CRC-32C."""
    assert records, "a record batch holds at least one record"
    base_timestamp = records[0].timestamp
    deltas = [i if r.offset_delta is None else r.offset_delta for i, r in enumerate(records)]
    body = bytearray()
    for record, delta in zip(records, deltas, strict=True):
        _encode_record(body, record, delta, record.timestamp - base_timestamp)
    payload = _compress(compression, body)
    attributes = compression | (_TRANSACTIONAL_BIT if transactional else 0) | (_CONTROL_BIT if control else 0)
    batch = bytearray(BATCH_HEADER_BYTES)
    _HEADER.pack_into(
        batch,
        0,
        base_offset,
        BATCH_LENGTH_MIN + len(payload),
        partition_leader_epoch,
        2,
        0,  # crc, filled in below
        attributes,
        max(deltas),
        base_timestamp,
        max(r.timestamp for r in records),
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    batch += payload
    _UINT32.pack_into(batch, _CRC_AT, batch_crc(batch, 0, len(batch)))
    return bytes(batch)


def _encode_record(out: bytearray, record: NewRecord, offset_delta: int, timestamp_delta: int) -> None:
    body = bytearray(b"\x00")  # attributes
    _write_varint(body, timestamp_delta)
    _write_varint(body, offset_delta)
    _write_bytes(body, record.key)
    _write_bytes(body, record.value)
    _write_varint(body, len(record.headers))
    for name, value in record.headers:
        _write_bytes(body, name.encode())
        _write_bytes(body, value)
    _write_varint(out, len(body))
    out += body


def _write_bytes(out: bytearray, value: bytes | None) -> None:
    if value is None:
        _write_varint(out, -1)
    else:
        _write_varint(out, len(value))
        out += value


def _write_varint(out: bytearray, value: int) -> None:
    zigzag = (value << 1) ^ (value >> 63)
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)


def _compress(codec: int, body: bytearray) -> bytes | bytearray:
    if codec == COMPRESSION_NONE:
        return body
    if codec == COMPRESSION_GZIP:
        deflater = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return deflater.compress(body) + deflater.flush()
    if codec == COMPRESSION_SNAPPY:
        return _snappy_xerial(body)
    if codec == COMPRESSION_LZ4:
        # Kafka's LZ4 is the frame format with independent blocks (KIP-57).
        compressor = cramjam.lz4.Compressor(level=9, content_checksum=False, block_linked=False)
        compressor.compress(bytes(body))
        return bytes(compressor.finish())
    if codec == COMPRESSION_ZSTD:
        return bytes(cramjam.zstd.compress(body, level=3))
    raise ValueError(f"unknown compression codec {codec}")


_XERIAL_BLOCK_BYTES = 32 * 1024


def _snappy_xerial(body: bytearray) -> bytes:
    # The framing Java's SnappyOutputStream writes, which every Kafka client reads.
    out = bytearray(_XERIAL_MAGIC)
    out += struct.pack(">ii", 1, 1)
    view = memoryview(body)
    for start in range(0, len(view), _XERIAL_BLOCK_BYTES):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_BYTES]))
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


__all__ = [
    "BATCH_HEADER_BYTES",
    "BATCH_LENGTH_MIN",
    "COMPRESSION_GZIP",
    "COMPRESSION_LZ4",
    "COMPRESSION_NONE",
    "COMPRESSION_SNAPPY",
    "COMPRESSION_ZSTD",
    "DECOMPRESSED_BYTES_MAX",
    "LOG_OVERHEAD_BYTES",
    "BatchHeader",
    "NewRecord",
    "Record",
    "batch_crc",
    "decode_records",
    "encode_batch",
    "parse_batches",
    "read_header",
    "set_base_offset",
    "set_log_append_time",
]
