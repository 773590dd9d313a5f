"""The BlobStore contract: every adapter (memory, filesystem, S3 on moto and on scalebox's own object store)
passes this one suite."""

from __future__ import annotations

import asyncio
import random

import pytest

from scalebox.core.blobs import BlobInfo, BlobNotFoundError, BlobStore, InvalidBlobKeyError
from scalebox.core.errors import InvalidError
from tests.core.conftest import CONTRACT_BLOCK_BYTES

BLOCK = CONTRACT_BLOCK_BYTES
MIB = 1024 * 1024


def make_data(size_bytes: int, *, seed: int = 0) -> bytes:
    return random.Random(f"{seed}:{size_bytes}").randbytes(size_bytes)


async def collect(store: BlobStore, prefix: str = "") -> list[BlobInfo]:
    return [info async for info in store.list(prefix)]


@pytest.mark.parametrize(
    "size_bytes",
    [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 64 * 1024 + 1, 3 * MIB + 5],
)
async def test_get_returns_put_bytes_for_size(blob_store: BlobStore, size_bytes: int) -> None:
    data = make_data(size_bytes)
    await blob_store.put("sized/blob", data)
    assert await blob_store.get("sized/blob") == data


async def test_put_replaces_existing_blob(blob_store: BlobStore) -> None:
    await blob_store.put("k", make_data(3 * BLOCK, seed=1))
    await blob_store.put("k", b"short")
    assert await blob_store.get("k") == b"short"
    assert await collect(blob_store) == [BlobInfo("k", 5)]


async def test_get_sees_old_or_new_blob_during_overwrite(blob_store: BlobStore) -> None:
    old, new = make_data(5 * BLOCK, seed=1), make_data(7 * BLOCK, seed=2)
    await blob_store.put("k", old)
    results = await asyncio.gather(blob_store.put("k", new), *(blob_store.get("k") for _ in range(8)))
    assert all(result in (old, new) for result in results[1:])
    assert await blob_store.get("k") == new


async def test_concurrent_puts_leave_one_complete_version(blob_store: BlobStore) -> None:
    versions = [make_data(4 * BLOCK + seed, seed=seed) for seed in range(8)]
    await asyncio.gather(*(blob_store.put("contended", data) for data in versions))
    assert await blob_store.get("contended") in versions
    assert [info.key for info in await collect(blob_store)] == ["contended"]


RANGED_SIZE = 3 * BLOCK + 123


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),  # start
        (1000, 1100),  # middle of a block
        (RANGED_SIZE - 10, RANGED_SIZE),  # end
        (BLOCK - 3, BLOCK + 3),  # across one block boundary
        (BLOCK - 1, 3 * BLOCK + 1),  # across several
        (BLOCK, 2 * BLOCK),  # exactly one block
        (0, RANGED_SIZE),  # everything
        (RANGED_SIZE - 5, RANGED_SIZE + 1000),  # past the end clamps
        (7, 7),  # empty
        (9, 3),  # end before start
        (RANGED_SIZE, RANGED_SIZE + 10),  # start at the size
        (RANGED_SIZE + 10, RANGED_SIZE + 20),  # start past the size
    ],
)
async def test_get_range_returns_slice_for_range(blob_store: BlobStore, start: int, end: int) -> None:
    data = make_data(RANGED_SIZE)
    await blob_store.put("ranged", data)
    assert await blob_store.get_range("ranged", start, end) == data[start:end]


async def test_get_range_returns_empty_for_empty_blob(blob_store: BlobStore) -> None:
    await blob_store.put("empty", b"")
    assert await blob_store.get_range("empty", 0, 10) == b""


async def test_get_range_rejects_negative_offset(blob_store: BlobStore) -> None:
    await blob_store.put("k", b"abc")
    with pytest.raises(InvalidError):
        await blob_store.get_range("k", -1, 2)
    with pytest.raises(InvalidError):
        await blob_store.get_range("k", 0, -2)


