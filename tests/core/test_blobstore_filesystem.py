"""What only FilesystemBlobStore promises: its file format, checksums per block, atomic files on disk."""

from __future__ import annotations

import asyncio
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.blobs import BlobInfo, FilesystemBlobStore, InvalidBlobKeyError
from scalebox.core.blobs.blockfile import (
    HEADER_BYTES,
    decode_blob,
    decode_blob_range,
    decode_layout,
    encode_prefix,
)
from scalebox.core.errors import IntegrityError

BLOCK = 1024


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs", block_bytes=BLOCK)


def make_data(size_bytes: int) -> bytes:
    return random.Random(size_bytes).randbytes(size_bytes)


def stored_path(store: FilesystemBlobStore, key: str) -> Path:
    *dirs, name = key.split("/")
    return store.root.joinpath(*(part + ".d" for part in dirs), name + ".blob")


def flip_byte(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x5A
    path.write_bytes(raw)


async def collect(store: FilesystemBlobStore, prefix: str = "") -> list[BlobInfo]:
    return [info async for info in store.list(prefix)]


def test_encode_prefix_lays_out_header_and_block_crcs() -> None:
    assert encode_prefix(b"abcdef", 4) == bytes.fromhex(
        "53425842"  # magic "SBXB"
        "01"  # format version
        "000000"  # reserved
        "00000004"  # block size: 4 bytes
        "0000000000000006"  # data length: 6 bytes
        "5c1c2542"  # CRC32 of the 20 bytes above
        "ed82cd11"  # CRC32 of block 0, b"abcd"
        "fd824970"  # CRC32 of block 1, b"ef" (the last block may be short)
    )


@given(
    data=st.binary(max_size=300),
    block_bytes=st.integers(1, 64),
    start=st.integers(0, 320),
    end=st.integers(0, 320),
)
def test_decode_blob_range_matches_slice_for_any_range(
    data: bytes, block_bytes: int, start: int, end: int
) -> None:
    stored = encode_prefix(data, block_bytes) + data
    assert decode_blob(stored, "k") == data
    read_at = lambda offset, length: stored[offset : offset + length]  # noqa: E731
    assert decode_blob_range(read_at, len(stored), "k", start, end) == data[start:end]


@given(data=st.binary(min_size=1, max_size=200), block_bytes=st.integers(1, 64), where=st.integers(0))
def test_decode_blob_detects_any_flipped_byte(data: bytes, block_bytes: int, where: int) -> None:
    stored = bytearray(encode_prefix(data, block_bytes) + data)
    stored[where % len(stored)] ^= 0x01
    with pytest.raises(IntegrityError, match="'k'"):
        decode_blob(bytes(stored), "k")


def test_decode_layout_rejects_file_shorter_than_header() -> None:
    with pytest.raises(IntegrityError, match="shorter than its header"):
        decode_layout(b"SBXB\x01", 5, "k")


def test_decode_layout_rejects_unknown_format_version() -> None:
    fields = struct.pack(">4sB3xIQ", b"SBXB", 2, 4, 0)
    header = fields + struct.pack(">I", zlib.crc32(fields))  # intact, but from a future format
    with pytest.raises(IntegrityError, match="not a version 1 blob file"):
        decode_layout(header, len(header), "k")


def test_decode_blob_range_raises_integrity_error_when_file_shrinks_during_read() -> None:
    data = make_data(100)
    stored = encode_prefix(data, 16) + data
    shrunk = stored[:-30]  # cut by another process after the size was read
    read_at = lambda offset, length: shrunk[offset : offset + length]  # noqa: E731
    with pytest.raises(IntegrityError, match="ends inside its data"):
        decode_blob_range(read_at, len(stored), "k", 60, 100)


async def test_put_stores_key_at_suffixed_path_under_root(store: FilesystemBlobStore) -> None:
    await store.put("photos/2025/cat.jpg", b"meow")
    path = store.root / "photos.d" / "2025.d" / "cat.jpg.blob"
    assert path.read_bytes() == encode_prefix(b"meow", BLOCK) + b"meow"


async def test_reads_raise_integrity_error_when_data_byte_flipped(store: FilesystemBlobStore) -> None:
    data = make_data(5 * BLOCK)
    await store.put("photos/cat", data)
    path = stored_path(store, "photos/cat")
    flip_byte(path, path.stat().st_size - len(data) + 2 * BLOCK + 7)  # inside block 2
    with pytest.raises(IntegrityError, match=r"'photos/cat'.*block 2"):
        await store.get("photos/cat")
    with pytest.raises(IntegrityError, match="block 2"):
        await store.get_range("photos/cat", 2 * BLOCK + 100, 2 * BLOCK + 200)
    with pytest.raises(IntegrityError, match="block 2"):
        await store.get_range("photos/cat", BLOCK - 5, 2 * BLOCK + 1)
    assert await store.get_range("photos/cat", 0, 2 * BLOCK) == data[: 2 * BLOCK]
    assert await store.get_range("photos/cat", 3 * BLOCK, 5 * BLOCK + 9) == data[3 * BLOCK :]


async def test_reads_raise_integrity_error_when_crc_entry_flipped(store: FilesystemBlobStore) -> None:
    data = make_data(3 * BLOCK)
    await store.put("k", data)
    flip_byte(stored_path(store, "k"), HEADER_BYTES + 4 * 1)  # CRC of block 1
    with pytest.raises(IntegrityError, match="block 1"):
        await store.get_range("k", BLOCK, BLOCK + 1)
    assert await store.get_range("k", 0, BLOCK) == data[:BLOCK]


async def test_reads_raise_integrity_error_when_header_damaged(store: FilesystemBlobStore) -> None:
    await store.put("k", make_data(2 * BLOCK))
    flip_byte(stored_path(store, "k"), 19)  # lowest byte of the data length
    with pytest.raises(IntegrityError, match="header"):
        await store.get("k")
    with pytest.raises(IntegrityError, match="header"):
        await store.get_range("k", 0, 1)
    with pytest.raises(IntegrityError, match="header"):
        await collect(store)


async def test_reads_raise_integrity_error_when_file_truncated(store: FilesystemBlobStore) -> None:
    await store.put("k", make_data(2 * BLOCK))
    path = stored_path(store, "k")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match="header says"):
        await store.get("k")
    with pytest.raises(IntegrityError, match="header says"):
        await store.get_range("k", 0, 1)


