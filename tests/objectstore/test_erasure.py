"""The erasure-coded data store on real files: round trips, lost and rotten drives, heal, quorum, formats."""

from __future__ import annotations

import hashlib
import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalebox.core.errors import IntegrityError
from scalebox.objectstore.storage.erasure import (
    ErasureLayout,
    ErasureSet,
    ShardSetUnreadableError,
    ShardWriter,
    WriteQuorumError,
    WriteResult,
)
from scalebox.objectstore.storage.shardfile import (
    DRIVE_FORMAT_NAME,
    PREAMBLE_BYTES,
    decode_header,
    decode_header_bytes,
    encode_header,
)

BLOCK = 64 * 1024
SMALL = ErasureLayout(4, 2, BLOCK)
MakeSet = Callable[..., ErasureSet]


def make_data_id(seed: object = 0) -> str:
    return hashlib.md5(repr(seed).encode()).hexdigest()


def make_data(size: int, seed: int = 0) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


@pytest.fixture(autouse=True)
def no_leaked_fds() -> Iterator[None]:
    before = set(os.listdir("/proc/self/fd"))
    yield
    assert set(os.listdir("/proc/self/fd")) <= before


@pytest.fixture
def make_set(tmp_path: Path) -> Iterator[MakeSet]:
    opened: list[ErasureSet] = []

    def make(
        layout: ErasureLayout = SMALL, drives: list[Path] | None = None, **options: object
    ) -> ErasureSet:
        if drives is None:
            drives = [tmp_path / f"drive{index}" for index in range(layout.total_shards)]
            for drive in drives:
                drive.mkdir(exist_ok=True)
        options.setdefault("fsync", False)
        erasure = ErasureSet(drives, layout, **options)  # type: ignore[arg-type]
        opened.append(erasure)
        return erasure

    yield make
    for erasure in opened:
        erasure.close()


def write_object(
    erasure: ErasureSet,
    data: bytes,
    data_id: str,
    part: int = 1,
    *,
    piece_bytes: int = 10_000,
    labels: Mapping[str, str] | None = None,
) -> WriteResult:
    writer = erasure.writer(data_id, part, labels or {})
    for offset in range(0, len(data), piece_bytes):
        writer.write(data[offset : offset + piece_bytes])
    return writer.close()


def read_all(erasure: ErasureSet, data_id: str, size: int, part: int = 1, **span: int) -> bytes:
    return b"".join(erasure.read(data_id, part, size, **span))


def snapshot(erasure: ErasureSet) -> dict[str, bytes]:
    """Every file on every drive, by drive-relative path."""
    files = {}
    for index, drive in enumerate(erasure.drives):
        for path in drive.rglob("*"):
            if path.is_file():
                files[f"{index}/{path.relative_to(drive)}"] = path.read_bytes()
    return files


def shard_path(erasure: ErasureSet, data_id: str, index: int, part: int = 1) -> Path:
    return erasure.verify(data_id, part).shards[index].path


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", [0, 1, 3, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 123])
def test_round_trip_returns_the_bytes_written(make_set: MakeSet, size: int) -> None:
    erasure = make_set(fsync=True)
    data = make_data(size)
    result = write_object(erasure, data, make_data_id(size))
    assert result == WriteResult(make_data_id(size), 1, size, ())
    assert read_all(erasure, make_data_id(size), size) == data
    assert erasure.verify(make_data_id(size), 1).ok
    assert erasure.verify(make_data_id(size), 1).size == size