async def test_get_raises_not_found_when_key_missing(blob_store: BlobStore) -> None:
    await blob_store.put("present", b"x")
    with pytest.raises(BlobNotFoundError, match="absent"):
        await blob_store.get("absent")


@pytest.mark.parametrize(("start", "end"), [(0, 10), (5, 5), (100, 200)])
async def test_get_range_raises_not_found_when_key_missing(
    blob_store: BlobStore, start: int, end: int
) -> None:
    with pytest.raises(BlobNotFoundError):
        await blob_store.get_range("absent", start, end)


async def test_delete_returns_true_then_false(blob_store: BlobStore) -> None:
    await blob_store.put("dir/k", b"x")
    assert await blob_store.delete("dir/k") is True
    assert await blob_store.delete("dir/k") is False
    with pytest.raises(BlobNotFoundError):
        await blob_store.get("dir/k")


async def test_exists_follows_put_and_delete(blob_store: BlobStore) -> None:
    assert await blob_store.exists("a/b") is False
    await blob_store.put("a/b", b"")
    assert await blob_store.exists("a/b") is True
    assert await blob_store.exists("a") is False  # a key's prefix is not a blob
    await blob_store.delete("a/b")
    assert await blob_store.exists("a/b") is False


LISTED_KEYS = ["a", "a-b", "a.b", "a/b", "a/b/c", "a/c", "a0", "ab", "b/x/y/z", "é/ü"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", LISTED_KEYS),
        ("a", ["a", "a-b", "a.b", "a/b", "a/b/c", "a/c", "a0", "ab"]),
        ("a/", ["a/b", "a/b/c", "a/c"]),
        ("a/b", ["a/b", "a/b/c"]),
        ("a.", ["a.b"]),
        ("b/x/", ["b/x/y/z"]),
        ("é", ["é/ü"]),
        ("zzz", []),
        ("a/b/c/", []),
    ],
)
async def test_list_yields_keys_with_prefix_in_key_order(
    blob_store: BlobStore, prefix: str, expected: list[str]
) -> None:
    for index, key in enumerate(reversed(LISTED_KEYS)):
        await blob_store.put(key, b"x" * index)
    assert [info.key for info in await collect(blob_store, prefix)] == expected


async def test_list_yields_sizes(blob_store: BlobStore) -> None:
    await blob_store.put("s/empty", b"")
    await blob_store.put("s/big", make_data(2 * BLOCK + 1))
    assert await collect(blob_store, "s/") == [BlobInfo("s/big", 2 * BLOCK + 1), BlobInfo("s/empty", 0)]


async def test_list_yields_nothing_when_store_empty(blob_store: BlobStore) -> None:
    assert await collect(blob_store) == []


async def test_key_and_keys_below_it_coexist(blob_store: BlobStore) -> None:
    await blob_store.put("a", b"file")
    await blob_store.put("a/b", b"below")
    assert (await blob_store.get("a"), await blob_store.get("a/b")) == (b"file", b"below")
    assert await blob_store.delete("a") is True
    assert await blob_store.get("a/b") == b"below"


async def test_put_accepts_key_of_maximum_length(blob_store: BlobStore) -> None:
    key = "/".join(["s" * 200] * 5) + "/" + "t" * 19  # 5 * 201 + 19 = 1024 bytes
    assert len(key.encode()) == 1024
    await blob_store.put(key, b"long")
    assert await blob_store.get(key) == b"long"
    assert await collect(blob_store) == [BlobInfo(key, 4)]


INVALID_KEYS = ["", "..", "a/../b", "./a", "/a", "a/", "a//b", "a\x00b", "a\nb", "k" * 1025, "é" * 513]


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_operations_reject_invalid_key(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        await blob_store.put(key, b"x")
    with pytest.raises(InvalidBlobKeyError):
        await blob_store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        await blob_store.get_range(key, 0, 1)
    with pytest.raises(InvalidBlobKeyError):
        await blob_store.delete(key)
    with pytest.raises(InvalidBlobKeyError):
        await blob_store.exists(key)
    assert await collect(blob_store) == []
