"""Record batches: golden bytes, round trips, batches built by real clients, and every rejection."""

from __future__ import annotations

import gzip
import struct
import warnings

import cramjam
import pytest
from aiokafka.record.default_records import (  # type: ignore[import-untyped]
    DefaultRecordBatch as AioBatch,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AioBuilder
from crc32c import crc32c
from hypothesis import given
from hypothesis import strategies as st

from scalebox.eventlog.errors import (
    CorruptRecordError,
    InvalidRecordError,
    RecordTooLargeError,
    UnsupportedMessageFormatError,
)
from scalebox.eventlog.protocol.records import (
    BATCH_HEADER_BYTES,
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    NewRecord,
    Record,
    decode_records,
    encode_batch,
    parse_batches,
    read_header,
    set_base_offset,
    set_log_append_time,
)

with warnings.catch_warnings():
    # kafka-python's package import uses importlib.resources.read_text, deprecated in 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import (  # type: ignore[import-untyped]
        DefaultRecordBatchBuilder as KafkaPythonBuilder,
    )

CODECS = [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD]
LIMIT = 1024 * 1024

GOLDEN = bytes.fromhex(
    "0000000000000000"  # baseOffset 0
    "0000003a"  # batchLength 58: the 49 header bytes after this field + a 9-byte record
    "ffffffff"  # partitionLeaderEpoch -1 (what producers send)
    "02"  # magic 2
    "716a6189"  # crc: CRC-32C of everything from attributes on
    "0000"  # attributes: no compression, CreateTime, not transactional, not control
    "00000000"  # lastOffsetDelta 0
    "00000000000003e8"  # baseTimestamp 1000
    "00000000000003e8"  # maxTimestamp 1000
    "ffffffffffffffff"  # producerId -1 (not idempotent)
    "ffff"  # producerEpoch -1
    "ffffffff"  # baseSequence -1
    "00000001"  # recordsCount 1
    "10"  # record length 8 (zigzag varint)
    "00"  # record attributes
    "00"  # timestampDelta 0
    "00"  # offsetDelta 0
    "02"  # keyLength 1
    "6b"  # key b"k"
    "02"  # valueLength 1
    "76"  # value b"v"
    "00"  # header count 0
)


def make_batch(count: int = 3, *, base_offset: int = 0, codec: int = COMPRESSION_NONE, **overrides) -> bytes:
    records = [NewRecord(b"key%d" % i, b"value%d" % i, 1_000 + i) for i in range(count)]
    return encode_batch(records, base_offset=base_offset, compression=codec, **overrides)


def aiokafka_batch(codec: int, count: int = 50) -> bytes:
    builder = AioBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=LIMIT,
    )
    for i in range(count):
        builder.append(i, timestamp=5_000 + i, key=b"k%d" % i, value=b"x" * 200, headers=[("h", b"%d" % i)])
    return bytes(builder.build())


def test_encode_batch_matches_golden_bytes():
    assert encode_batch([NewRecord(b"k", b"v", 1000)], partition_leader_epoch=-1) == GOLDEN


def test_golden_bytes_match_aiokafka_builder():
    assert aiokafka_batch_single() == GOLDEN


def aiokafka_batch_single() -> bytes:
    builder = AioBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=LIMIT,
    )
    builder.append(0, timestamp=1000, key=b"k", value=b"v", headers=[])
    return bytes(builder.build())


def test_read_header_golden_fields():
    header = read_header(GOLDEN)
    assert header.base_offset == 0
    assert header.batch_length == 58
    assert header.size == len(GOLDEN) == 70
    assert header.partition_leader_epoch == -1
    assert header.magic == 2
    assert header.crc == 0x716A6189
    assert header.records_count == 1
    assert header.last_offset == 0
    assert header.next_offset == 1
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (-1, -1, -1)
    assert header.compression == COMPRESSION_NONE
    assert not header.is_control
    assert not header.is_transactional
    assert not header.timestamp_type_log_append


def test_decode_records_golden():
    assert decode_records(GOLDEN) == [Record(0, 1000, b"k", b"v", ())]


def test_read_header_short_data_is_corrupt():
    with pytest.raises(CorruptRecordError):
        read_header(GOLDEN[:60])


headers_strategy = st.lists(
    st.tuples(st.text(max_size=10), st.one_of(st.none(), st.binary(max_size=20))), max_size=3
).map(tuple)
record_strategy = st.builds(
    NewRecord,
    key=st.one_of(st.none(), st.binary(max_size=40)),
    value=st.one_of(st.none(), st.binary(max_size=300)),
    timestamp=st.integers(min_value=0, max_value=2**50),
    headers=headers_strategy,
)


