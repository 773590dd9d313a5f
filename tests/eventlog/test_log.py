"""PartitionLog on real files: appends, reads, indexes, rolls, retention, recovery and flush."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scalebox.eventlog.domain import TopicConfig
from scalebox.eventlog.errors import OffsetOutOfRangeError
from scalebox.eventlog.protocol.records import (
    NewRecord,
    decode_records,
    encode_batch,
    parse_batches,
    read_header,
)
from scalebox.eventlog.storage.log import PartitionLog

LIMIT = 1024 * 1024


def make_config(**overrides) -> TopicConfig:
    return TopicConfig(**{"segment_bytes": 4_000, "index_interval_bytes": 300, **overrides})


def make_batch(count: int = 1, *, timestamp: int = 1_000, value_bytes: int = 50, key: bytes = b"k") -> bytes:
    records = [NewRecord(key, b"v" * value_bytes, timestamp + i) for i in range(count)]
    return encode_batch(records, base_offset=12345)  # the broker replaces the producer's base offset


def append(log: PartitionLog, *batches: bytes, now_ms: int = 1_000) -> int:
    data = b"".join(batches) if batches else make_batch()
    return log.append(data, parse_batches(data, batch_bytes_max=LIMIT), now_ms)


def split(data: bytes) -> list[bytes]:
    batches = []
    while data:
        size = read_header(data).size
        batches.append(data[:size])
        data = data[size:]
    return batches


def read_all(log: PartitionLog) -> list[bytes]:
    batches, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        chunk = split(log.read(offset, 2_000))
        batches += chunk
        offset = read_header(chunk[-1]).next_offset
    return batches


def offsets_of(batches: list[bytes]) -> list[int]:
    return [record.offset for batch in batches for record in decode_records(batch)]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "topic-0"


@pytest.fixture
def log(directory: Path):
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    yield log
    log.close()


def reopen(log: PartitionLog, directory: Path, **overrides) -> PartitionLog:
    log.close()
    return PartitionLog.open(directory, make_config(**overrides), now_ms=0)


def fill(log: PartitionLog, batches: int = 60, *, now_ms: int = 1_000) -> list[int]:
    """Append batches of 1 to 4 records with growing timestamps; returns their base offsets."""
    return [
        append(
            log, make_batch(1 + i % 4, timestamp=10_000 + 10 * i, value_bytes=20 + i % 7 * 30), now_ms=now_ms
        )
        for i in range(batches)
    ]


def test_open_empty_directory_starts_at_zero(log, directory):
    assert (log.log_start_offset, log.log_end_offset, log.durable_offset) == (0, 0, 0)
    assert log.segment_count == 1
    assert (directory / "00000000000000000000.log").exists()
    assert log.read(0, 100) == b""


def test_append_read_round_trip_across_size_rolls(log):
    bases = fill(log)
    assert log.segment_count > 3
    batches = read_all(log)
    assert len(batches) == 60
    assert [read_header(batch).base_offset for batch in batches] == bases
    assert offsets_of(batches) == list(range(log.log_end_offset))
    assert decode_records(batches[5])[0].value == b"v" * (20 + 5 % 7 * 30)
    assert log.size_bytes == sum(len(batch) for batch in batches)


def test_append_assigns_contiguous_offsets_to_several_batches(log):
    data = make_batch(3) + make_batch(1) + make_batch(2)
    assert append(log, data) == 0
    assert append(log, make_batch(2)) == 6
    assert log.log_end_offset == 8
    assert [read_header(batch).base_offset for batch in split(log.read(0, LIMIT))] == [0, 3, 4, 6]


def test_append_rolls_by_age(log):
    append(log, now_ms=0)
    append(log, now_ms=1_000)
    assert log.segment_count == 1
    config = make_config(segment_ms=1_000)
    log.reconfigure(config)
    append(log, now_ms=1_001)
    assert log.segment_count == 2
    assert not log.roll_if_due(1_500)
    assert log.roll_if_due(2_002)
    assert not log.roll_if_due(9_999)  # the new active segment is empty
    assert log.segment_count == 3
    assert offsets_of(read_all(log)) == [0, 1, 2]


def test_segment_files_are_named_by_base_offset(log, directory):
    fill(log)
    names = sorted(path.name for path in directory.glob("*.log"))
    assert names[0] == "00000000000000000000.log"
    bases = [int(name[:20]) for name in names]
    assert all(len(name) == 24 for name in names)
    for base in bases[1:]:
        assert read_header(log.read(base, 1)).base_offset == base


def test_read_lands_on_the_batch_holding_each_offset(log, directory):
    bases = fill(log, 120)
    expected = {}
    for batch in read_all(log):
        header = read_header(batch)
        for offset in range(header.base_offset, header.next_offset):
            expected[offset] = batch
    assert len(expected) == log.log_end_offset
    for offset, batch in expected.items():
        assert split(log.read(offset, 1))[0] == batch
    assert bases[-1] < log.log_end_offset


def test_read_max_bytes_returns_whole_batches(log):
    batches = [make_batch(1, value_bytes=100) for _ in range(10)]
    append(log, *batches)
    batches = split(log.read(0, LIMIT))  # as stored: with their offsets
    assert len(batches) == 10
    size = len(batches[0])
    assert log.read(0, size * 3) == b"".join(batches[:3])
    assert len(split(log.read(0, size * 3 + size - 1))) == 3
    assert log.read(0, 1) == batches[0]  # KIP-74: the first batch comes whole
    assert log.read(0, 0) == batches[0]
    assert log.read(10, 100) == b""


def test_read_continues_into_next_segment(log):
    fill(log, 30)
    whole = b"".join(read_all(log))
    assert log.read(0, len(whole)) == whole
    assert log.read(0, 1_000_000) == whole


@pytest.mark.parametrize("offset", [-1, 11])
def test_read_outside_log_is_out_of_range(log, offset):
    append(log, make_batch(10))
    with pytest.raises(OffsetOutOfRangeError):
        log.read(offset, 100)


def test_append_records_encodes_one_batch(log):
    assert log.append_records([NewRecord(b"a", b"1", 5), NewRecord(None, b"2", 6)], now_ms=7) == 0
    assert [(r.offset, r.key) for r in decode_records(log.read(0, 100))] == [(0, b"a"), (1, None)]


def test_log_append_time_overrides_timestamps(directory):
    log = PartitionLog.open(directory, make_config(message_timestamp_type="LogAppendTime"), now_ms=0)
    append(log, make_batch(3, timestamp=5), now_ms=424_242)
    (header,) = parse_batches(log.read(0, 1000), batch_bytes_max=LIMIT)
    assert header.timestamp_type_log_append
    assert {r.timestamp for r in decode_records(log.read(0, 1000))} == {424_242}
    assert log.max_timestamp() == (0, 424_242)
    log.close()


def test_offset_for_timestamp_matches_linear_scan(log, directory):
    timestamps = [500, 100, 900, 900, 300, 1_200, 1_100, 1_500, 1_500, 2_000] * 8
    for i, timestamp in enumerate(timestamps):
        batch = [NewRecord(b"k", b"v" * 60, timestamp + j * (i % 3)) for j in range(1 + i % 3)]
        append(log, encode_batch(batch))
    assert log.segment_count > 2
    records = [record for batch in read_all(log) for record in decode_records(batch)]
    for reopened in (False, True):
        if reopened:
            log = reopen(log, directory)
        for target in range(0, 2_200, 50):
            first = next(((r.offset, r.timestamp) for r in records if r.timestamp >= target), None)
            assert log.offset_for_timestamp(target) == first, target
    largest = max(r.timestamp for r in records)
    assert log.max_timestamp() == next((r.offset, r.timestamp) for r in records if r.timestamp == largest)
    log.close()


def test_offset_for_timestamp_and_max_timestamp_of_empty_log(log):
    assert log.offset_for_timestamp(0) is None
    assert log.max_timestamp() is None


def test_batch_headers_from_offset(log):
    bases = fill(log, 40)
    assert [h.base_offset for h in log.batch_headers()] == bases
    middle = bases[20] + 1 if bases[21] - bases[20] > 1 else bases[20]
    assert [h.base_offset for h in log.batch_headers(middle)] == bases[20:]


def test_retention_by_time_deletes_old_segments(log, directory):
    fill(log, 60)  # timestamps 10_000 to 10_590
    count = log.segment_count
    log.reconfigure(make_config(retention_ms=300))
    assert log.enforce_retention(now_ms=10_000) == 0
    deleted = log.enforce_retention(now_ms=10_700)
    assert 0 < deleted < count
    start = log.log_start_offset
    assert start > 0
    assert read_header(log.read(start, 1)).base_offset == start
    with pytest.raises(OffsetOutOfRangeError):
        log.read(start - 1, 100)
    assert len(list(directory.glob("*.log"))) == count - deleted
    log = reopen(log, directory)
    assert log.log_start_offset == start
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    log.close()


def test_retention_by_size_keeps_at_least_the_limit(log):
    fill(log, 60)
    log.reconfigure(make_config(retention_bytes=6_000, retention_ms=-1))
    assert log.enforce_retention(now_ms=10**12) > 0
    assert log.size_bytes >= 6_000
    assert log.log_start_offset == read_header(read_all(log)[0]).base_offset


def test_retention_never_deletes_the_active_segment(log):
    append(log, make_batch(timestamp=0))
    log.reconfigure(make_config(retention_ms=1, retention_bytes=0))
    assert log.enforce_retention(now_ms=10**12) == 0
    assert log.log_end_offset == 1


def test_retention_skipped_for_compacted_topics(log):
    fill(log)
    log.reconfigure(make_config(cleanup_policy="compact", retention_ms=1))
    assert log.enforce_retention(now_ms=10**12) == 0


def test_reopen_keeps_offsets_and_appends_continue(log, directory):
    fill(log, 50)
    end, segments = log.log_end_offset, log.segment_count
    log = reopen(log, directory)
    assert (log.log_end_offset, log.segment_count, log.durable_offset) == (end, segments, end)
    assert append(log, make_batch(2)) == end
    assert offsets_of(read_all(log)) == list(range(end + 2))
    log.close()


def active_log_file(directory: Path) -> Path:
    return sorted(directory.glob("*.log"))[-1]


def test_recovery_truncates_a_torn_last_batch_at_every_byte(log, directory):
    fill(log, 25)
    append(log, make_batch(3, value_bytes=10))
    log.close()
    path = active_log_file(directory)
    whole = path.read_bytes()
    last = len(split(whole)[-1])
    kept_end = read_header(split(whole)[-1]).base_offset
    for cut in range(len(whole) - last, len(whole)):
        path.write_bytes(whole[:cut])
        log = PartitionLog.open(directory, make_config(), now_ms=0)
        assert log.log_end_offset == kept_end, cut
        assert path.stat().st_size == len(whole) - last
        assert append(log, make_batch(1)) == kept_end
        log.close()


@pytest.mark.parametrize("where", [0, 16, 30, 61, -1])
def test_recovery_truncates_at_a_corrupt_byte(log, directory, where):
    fill(log, 25)
    first_of_last_three = log.log_end_offset
    for _ in range(3):
        append(log, make_batch(2))
    log.close()
    path = active_log_file(directory)
    data = bytearray(path.read_bytes())
    batches = split(bytes(data))
    position = len(data) - sum(len(batch) for batch in batches[-3:])
    data[position + where if where >= 0 else position + len(batches[-3]) - 1] ^= 0x55
    path.write_bytes(bytes(data))
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    assert log.log_end_offset == first_of_last_three
    assert offsets_of(read_all(log)) == list(range(first_of_last_three))
    log.close()


@pytest.mark.parametrize("suffix", [".index", ".timeindex"])
@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_damaged_index_files_are_rebuilt(log, directory, suffix, damage):
    fill(log, 60)
    before = {offset: log.read(offset, 1) for offset in range(log.log_end_offset)}
    timestamps = {target: log.offset_for_timestamp(target) for target in range(9_990, 10_700, 7)}
    log.close()
    for path in sorted(directory.glob(f"*{suffix}"))[:-1]:
        if damage == "delete":
            path.unlink()
        elif damage == "garbage":
            path.write_bytes(b"\x01" * 24)
        else:
            path.write_bytes(path.read_bytes()[:-5])
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    assert {offset: log.read(offset, 1) for offset in range(log.log_end_offset)} == before
    assert {target: log.offset_for_timestamp(target) for target in timestamps} == timestamps
    assert all(path.stat().st_size for path in sorted(directory.glob("*.timeindex"))[:-1])
    log.close()


def test_leftover_files_are_discarded_on_open(log, directory):
    fill(log, 30)
    log.close()
    (directory / "00000000000000000000.log.cleaned").write_bytes(b"partial")
    (directory / "00000000000000000000.index.tmp").write_bytes(b"x")
    (directory / "00000000000000099999.index").write_bytes(b"")
    log = PartitionLog.open(directory, make_config(), now_ms=0)
    assert sorted(p.suffix for p in directory.iterdir() if p.suffix in {".cleaned", ".tmp"}) == []
    assert not (directory / "00000000000000099999.index").exists()
    assert offsets_of(read_all(log)) == list(range(log.log_end_offset))
    log.close()


def test_flush_reports_durable_offset(log):
    append(log, make_batch(3))
    assert log.durable_offset == 0
    assert log.flush() == 3
    assert log.flush() == 3
    assert log.durable_offset == 3


def test_flush_from_thread_while_appending(log):
    stop = threading.Event()
    seen: list[int] = []

    def flusher() -> None:
        while not stop.is_set():
            seen.append(log.flush())

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for i in range(400):
            append(log, make_batch(1 + i % 3, value_bytes=40))
            if i % 50 == 0:
                log.read(0, 500)
    finally:
        stop.set()
        thread.join()
    assert seen == sorted(seen)
    assert all(offset <= log.log_end_offset for offset in seen)
    assert log.flush() == log.log_end_offset
    assert log.segment_count > 5
    assert offsets_of(read_all(log)) == list(range(log.log_end_offset))


def test_delete_removes_directory(log, directory):
    fill(log, 10)
    log.delete()
    assert not directory.exists()
