"""Blob store URLs: parse_blob_store_url is pure; open_blob_store picks the adapter it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalebox.core import blobs
from scalebox.core.blobs import (
    FilesystemBlobStore,
    FilesystemLocation,
    InvalidBlobStoreUrlError,
    MemoryBlobStore,
    MemoryLocation,
    S3BlobStore,
    S3Location,
    open_blob_store,
    parse_blob_store_url,
)
from scalebox.core.errors import InvalidError


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("file:///var/lib/blobs", "/var/lib/blobs"),
        ("file://localhost/var/lib/blobs", "/var/lib/blobs"),
        ("file:/var/lib/blobs", "/var/lib/blobs"),
        ("file:///srv/my%20blobs", "/srv/my blobs"),
        ("file:data/blobs", "/base/data/blobs"),
    ],
)
def test_parse_returns_filesystem_root_for_file_url(url: str, root: str) -> None:
    assert parse_blob_store_url(url, base_dir=Path("/base")) == FilesystemLocation(root=Path(root))


def test_parse_keeps_relative_path_when_base_dir_missing() -> None:
    assert parse_blob_store_url("file:data/blobs") == FilesystemLocation(root=Path("data/blobs"))


def test_parse_returns_memory_location_for_memory_url() -> None:
    assert parse_blob_store_url("memory://") == MemoryLocation()
    assert parse_blob_store_url("memory:") == MemoryLocation()


def test_parse_returns_bucket_alone_for_bare_s3_url() -> None:
    assert parse_blob_store_url("s3://photos-bucket") == S3Location(bucket="photos-bucket")


def test_parse_returns_every_s3_part_when_given() -> None:
    url = "s3://AKIA%2Fkey:se%2Fcr%40et@my.bucket/photos/v1/?endpoint_url=http://127.0.0.1:9000&region=eu-west-1"
    assert parse_blob_store_url(url) == S3Location(
        bucket="my.bucket",
        prefix="photos/v1",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-west-1",
        access_key="AKIA/key",
        secret_key="se/cr@et",
    )


def test_s3_location_repr_hides_secret_key() -> None:
    location = parse_blob_store_url("s3://key:hunter2@bucket")
    assert "hunter2" not in repr(location)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://host/x", "scheme"),
        ("/just/a/path", "scheme"),
        ("file://otherhost/x", "host"),
        ("file://data/blobs", "host"),
        ("file:", "no path"),
        ("file:///x?block_bytes=1", "options"),
        ("file:///x#frag", "fragment"),
        ("memory://name", "nothing"),
        ("s3://", "bucket"),
        ("s3://Upper", "bucket"),
        ("s3://ab", "bucket"),
        ("s3://bucket:9000", "bucket"),
        ("s3://key@bucket", "KEY:SECRET"),
        ("s3://:secret@bucket", "KEY:SECRET"),
        ("s3://bucket?colour=red", "unknown"),
        ("s3://bucket?region=a&region=b", "twice"),
        ("s3://bucket?endpoint_url=localhost:9000", "endpoint_url"),
        ("s3://bucket?endpoint_url=ftp://h", "endpoint_url"),
        ("s3://bucket?region=EU%20WEST", "region"),
        ("s3://bucket?novalue", "parse"),
        ("s3://[::1", "parse"),
    ],
)
def test_parse_rejects_malformed_url(url: str, complaint: str) -> None:
    with pytest.raises(InvalidBlobStoreUrlError, match=complaint) as caught:
        parse_blob_store_url(url)
    assert isinstance(caught.value, InvalidError)
    assert caught.value.field == "url"


def test_parse_error_never_repeats_secret() -> None:
    with pytest.raises(InvalidBlobStoreUrlError) as caught:
        parse_blob_store_url("s3://key:hunter2@bucket?colour=red")
    assert "hunter2" not in str(caught.value)


async def test_open_returns_filesystem_store_rooted_at_base_dir(tmp_path: Path) -> None:
    store = open_blob_store("file:blobs", base_dir=tmp_path)
    assert isinstance(store, FilesystemBlobStore)
    await store.put("k", b"on disk")
    assert (tmp_path / "blobs" / "k.blob").is_file()


def test_open_returns_new_memory_store_each_time() -> None:
    first, second = open_blob_store("memory://"), open_blob_store("memory://")
    assert isinstance(first, MemoryBlobStore)
    assert first is not second


async def test_open_returns_s3_store_without_network() -> None:
    store = open_blob_store("s3://key:secret@bucket/prefix?endpoint_url=http://127.0.0.1:1")
    assert isinstance(store, S3BlobStore)
    await store.close()


def test_all_names_exist_and_are_sorted() -> None:
    assert all(hasattr(blobs, name) for name in blobs.__all__)
    assert blobs.__all__ == sorted(blobs.__all__)
