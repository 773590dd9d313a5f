"""Bucket listings through boto3: v1 and v2, prefixes, delimiters, pagination, URL encoding, owners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import insert, select

from scalebox.core.db import open_engine
from scalebox.objectstore.storage.tables import buckets, objects
from tests.objectstore.harness import RunningStore

MANY = 2500
NESTED = [
    "a/1",
    "a/2",
    "a/b/3",
    "b",
    "c/1",
    "c/2",
    "c/3",
    "d",
    "e/x/y",
    "e/z",
    "f",
    "photos/2023/jan.jpg",
    "photos/2023/feb.jpg",
    "photos/2024/mar.jpg",
    "photos/readme",
]


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


async def _insert_keys(store: RunningStore, bucket: str, keys: list[str]) -> None:
    """Empty objects straight into the metadata database in one transaction (a PUT each is slower)."""
    engine = open_engine(store.objectstore.settings.resolved_database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            bucket_id = (
                await conn.execute(select(buckets.c.id).where(buckets.c.name == bucket))
            ).scalar_one()
            rows = [
                {
                    "bucket_id": bucket_id,
                    "key": key,
                    "version_id": "null",
                    "is_latest": True,
                    "is_delete_marker": False,
                    "size": 0,
                    "etag": '"d41d8cd98f00b204e9800998ecf8427e"',
                    "last_modified": now,
                    "headers_json": "{}",
                    "meta_json": "{}",
                    "tags_json": "{}",
                    "checksum_algorithm": "",
                    "checksum": "",
                    "checksum_type": "",
                    "inline_data": b"",
                    "parts_json": "[]",
                    "owner": "root",
                }
                for key in keys
            ]
            await conn.execute(insert(objects), rows)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def many(store, s3):
    """A bucket of MANY keys, 0000 to 2499."""
    name = f"many-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    store.call(_insert_keys(store, name, [f"{i:04d}" for i in range(MANY)]))
    return name


@pytest.fixture(scope="module")
def nested(s3):
    name = f"nested-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    for key in NESTED:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def test_list_objects_v2_paginator_walks_every_key_in_order(s3, many):
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=many))
    assert [page["KeyCount"] for page in pages] == [1000, 1000, 500]
    assert [page["IsTruncated"] for page in pages] == [True, True, False]
    keys = [obj["Key"] for page in pages for obj in page["Contents"]]
    assert keys == [f"{i:04d}" for i in range(MANY)]


def test_list_objects_v1_paginator_walks_every_key_in_order(s3, many):
    pages = list(
        s3.get_paginator("list_objects").paginate(Bucket=many, Prefix="12", PaginationConfig={"PageSize": 30})
    )
    assert [len(page["Contents"]) for page in pages] == [30, 30, 30, 10]
    keys = [obj["Key"] for page in pages for obj in page["Contents"]]
    assert keys == [f"12{i:02d}" for i in range(100)]


def test_list_objects_v2_max_keys_over_1000_is_capped(s3, many):
    page = s3.list_objects_v2(Bucket=many, MaxKeys=5000)
    assert page["KeyCount"] == 1000
    assert page["IsTruncated"] is True


def test_list_objects_v2_continuation_token_continues_after_the_page(s3, many):
    first = s3.list_objects_v2(Bucket=many, MaxKeys=3)
    assert [o["Key"] for o in first["Contents"]] == ["0000", "0001", "0002"]
    assert first["MaxKeys"] == 3
    second = s3.list_objects_v2(Bucket=many, MaxKeys=3, ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == ["0003", "0004", "0005"]
    assert second["ContinuationToken"] == first["NextContinuationToken"]


def test_list_objects_v2_bad_continuation_token_is_invalid_argument(s3, many):
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=many, ContinuationToken="!!not a token!!")
    assert _error(caught) == ("InvalidArgument", 400)


def test_list_objects_v2_start_after_skips_to_the_next_key(s3, many):
    page = s3.list_objects_v2(Bucket=many, StartAfter="2496")
    assert [o["Key"] for o in page["Contents"]] == ["2497", "2498", "2499"]
    assert page["StartAfter"] == "2496"
    assert page["IsTruncated"] is False


def test_list_objects_v2_prefix_selects_keys(s3, many):
    page = s3.list_objects_v2(Bucket=many, Prefix="123")
    assert [o["Key"] for o in page["Contents"]] == [f"123{i}" for i in range(10)]
    assert page["Prefix"] == "123"
    assert page["KeyCount"] == 10


def test_list_objects_v2_prefix_without_match_is_empty(s3, many):
    page = s3.list_objects_v2(Bucket=many, Prefix="zzz")
    assert page["KeyCount"] == 0
    assert "Contents" not in page
    assert page["IsTruncated"] is False


def test_list_objects_v2_delimiter_rolls_up_folders(s3, nested):
    page = s3.list_objects_v2(Bucket=nested, Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["b", "d", "f"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "c/", "e/", "photos/"]
    assert page["KeyCount"] == 7
    assert page["Delimiter"] == "/"


def test_list_objects_v2_prefix_and_delimiter_list_one_folder(s3, nested):
    page = s3.list_objects_v2(Bucket=nested, Prefix="photos/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["photos/readme"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["photos/2023/", "photos/2024/"]
    deeper = s3.list_objects_v2(Bucket=nested, Prefix="photos/2023/", Delimiter="/")
    assert [o["Key"] for o in deeper["Contents"]] == ["photos/2023/feb.jpg", "photos/2023/jan.jpg"]
    assert "CommonPrefixes" not in deeper


def test_list_objects_v2_multi_character_delimiter(s3, nested):
    page = s3.list_objects_v2(Bucket=nested, Delimiter="/2023/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["photos/2023/"]
    assert "photos/2024/mar.jpg" in [o["Key"] for o in page["Contents"]]


@pytest.mark.parametrize("max_keys", [1, 2, 3, 4])
def test_list_objects_v2_pages_never_repeat_common_prefixes(s3, nested, max_keys):
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=nested, Delimiter="/", PaginationConfig={"PageSize": max_keys}
        )
    )
    assert all(page["KeyCount"] <= max_keys for page in pages)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    assert keys == ["b", "d", "f"]
    assert prefixes == ["a/", "c/", "e/", "photos/"]


@pytest.mark.parametrize("max_keys", [1, 2, 3])
def test_list_objects_v1_pages_never_repeat_common_prefixes(s3, nested, max_keys):
    entries: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=nested, Delimiter="/", MaxKeys=max_keys, Marker=marker)
        entries += [o["Key"] for o in page.get("Contents", [])]
        entries += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert sorted(entries) == ["a/", "b", "c/", "d", "e/", "f", "photos/"]
    assert len(entries) == len(set(entries))


def test_list_objects_v1_without_delimiter_has_no_next_marker(s3, many):
    page = s3.list_objects(Bucket=many, MaxKeys=2)
    assert page["IsTruncated"] is True
    assert "NextMarker" not in page
    following = s3.list_objects(Bucket=many, MaxKeys=2, Marker=page["Contents"][-1]["Key"])
    assert [o["Key"] for o in following["Contents"]] == ["0002", "0003"]
    assert following["Marker"] == "0001"


def test_list_objects_v1_includes_owners_and_v2_only_when_fetch_owner(s3, nested):
    v1 = s3.list_objects(Bucket=nested)["Contents"][0]
    assert v1["Owner"]["DisplayName"] == "root"
    assert v1["Owner"]["ID"]
    assert "Owner" not in s3.list_objects_v2(Bucket=nested)["Contents"][0]
    v2 = s3.list_objects_v2(Bucket=nested, FetchOwner=True)["Contents"][0]
    assert v2["Owner"]["DisplayName"] == "root"


def test_list_objects_contents_carry_etag_size_and_storage_class(s3, nested):
    first = s3.list_objects_v2(Bucket=nested, Prefix="a/1")["Contents"][0]
    head = s3.head_object(Bucket=nested, Key="a/1")
    assert first["ETag"] == head["ETag"]
    assert first["Size"] == 3
    assert first["StorageClass"] == "STANDARD"


@pytest.fixture
def odd(s3, bucket):
    keys = ["a b/c", "a+b", "x&y<z>", "ü/é", "tab\there", "ctl\x01char", "100%", "q?s=1"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket, sorted(keys, key=lambda k: k.encode())


def test_list_objects_v2_encoding_type_url_encodes_keys_and_prefixes(s3, odd):
    bucket, keys = odd
    page = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert page["EncodingType"] == "url"
    raw = [o["Key"] for o in page["Contents"]]
    assert [unquote_plus(k) for k in raw] == keys
    assert all(ch not in k for k in raw for ch in " \t\x01&<?")
    folders = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="ü")
    assert [unquote_plus(p["Prefix"]) for p in folders["CommonPrefixes"]] == ["ü/"]
    assert unquote_plus(folders["Prefix"]) == "ü"


def test_list_objects_v1_encoding_type_url_encodes_keys(s3, odd):
    bucket, keys = odd
    page = s3.list_objects(Bucket=bucket, EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in page["Contents"]] == keys


def test_list_objects_default_boto3_listing_decodes_odd_keys(s3, odd):
    bucket, keys = odd
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == keys
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == keys


def test_list_objects_v2_unknown_encoding_type_is_invalid_argument(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=bucket, EncodingType="base64")
    assert _error(caught) == ("InvalidArgument", 400)


def test_list_objects_v2_negative_max_keys_is_invalid_argument(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert _error(caught) == ("InvalidArgument", 400)


def test_list_objects_keys_sort_as_utf8_bytes(s3, bucket):
    keys = ["Z", "a", "é", "\uffff", "😀", "~"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


def test_list_objects_max_keys_zero_is_an_empty_complete_page(s3, nested):
    for page in (s3.list_objects_v2(Bucket=nested, MaxKeys=0), s3.list_objects(Bucket=nested, MaxKeys=0)):
        assert page["IsTruncated"] is False
        assert "Contents" not in page
    versions = s3.list_object_versions(Bucket=nested, MaxKeys=0)
    assert versions["IsTruncated"] is False
    assert "Versions" not in versions
    upload_id = s3.create_multipart_upload(Bucket=nested, Key="pending")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=nested, MaxUploads=0)
    assert uploads["IsTruncated"] is False
    assert "Uploads" not in uploads
    s3.upload_part(Bucket=nested, Key="pending", UploadId=upload_id, PartNumber=1, Body=b"x")
    parts = s3.list_parts(Bucket=nested, Key="pending", UploadId=upload_id, MaxParts=0)
    assert parts["IsTruncated"] is False
    assert "Parts" not in parts
    s3.abort_multipart_upload(Bucket=nested, Key="pending", UploadId=upload_id)