def test_round_trip_accepts_one_large_write_and_memoryviews(make_set: MakeSet) -> None:
    erasure = make_set(ErasureLayout(3, 2, 3 * 4096))
    data = make_data(100_000)
    writer = erasure.writer(make_data_id())
    writer.write(memoryview(data)[:1])
    writer.write(bytearray(data[1:50_000]))
    writer.write(memoryview(data)[50_000:])
    assert writer.close().size == len(data)
    assert read_all(erasure, make_data_id(), len(data)) == data


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErasureSet]:
    root = tmp_path_factory.mktemp("tiny")
    with ErasureSet(
        [root / f"d{index}" for index in range(6)], ErasureLayout(4, 2, 4096), fsync=False
    ) as erasure:
        erasure.format_drives()
        yield erasure


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(0, 5 * 4096 + 9),
    span=st.tuples(st.integers(0, 6 * 4096), st.integers(0, 6 * 4096)),
    lost=st.sets(st.integers(0, 5), max_size=2),
    piece_bytes=st.integers(1, 9000),
)
def test_range_read_equals_the_slice(
    tiny_set: ErasureSet, size: int, span: tuple[int, int], lost: set[int], piece_bytes: int
) -> None:
    data_id = make_data_id((size, span, sorted(lost), piece_bytes))
    original = make_data(size, seed=size)
    write_object(tiny_set, original, data_id, piece_bytes=piece_bytes)
    for index in lost:
        shard_path(tiny_set, data_id, index).unlink()
    start, end = span
    assert read_all(tiny_set, data_id, size, start=start, end=end) == original[start:end]
    assert read_all(tiny_set, data_id, size, start=start) == original[start:]
    tiny_set.delete(data_id)


@pytest.mark.parametrize("layout", [ErasureLayout(4, 2, BLOCK), ErasureLayout(2, 1, BLOCK)], ids=str)
def test_every_loss_up_to_parity_reads_and_heals_byte_identical(
    make_set: MakeSet, layout: ErasureLayout
) -> None:
    erasure = make_set(layout)
    objects = {
        (make_data_id(seed), 1): make_data(size, seed) for seed, size in enumerate([0, 1, 3 * BLOCK + 5])
    }
    for (data_id, part), data in objects.items():
        write_object(erasure, data, data_id, part)
    original = snapshot(erasure)
    for lost_count in range(1, layout.parity_shards + 1):
        for lost in itertools.combinations(range(layout.total_shards), lost_count):
            for index in lost:
                shutil.rmtree(erasure.drives[index])
            for (data_id, part), data in objects.items():
                assert read_all(erasure, data_id, len(data), part) == data
            assert set(erasure.list_shard_sets()) == set(objects)
            for data_id, part in objects:
                report = erasure.heal(data_id, part)
                assert len(report.healed) == lost_count
                assert erasure.verify(data_id, part).ok
            assert snapshot(erasure) == original, lost


def test_a_set_without_parity_cannot_survive_a_lost_drive(make_set: MakeSet) -> None:
    erasure = make_set(ErasureLayout(3, 0, 3 * 16384))
    data = make_data(2 * BLOCK + 1)
    write_object(erasure, data, make_data_id())
    assert read_all(erasure, make_data_id(), len(data)) == data
    shutil.rmtree(erasure.drives[1])
    with pytest.raises(IntegrityError, match=f"data {make_data_id()} part 1 stripe 0"):
        read_all(erasure, make_data_id(), len(data))
    with pytest.raises(ShardSetUnreadableError):
        erasure.heal(make_data_id(), 1)
    with pytest.raises(WriteQuorumError):
        erasure.writer(make_data_id(1))


def test_more_losses_than_parity_raise_naming_the_stripe(make_set: MakeSet) -> None:
    erasure = make_set()
    data = make_data(3 * BLOCK)
    write_object(erasure, data, make_data_id())
    for index in (0, 1, 5):
        shard_path(erasure, make_data_id(), index).unlink()
    with pytest.raises(ShardSetUnreadableError) as caught:
        read_all(erasure, make_data_id(), len(data))
    assert (caught.value.stripe, caught.value.bad) == (0, (0, 1, 5))