async def test_reads_ignore_leftover_temp_file_of_crashed_write(store: FilesystemBlobStore) -> None:
    await store.put("a/k", b"complete")
    # What a write killed before its rename leaves behind: a partial file under a temp name.
    (store.root / "a.d" / ".tmp-crashed.tmp").write_bytes(b"SBXB\x01partial")
    (store.root / ".tmp-orphan.tmp").write_bytes(b"")
    assert await store.get("a/k") == b"complete"
    assert await collect(store) == [BlobInfo("a/k", 8)]
    await store.put("a/k", b"rewritten")
    assert await store.get("a/k") == b"rewritten"


async def test_put_leaves_only_the_final_file_after_large_write(store: FilesystemBlobStore) -> None:
    data = make_data(3 * 1024 * 1024 + 3)
    await store.put("big/blob", data)
    directory = store.root / "big.d"
    assert [path.name for path in directory.iterdir()] == ["blob.blob"]
    blocks = -(-len(data) // BLOCK)
    assert (directory / "blob.blob").stat().st_size == HEADER_BYTES + 4 * blocks + len(data)
    assert await store.get("big/blob") == data


async def test_put_removes_its_temp_file_when_rename_fails(store: FilesystemBlobStore) -> None:
    stored_path(store, "d/k").mkdir(parents=True)  # a directory squats on the blob's file name
    with pytest.raises(IsADirectoryError):
        await store.put("d/k", b"never lands")
    assert [path.name for path in (store.root / "d.d").iterdir()] == ["k.blob"]


async def test_list_skips_blob_deleted_while_listing(store: FilesystemBlobStore) -> None:
    keys = [f"d/k{number:03}" for number in range(300)]  # more than one batch of entries
    for key in keys:
        await store.put(key, b"x")
    listed = []
    async for info in store.list():
        if not listed:
            await store.delete(keys[-1])  # the directory was read already; the file is gone
        listed.append(info.key)
    assert listed == keys[:-1]


async def test_list_skips_entries_this_store_did_not_write(store: FilesystemBlobStore) -> None:
    await store.put("kept", b"x")
    store.root.joinpath("README").write_text("not a blob")
    store.root.joinpath("lost+found").mkdir()
    store.root.joinpath("x.d").write_text("a file where a key directory would be")
    store.root.joinpath(".blob").write_text("no key segment")
    assert await collect(store) == [BlobInfo("kept", 1)]


async def test_list_yields_keys_shaped_like_temp_files(store: FilesystemBlobStore) -> None:
    await store.put(".tmp-x.tmp", b"1")
    await store.put(".d/.blob", b"22")
    assert await collect(store) == [BlobInfo(".d/.blob", 2), BlobInfo(".tmp-x.tmp", 1)]


async def test_delete_removes_key_directories_left_empty(store: FilesystemBlobStore) -> None:
    await store.put("a/b/c", b"1")
    await store.put("a/x", b"2")
    assert await store.delete("a/b/c") is True
    assert sorted(path.name for path in (store.root / "a.d").iterdir()) == ["x.blob"]
    assert await store.delete("a/x") is True
    assert list(store.root.iterdir()) == []


async def test_put_succeeds_while_deletes_empty_its_directory(store: FilesystemBlobStore) -> None:
    for round_number in range(30):
        await store.put(f"d/old{round_number}", b"old")
        await asyncio.gather(store.delete(f"d/old{round_number}"), store.put(f"d/new{round_number}", b"new"))
    assert [info.key for info in await collect(store)] == sorted(f"d/new{number}" for number in range(30))


async def test_put_rejects_key_segment_longer_than_file_name_limit(store: FilesystemBlobStore) -> None:
    await store.put("s" * 250, b"fits")
    with pytest.raises(InvalidBlobKeyError, match="segment"):
        await store.put("s" * 251, b"too long for one file name")
    with pytest.raises(InvalidBlobKeyError, match="segment over 250 bytes"):
        await store.get("d" * 251 + "/k")
    await store.put("d" * 250 + "/k", b"fits too")


async def test_get_reads_blob_written_with_other_block_size(tmp_path: Path) -> None:
    data = make_data(10_000)
    await FilesystemBlobStore(tmp_path, block_bytes=333).put("k", data)
    reader = FilesystemBlobStore(tmp_path, block_bytes=4096)
    assert await reader.get("k") == data
    assert await reader.get_range("k", 330, 1000) == data[330:1000]


def test_constructor_rejects_block_size_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="block_bytes"):
        FilesystemBlobStore(tmp_path, block_bytes=0)
    with pytest.raises(ValueError, match="block_bytes"):
        FilesystemBlobStore(tmp_path, block_bytes=(1 << 30) + 1)


async def test_reads_find_nothing_when_root_missing(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "not" / "yet")
    assert await store.exists("k") is False
    assert await collect(store) == []
    await store.put("k", b"created on first put")
    assert await store.get("k") == b"created on first put"