@given(
    records=st.lists(record_strategy, min_size=1, max_size=20),
    base_offset=st.integers(min_value=0, max_value=2**62),
    codec=st.sampled_from(CODECS),
)
def test_decode_encode_round_trip(records, base_offset, codec):
    batch = encode_batch(records, base_offset=base_offset, compression=codec)
    assert parse_batches(batch, batch_bytes_max=LIMIT)[0].compression == codec
    assert decode_records(batch) == [
        Record(base_offset + i, r.timestamp, r.key, r.value, r.headers) for i, r in enumerate(records)
    ]


def test_encode_batch_offset_deltas_leave_gaps():
    records = [NewRecord(b"a", b"1", 10, offset_delta=2), NewRecord(b"b", None, 12, offset_delta=7)]
    batch = encode_batch(records, base_offset=100, producer_id=9, producer_epoch=3, base_sequence=40)
    header = read_header(batch)
    assert (header.last_offset_delta, header.records_count, header.max_timestamp) == (7, 2, 12)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (9, 3, 40)
    assert [(r.offset, r.value) for r in decode_records(batch)] == [(102, b"1"), (107, None)]


def test_encode_batch_flags_control_and_transactional():
    header = read_header(make_batch(1, control=True, transactional=True))
    assert header.is_control
    assert header.is_transactional


@pytest.mark.parametrize("codec", CODECS)
def test_decode_records_of_aiokafka_batches(codec):
    batch = aiokafka_batch(codec)
    (header,) = parse_batches(batch, batch_bytes_max=LIMIT)
    assert header.compression == codec
    records = decode_records(batch)
    assert [r.offset for r in records] == list(range(50))
    assert records[7] == Record(7, 5_007, b"k7", b"x" * 200, (("h", b"7"),))


@pytest.mark.parametrize("codec", [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_ZSTD])
def test_decode_records_of_kafka_python_batches(codec):
    builder = KafkaPythonBuilder(
        magic=2, compression_type=codec, is_transactional=0, producer_id=7, producer_epoch=1,
        base_sequence=0, batch_size=LIMIT,
    )  # fmt: skip
    for i in range(20):
        builder.append(i, timestamp=9_000 + i, key=None, value=b"payload %d" % i, headers=[])
    batch = bytes(builder.build())
    (header,) = parse_batches(batch, batch_bytes_max=LIMIT)
    assert (header.compression, header.producer_id, header.records_count) == (codec, 7, 20)
    assert [(r.offset, r.key, r.value) for r in decode_records(batch)][-1] == (19, None, b"payload 19")


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_reads_encoded_batches(codec):
    batch = make_batch(5, base_offset=40, codec=codec)
    parsed = AioBatch(batch)
    assert parsed.validate_crc()
    assert [(r.offset, r.key) for r in parsed] == [(40 + i, b"key%d" % i) for i in range(5)]


def test_decode_records_raw_snappy():
    body = make_batch(4)[BATCH_HEADER_BYTES:]
    batch = rebuild(make_batch(4, codec=COMPRESSION_SNAPPY), bytes(cramjam.snappy.compress_raw(body)))
    assert [r.value for r in decode_records(batch)] == [b"value%d" % i for i in range(4)]


def rebuild(batch: bytes, section: bytes) -> bytes:
    """`batch` with a new records section, its length and CRC fixed up."""
    out = bytearray(batch[:BATCH_HEADER_BYTES] + section)
    struct.pack_into(">i", out, 8, len(out) - 12)
    struct.pack_into(">I", out, 17, crc32c(bytes(out[21:])))
    return bytes(out)


def test_parse_batches_accepts_several_batches():
    data = make_batch(2) + make_batch(3, base_offset=2)
    assert [h.records_count for h in parse_batches(data, batch_bytes_max=LIMIT)] == [2, 3]


def test_parse_batches_accepts_memoryview_without_copy():
    data = memoryview(bytearray(make_batch(2)))
    assert parse_batches(data, batch_bytes_max=LIMIT)[0].records_count == 2


def flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(b"", InvalidRecordError, id="empty"),
        pytest.param(flip(make_batch(), 70), CorruptRecordError, id="corrupt-crc"),
        pytest.param(make_batch()[:-1], CorruptRecordError, id="truncated-batch"),
        pytest.param(make_batch()[:40], CorruptRecordError, id="truncated-header"),
        pytest.param(make_batch() + b"\x00" * 5, CorruptRecordError, id="trailing-short-garbage"),
        pytest.param(make_batch() + b"\x07" * 80, CorruptRecordError, id="trailing-garbage"),
        pytest.param(
            make_batch()[:16] + b"\x01" + make_batch()[17:], UnsupportedMessageFormatError, id="magic-1"
        ),
        pytest.param(make_batch()[:16] + b"\x09" + make_batch()[17:], CorruptRecordError, id="magic-9"),
        pytest.param(
            make_batch()[:8] + b"\x00\x00\x00\x10" + make_batch()[12:], CorruptRecordError, id="length"
        ),
    ],
)
def test_parse_batches_rejects(data, error):
    with pytest.raises(error):
        parse_batches(data, batch_bytes_max=LIMIT)


def test_parse_batches_rejects_bad_last_offset_delta():
    batch = bytearray(make_batch(3))
    struct.pack_into(">i", batch, 23, 5)
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
    with pytest.raises(InvalidRecordError):
        parse_batches(bytes(batch), batch_bytes_max=LIMIT)


def test_parse_batches_control_batch_may_have_any_delta():
    batch = bytearray(make_batch(1, control=True))
    struct.pack_into(">i", batch, 23, 3)
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
    assert parse_batches(bytes(batch), batch_bytes_max=LIMIT)[0].is_control


def test_parse_batches_over_limit_is_too_large():
    batch = make_batch(10)
    with pytest.raises(RecordTooLargeError):
        parse_batches(batch, batch_bytes_max=len(batch) - 1)
    assert parse_batches(batch, batch_bytes_max=len(batch))


def test_set_base_offset_keeps_crc_valid():
    buffer = bytearray(make_batch(3) * 2)
    set_base_offset(buffer, 0, 500)
    set_base_offset(buffer, len(buffer) // 2, 503)
    first, second = parse_batches(buffer, batch_bytes_max=LIMIT)
    assert (first.base_offset, second.base_offset) == (500, 503)
    assert decode_records(bytes(buffer[len(buffer) // 2 :]))[2].offset == 505


def test_set_log_append_time_stamps_every_record():
    buffer = bytearray(make_batch(3, codec=COMPRESSION_GZIP))
    set_log_append_time(buffer, 0, 77_000)
    (header,) = parse_batches(buffer, batch_bytes_max=LIMIT)  # CRC recomputed
    assert header.timestamp_type_log_append
    assert header.max_timestamp == 77_000
    assert header.compression == COMPRESSION_GZIP
    assert {r.timestamp for r in decode_records(bytes(buffer))} == {77_000}


@pytest.mark.parametrize("codec", [COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD])
def test_decode_records_decompression_bomb(codec):
    records = [NewRecord(None, b"\x00" * 100_000, 0) for _ in range(30)]  # ~3 MB of zeros
    batch = encode_batch(records, compression=codec)
    assert len(batch) < 200_000
    with pytest.raises(CorruptRecordError):
        decode_records(batch, decompressed_bytes_max=1_000_000)
    assert len(decode_records(batch, decompressed_bytes_max=4_000_000)) == 30


def test_decode_records_multi_member_gzip():
    body = make_batch(4)[BATCH_HEADER_BYTES:]
    section = gzip.compress(body[:10]) + gzip.compress(body[10:])
    batch = rebuild(make_batch(4, codec=COMPRESSION_GZIP), section)
    assert len(decode_records(batch)) == 4


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda body: body[:-1], id="truncated-record"),
        pytest.param(lambda body: body + b"\x00", id="extra-byte"),
        pytest.param(lambda body: b"\xff" * 12, id="runaway-varint"),
        pytest.param(lambda body: b"\x7f" + body[1:], id="record-length-too-long"),
        pytest.param(lambda body: body[:4] + b"\x7e" + body[5:], id="key-length-too-long"),
    ],
)
def test_decode_records_malformed_is_corrupt(mangle):
    batch = make_batch(1)
    with pytest.raises(CorruptRecordError):
        decode_records(rebuild(batch, mangle(batch[BATCH_HEADER_BYTES:])))


@pytest.mark.parametrize("codec", [COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD])
def test_decode_records_garbage_compressed_section_is_corrupt(codec):
    with pytest.raises(CorruptRecordError):
        decode_records(rebuild(make_batch(2, codec=codec), b"\x82SNAPPY\x00" + b"\x13" * 40))


def test_decode_records_log_append_time_uses_max_timestamp():
    buffer = bytearray(make_batch(2))
    set_log_append_time(buffer, 0, 5)
    assert [r.timestamp for r in decode_records(buffer)] == [5, 5]
