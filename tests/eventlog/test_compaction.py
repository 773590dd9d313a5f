"""Compaction of PartitionLog: latest value per key, tombstones, offsets kept, crash-safe swaps."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scalebox.eventlog.domain import TopicConfig
from scalebox.eventlog.protocol.records import (
    NewRecord,
    batch_crc,
    decode_records,
    encode_batch,
    parse_batches,
    read_header,
)
from scalebox.eventlog.storage.log import PartitionLog

LIMIT = 1024 * 1024
NOW_MS = 10_000_000


def make_config(**overrides) -> TopicConfig:
    defaults = {
        "cleanup_policy": "compact",
        "segment_bytes": 3_000,
        "index_interval_bytes": 200,
        "delete_retention_ms": 1_000,
    }
    return TopicConfig(**{**defaults, **overrides})


def append(log: PartitionLog, records: list[NewRecord], **batch_options) -> int:
    data = encode_batch(records, **batch_options)
    return log.append(data, parse_batches(data, batch_bytes_max=LIMIT), now_ms=NOW_MS)


def record(key: bytes | None, value: bytes | None, timestamp: int = NOW_MS - 5_000) -> NewRecord:
    return NewRecord(key, value, timestamp)


def all_records(log: PartitionLog) -> list[tuple[int, bytes | None, bytes | None]]:
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 10_000)
        if not data:
            break
        for batch in checked_batches(data):
            offset = read_header(batch).next_offset
            out += [(r.offset, r.key, r.value) for r in decode_records(batch)]
    return out


def checked_batches(data: bytes) -> list[bytes]:
    """The whole batches in `data`, each with a good CRC (compacted ones may have offset gaps)."""
    batches = []
    while data:
        header = read_header(data)
        assert batch_crc(data, 0, header.size) == header.crc
        batches.append(data[: header.size])
        data = data[header.size :]
    return batches


def latest_by_key(
    entries: list[tuple[int, bytes | None, bytes | None]],
) -> dict[bytes, tuple[int, bytes | None]]:
    latest = {}
    for offset, key, value in entries:
        if key is not None:
            latest[key] = (offset, value)
    return latest


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "compacted-0"


@pytest.fixture
def log(directory: Path):
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    yield log
    log.close()


def fill(log: PartitionLog, batches: int = 80, keys: int = 7) -> None:
    for i in range(batches):
        append(log, [record(b"key%d" % ((i * 3 + j) % keys), b"value %d/%d" % (i, j) * 3) for j in range(3)])
    assert log.segment_count > 2


def test_compaction_keeps_latest_per_key_and_offsets(log, directory):
    fill(log, keys=200)
    before = all_records(log)
    end = log.log_end_offset
    stats = log.compact(NOW_MS)
    after = all_records(log)
    assert stats.segments_cleaned > 0
    assert stats.records_after < stats.records_before
    assert stats.bytes_after < stats.bytes_before
    assert log.log_end_offset == end
    assert latest_by_key(after) == latest_by_key(before)
    assert [offset for offset, _, _ in after] == sorted(offset for offset, _, _ in after)
    assert set(after) <= set(before)  # same (offset, key, value) triples: offsets kept
    # Closed segments hold only the latest per key; the active segment is untouched.
    active_base = int(sorted(directory.glob("*.log"))[-1].stem)
    closed = [entry for entry in after if entry[0] < active_base]
    assert closed
    assert len({key for _, key, _ in closed}) == len(closed)


def test_compaction_drops_null_keys(log):
    for i in range(40):
        append(log, [record(None, b"anonymous" * 10), record(b"k%d" % (i % 3), b"v%d" % i)])
    log.compact(NOW_MS)
    closed_keys = [key for offset, key, _ in all_records(log) if offset < 60]
    assert None not in closed_keys


def test_compaction_drops_old_tombstones_keeps_recent(log):
    append(log, [record(b"old", b"1"), record(b"recent", b"1")])
    append(log, [record(b"old", None, timestamp=NOW_MS - 5_000)])
    append(log, [record(b"recent", None, timestamp=NOW_MS - 500)])
    fill(log, 60, keys=3)  # pushes those into closed segments
    log.compact(NOW_MS)
    keys = {key for _, key, _ in all_records(log)}
    assert b"old" not in keys  # its tombstone is older than delete.retention.ms
    assert (3, b"recent", None) in all_records(log)


def test_untouched_batches_stay_byte_identical(log):
    append(log, [record(b"a", b"1"), record(b"b", b"2")])  # offsets 0-1: never overwritten
    append(log, [record(b"c", b"3"), record(b"d", b"4")])  # offsets 2-3: d is overwritten
    original = log.read(0, 10_000)
    first = original[: read_header(original).size]
    fill(log, 60, keys=3)
    append(log, [record(b"d", b"new")])
    log.compact(NOW_MS)
    data = log.read(0, 10_000)
    assert data.startswith(first)
    second = data[len(first) :]
    header = read_header(second)
    assert (header.base_offset, header.records_count, header.last_offset_delta) == (2, 1, 0)
    assert [(r.offset, r.key) for r in decode_records(second[: header.size])] == [(2, b"c")]


def test_partly_kept_batch_keeps_producer_fields_and_offsets(log):
    append(
        log,
        [record(b"x", b"1"), record(b"gone", b"1"), record(b"y", b"1")],
        producer_id=77,
        producer_epoch=3,
        base_sequence=10,
    )
    append(log, [record(b"gone", b"2"), record(b"y", b"2")])
    fill(log, 60, keys=3)
    log.compact(NOW_MS)
    data = log.read(0, 10_000)
    header = read_header(data)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 3, 10)
    assert (header.base_offset, header.records_count, header.last_offset_delta) == (0, 1, 0)
    later = read_header(data[header.size :])
    assert (later.base_offset, later.records_count, later.last_offset_delta) == (3, 2, 1)


def test_compaction_respects_min_compaction_lag(log):
    fill(log)
    log.reconfigure(make_config(min_compaction_lag_ms=10_000))
    assert log.compact(NOW_MS).segments_cleaned == 0
    assert log.compact(NOW_MS + 10_000).segments_cleaned > 0


def test_compaction_only_for_compacted_topics(directory):
    log = PartitionLog.open(directory, make_config(cleanup_policy="delete"), now_ms=0)
    fill(log)
    assert log.compact(NOW_MS).records_before == 0
    log.close()


def test_compaction_twice_is_a_no_op(log):
    fill(log)
    log.compact(NOW_MS)
    after = all_records(log)
    assert log.compact(NOW_MS).segments_cleaned == 0
    assert all_records(log) == after


def test_control_batches_survive(log):
    append(log, [record(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")], control=True, producer_id=5)
    fill(log, 60, keys=3)
    log.compact(NOW_MS)
    assert read_header(log.read(0, 10)).is_control


def test_compaction_survives_reopen(log, directory):
    fill(log)
    log.compact(NOW_MS)
    after, end = all_records(log), log.log_end_offset
    log.close()
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    assert (all_records(log), log.log_end_offset) == (after, end)
    assert log.offset_for_timestamp(0) == (after[0][0], NOW_MS - 5_000)
    assert append(log, [record(b"more", b"1")]) == end
    log.close()


def test_emptied_segment_is_removed_and_reads_skip_the_gap(log):
    for i in range(30):
        append(log, [record(b"same", b"v%d" % i * 20)])
    fill(log, 40, keys=2)
    segments = log.segment_count
    log.compact(NOW_MS)
    assert log.segment_count < segments
    assert log.log_start_offset == 0
    data = log.read(0, 100)
    assert read_header(data).base_offset > 0  # offset 0 is gone: the next batch comes back


def test_reads_during_compaction_return_valid_batches(log):
    fill(log, 150)
    done = threading.Event()
    stats = []

    def compact() -> None:
        stats.append(log.compact(NOW_MS))
        done.set()

    thread = threading.Thread(target=compact)
    thread.start()
    reads = 0
    try:
        while not done.is_set() or reads < 20:
            for offset in range(0, log.log_end_offset, 37):
                assert checked_batches(log.read(offset, 2_000))
                reads += 1
    finally:
        thread.join()
    assert stats[0].segments_cleaned > 0


def test_interrupted_compaction_leftover_is_discarded(log, directory):
    fill(log)
    before = all_records(log)
    log.close()
    first = sorted(directory.glob("*.log"))[0]
    first.with_name(first.name + ".cleaned").write_bytes(first.read_bytes()[:100])
    # A crash after the swap removed the indexes but before it renamed the log.
    first.with_suffix(".index").unlink()
    first.with_suffix(".timeindex").unlink()
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    assert all_records(log) == before
    assert not list(directory.glob("*.cleaned"))
    assert log.compact(NOW_MS).segments_cleaned > 0
    log.close()