@pytest.mark.parametrize("index", [0, 5])
def test_a_flipped_block_byte_is_found_read_around_and_healed(make_set: MakeSet, index: int) -> None:
    degraded: list[tuple[str, int, list[int]]] = []
    erasure = make_set(on_degraded=lambda *seen: degraded.append(seen))
    data_id, data = make_data_id(), make_data(3 * BLOCK + 100)
    write_object(erasure, data, data_id)
    original = snapshot(erasure)
    path = shard_path(erasure, data_id, index)
    header_bytes = path.stat().st_size - 3 * (4 + BLOCK // 4) - (4 + 25)
    flip_byte(path, header_bytes + (4 + BLOCK // 4) + 4 + 1000)

    report = erasure.verify(data_id, 1)
    assert (report.damaged, report.shards[index].state, report.shards[index].bad_stripes) == (
        (index,),
        "corrupt",
        (1,),
    )
    assert read_all(erasure, data_id, len(data)) == data
    assert degraded == ([(data_id, 1, [index])] if index < 4 else [])
    assert erasure.heal(data_id, 1).healed == (index,)
    assert erasure.verify(data_id, 1).ok
    assert snapshot(erasure) == original


def test_a_flipped_header_byte_is_found_read_around_and_healed(make_set: MakeSet) -> None:
    erasure = make_set()
    data_id, data = make_data_id(), make_data(2 * BLOCK)
    write_object(erasure, data, data_id, labels={"bucket": "photos", "key": "cat.jpg"})
    original = snapshot(erasure)
    flip_byte(shard_path(erasure, data_id, 2), PREAMBLE_BYTES + 3)
    report = erasure.verify(data_id, 1)
    assert (report.shards[2].state, report.shards[2].bad_stripes) == ("corrupt", (0, 1))
    assert read_all(erasure, data_id, len(data)) == data
    assert erasure.heal(data_id, 1).healed == (2,)
    assert snapshot(erasure) == original


@pytest.mark.parametrize(
    ("cut", "bad_stripes"), [("preamble", (0, 1, 2)), ("header", (0, 1, 2)), ("second block", (1, 2))]
)
def test_a_torn_shard_file_is_reported_corrupt_and_healed(
    make_set: MakeSet, cut: str, bad_stripes: tuple[int, ...]
) -> None:
    erasure = make_set()
    data_id, data = make_data_id(), make_data(3 * BLOCK)
    write_object(erasure, data, data_id)
    original = snapshot(erasure)
    path = shard_path(erasure, data_id, 1)
    header_bytes = decode_header_bytes(path.read_bytes())
    kept = {"preamble": 10, "header": header_bytes - 1, "second block": header_bytes + 4 + BLOCK // 4 + 7}
    os.truncate(path, kept[cut])
    report = erasure.verify(data_id, 1)
    assert (report.damaged, report.shards[1].state, report.shards[1].bad_stripes) == (
        (1,),
        "corrupt",
        bad_stripes,
    )
    assert read_all(erasure, data_id, len(data)) == data
    erasure.heal(data_id, 1)
    assert snapshot(erasure) == original


def test_a_shard_that_disagrees_on_size_or_index_is_corrupt(make_set: MakeSet) -> None:
    erasure = make_set()
    data_id, data = make_data_id(), make_data(2 * BLOCK + 1)
    write_object(erasure, data, data_id)
    original = snapshot(erasure)
    resized = shard_path(erasure, data_id, 2)
    contents = resized.read_bytes()
    header_bytes = decode_header_bytes(contents)
    header = decode_header(contents)
    resized.write_bytes(encode_header(replace(header, size=header.size + 1)) + contents[header_bytes:])
    shutil.copyfile(shard_path(erasure, data_id, 0), shard_path(erasure, data_id, 4))
    report = erasure.verify(data_id, 1)
    assert report.damaged == (2, 4)
    assert report.shards[2].bad_stripes == report.shards[4].bad_stripes == (0, 1, 2)
    assert read_all(erasure, data_id, len(data)) == data
    assert erasure.heal(data_id, 1).healed == (2, 4)
    assert snapshot(erasure) == original


def test_long_labels_round_trip_through_heal(make_set: MakeSet) -> None:
    erasure = make_set()
    labels = {"bucket": "b", "key": "k" * 6000, "version": "v1"}
    data_id, data = make_data_id(), make_data(BLOCK)
    write_object(erasure, data, data_id, labels=labels)
    original = snapshot(erasure)
    shard_path(erasure, data_id, 0).unlink()
    assert read_all(erasure, data_id, len(data)) == data
    erasure.heal(data_id, 1)
    assert snapshot(erasure) == original
    assert decode_header(shard_path(erasure, data_id, 0).read_bytes()).labels == labels


def write_stripes(writer: ShardWriter, count: int) -> None:
    for _ in range(count):
        writer.write(make_data(BLOCK))


def test_a_write_error_on_every_drive_raises_and_leaves_no_files(make_set: MakeSet) -> None:
    erasure = make_set()
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3 * BLOCK, limits[1]))
    try:
        writer = erasure.writer(make_data_id())
        with pytest.raises(WriteQuorumError):
            write_stripes(writer, 20)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    assert [path for path in snapshot(erasure) if DRIVE_FORMAT_NAME not in path] == []


def test_a_missing_shard_file_is_reported_missing(make_set: MakeSet) -> None:
    erasure = make_set()
    write_object(erasure, make_data(10), make_data_id())
    shard_path(erasure, make_data_id(), 3).unlink()
    report = erasure.verify(make_data_id(), 1)
    assert [shard.state for shard in report.shards] == ["ok", "ok", "ok", "missing", "ok", "ok"]


def test_trailing_bytes_make_a_shard_corrupt(make_set: MakeSet) -> None:
    erasure = make_set()
    write_object(erasure, make_data(BLOCK), make_data_id())
    with shard_path(erasure, make_data_id(), 4).open("ab") as file:
        file.write(b"junk")
    shard = erasure.verify(make_data_id(), 1).shards[4]
    assert (shard.state, shard.bad_stripes) == ("corrupt", ())


def test_an_empty_replacement_drive_is_formatted_and_rebuilt_by_heal(make_set: MakeSet) -> None:
    erasure = make_set()
    objects = {make_data_id(seed): make_data(seed * BLOCK + 7, seed) for seed in range(3)}
    for data_id, data in objects.items():
        write_object(erasure, data, data_id)
    original = snapshot(erasure)
    erasure.close()
    shutil.rmtree(erasure.drives[3])
    erasure.drives[3].mkdir()

    restarted = make_set(drives=list(erasure.drives))
    assert [status.state for status in restarted.drive_status()] == ["ok"] * 3 + ["unformatted"] + ["ok"] * 2
    for data_id, data in objects.items():
        assert read_all(restarted, data_id, len(data)) == data
        assert len(restarted.heal(data_id, 1).healed) == 1
    assert snapshot(restarted) == original
    assert {status.state for status in restarted.drive_status()} == {"ok"}


def test_writes_format_empty_drives_and_skip_missing_ones(make_set: MakeSet) -> None:
    erasure = make_set()
    shutil.rmtree(erasure.drives[5])
    data_id, data = make_data_id(), make_data(BLOCK + 1)
    result = write_object(erasure, data, data_id)
    shards = erasure.verify(data_id, 1).shards
    lost = next(shard.index for shard in shards if shard.path.is_relative_to(erasure.drives[5]))
    assert result.degraded == (lost,)
    assert not erasure.drives[5].exists()
    assert all((drive / DRIVE_FORMAT_NAME).is_file() for drive in erasure.drives[:5])
    assert [status.state for status in erasure.drive_status()][5] == "missing"
    assert erasure.heal(data_id, 1).healed == (lost,)
    assert erasure.verify(data_id, 1).ok


def test_format_drives_creates_missing_drives(make_set: MakeSet, tmp_path: Path) -> None:
    drives = [tmp_path / "new" / f"d{index}" for index in range(3)]
    erasure = make_set(ErasureLayout(2, 1, 4096), drives=drives)
    assert [status.state for status in erasure.drive_status()] == ["missing"] * 3
    erasure.format_drives()
    statuses = erasure.drive_status()
    assert [status.state for status in statuses] == ["ok"] * 3
    assert all(status.total_bytes and status.free_bytes is not None for status in statuses)


def test_a_wrongly_ordered_drive_list_is_refused(make_set: MakeSet) -> None:
    erasure = make_set()
    write_object(erasure, b"x", make_data_id())
    drives = list(erasure.drives)
    drives[0], drives[1] = drives[1], drives[0]
    with pytest.raises(ValueError, match="wrong order"):
        make_set(drives=drives)


def test_a_drive_from_another_set_is_refused(make_set: MakeSet, tmp_path: Path) -> None:
    first = make_set()
    first.format_drives()
    other = [tmp_path / f"other{index}" for index in range(6)]
    make_set(drives=other).format_drives()
    with pytest.raises(ValueError, match="another erasure set"):
        make_set(drives=[*first.drives[:5], other[5]])
    with pytest.raises(ValueError, match="formatted for 6 drives"):
        make_set(ErasureLayout(4, 2, 2 * BLOCK), drives=list(first.drives))


def test_a_non_empty_directory_that_is_no_drive_is_refused(make_set: MakeSet, tmp_path: Path) -> None:
    drives = [tmp_path / f"d{index}" for index in range(6)]
    for drive in drives:
        drive.mkdir()
    (drives[2] / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a scalebox drive"):
        make_set(drives=drives)


def test_a_drive_swapped_at_runtime_shows_as_foreign(make_set: MakeSet) -> None:
    erasure = make_set()
    erasure.format_drives()
    (erasure.drives[4] / DRIVE_FORMAT_NAME).write_text("{}")
    assert erasure.drive_status()[4].state == "foreign"
    with pytest.raises(ValueError, match="drive4"):
        erasure.format_drives()


def test_drives_vanishing_mid_write_below_quorum_raise_and_leave_no_files(make_set: MakeSet) -> None:
    erasure = make_set()
    writer = erasure.writer(make_data_id())
    writer.write(make_data(3 * BLOCK))
    for drive in erasure.drives[:3]:
        shutil.rmtree(drive)
    writer.write(make_data(BLOCK))
    with pytest.raises(WriteQuorumError) as caught:
        writer.close()
    assert len(caught.value.failed) == 3
    assert [path for path in snapshot(erasure) if DRIVE_FORMAT_NAME not in path] == []
    with pytest.raises(ValueError, match="aborted"):
        writer.write(b"more")


def test_one_drive_vanishing_mid_write_degrades_the_write(make_set: MakeSet) -> None:
    erasure = make_set()
    data_id, data = make_data_id(), make_data(4 * BLOCK)
    writer = erasure.writer(data_id)
    writer.write(data[: 2 * BLOCK])
    shutil.rmtree(erasure.drives[0])
    writer.write(data[2 * BLOCK :])
    result = writer.close()
    assert len(result.degraded) == 1
    assert read_all(erasure, data_id, len(data)) == data
    assert erasure.heal(data_id, 1).healed == result.degraded
    assert erasure.verify(data_id, 1).ok


def test_abort_leaves_no_files(make_set: MakeSet) -> None:
    erasure = make_set()
    writer = erasure.writer(make_data_id())
    writer.write(make_data(2 * BLOCK + 3))
    writer.abort()
    published = erasure.writer(make_data_id(1))
    published.write(b"abc")
    published.close()
    published.abort()
    assert list(erasure.list_shard_sets()) == []
    assert [path for path in snapshot(erasure) if DRIVE_FORMAT_NAME not in path] == []


def test_leaving_a_with_block_unclosed_aborts(make_set: MakeSet) -> None:
    erasure = make_set()

    def upload_then_fail() -> None:
        with erasure.writer(make_data_id()) as writer:
            writer.write(make_data(BLOCK + 1))
            raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        upload_then_fail()
    with erasure.writer(make_data_id(1)) as kept:
        kept.write(b"kept")
        kept.close()
    assert list(erasure.list_shard_sets()) == [(make_data_id(1), 1)]
    assert [path for path in snapshot(erasure) if make_data_id() in path] == []


def test_delete_removes_one_part_or_every_part(make_set: MakeSet) -> None:
    erasure = make_set()
    data_id, other = make_data_id(), make_data_id(1)
    for part in (1, 2, 3):
        write_object(erasure, make_data(part * 1000), data_id, part)
    write_object(erasure, b"other", other)
    erasure.delete(data_id, 2)
    assert sorted(erasure.list_shard_sets()) == sorted([(data_id, 1), (data_id, 3), (other, 1)])
    erasure.delete(data_id)
    erasure.delete(data_id)
    assert list(erasure.list_shard_sets()) == [(other, 1)]


def test_list_shard_sets_finds_each_written_part_once(make_set: MakeSet) -> None:
    erasure = make_set()
    written = {(make_data_id(seed), part) for seed in range(20) for part in (1, 7)}
    for data_id, part in written:
        write_object(erasure, b"x" * part, data_id, part)
    shutil.rmtree(erasure.drives[2])
    listed = list(erasure.list_shard_sets())
    assert len(listed) == len(written)
    assert set(listed) == written


def test_verify_reports_a_shard_set_that_was_never_written(make_set: MakeSet) -> None:
    erasure = make_set()
    report = erasure.verify(make_data_id(), 1)
    assert report.size is None
    assert {shard.state for shard in report.shards} == {"missing"}
    with pytest.raises(ShardSetUnreadableError):
        erasure.heal(make_data_id(), 1)


def test_a_read_with_the_wrong_size_is_refused(make_set: MakeSet) -> None:
    erasure = make_set()
    write_object(erasure, make_data(100), make_data_id())
    with pytest.raises(IntegrityError):
        read_all(erasure, make_data_id(), 101)


@pytest.mark.parametrize("data_id", ["", "0" * 31, "A" * 32, "g" * 32, "0" * 33, "../" + "0" * 29])
def test_malformed_data_ids_are_rejected(make_set: MakeSet, data_id: str) -> None:
    erasure = make_set()
    with pytest.raises(ValueError, match="data id"):
        erasure.writer(data_id)
    with pytest.raises(ValueError, match="data id"):
        erasure.read(data_id, 1, 0)


def test_bad_parts_labels_and_layouts_are_rejected(make_set: MakeSet, tmp_path: Path) -> None:
    erasure = make_set()
    with pytest.raises(ValueError, match="part"):
        erasure.writer(make_data_id(), 0)
    with pytest.raises(ValueError, match="labels"):
        erasure.writer(make_data_id(), 1, {"size": 3})  # type: ignore[dict-item]
    for layout in [(0, 1, 4096), (4, -1, 4096), (200, 57, 200 * 4096), (4, 2, 4098), (4, 2, 2048)]:
        with pytest.raises(ValueError, match=r"shards|block_bytes"):
            ErasureLayout(*layout)
    with pytest.raises(ValueError, match="needs 6 drives"):
        ErasureSet([tmp_path], SMALL)


_MEMORY_PROBE = """
import shutil, sys, tracemalloc
from pathlib import Path
from scalebox.objectstore.storage.erasure import ErasureSet
from scalebox.objectstore.storage.shardfile import ErasureLayout

block = 64 * 1024
root = Path(sys.argv[1])
erasure = ErasureSet([root / f"d{i}" for i in range(6)], ErasureLayout(4, 2, block), fsync=False)
erasure.format_drives()
data = bytes(range(256)) * (64 * block // 256)
data_id = "0123456789abcdef0123456789abcdef"
tracemalloc.start()
writer = erasure.writer(data_id)
for offset in range(0, len(data), block // 2):
    writer.write(data[offset : offset + block // 2])
writer.close()
_, write_peak = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
for _ in erasure.read(data_id, 1, len(data)):
    pass
shutil.rmtree(erasure.drives[0])
for _ in erasure.read(data_id, 1, len(data)):
    pass
_, read_peak = tracemalloc.get_traced_memory()
erasure.close()
print(write_peak, read_peak)
"""


def test_memory_stays_near_one_stripe_per_shard(tmp_path: Path) -> None:
    # In a process of its own: tracemalloc counts every thread, and other tests' servers live in this one.
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    write_peak, read_peak = map(int, probe.stdout.split())
    assert write_peak < 6 * BLOCK
    assert read_peak < 6 * BLOCK


def test_threads_write_and_read_different_objects_at_once(make_set: MakeSet) -> None:
    erasure = make_set(fsync=True)
    barrier = threading.Barrier(4)

    def round_trip(seed: int) -> bool:
        data_id, data = make_data_id(seed), make_data(seed * BLOCK + seed, seed)
        barrier.wait()
        write_object(erasure, data, data_id)
        return read_all(erasure, data_id, len(data)) == data

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(round_trip, range(1, 9)))
