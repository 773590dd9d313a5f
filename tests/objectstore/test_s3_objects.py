"""Object operations through boto3 at its default checksum settings: put, get, head, copy, delete,
ranges, preconditions, checksums, tags, and the S3 errors each gives."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from datetime import timedelta

import boto3
import httpx
import pytest
from awscrt import checksums as crt
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY

INLINE_MAX = 16 * 1024  # the harness's inline_bytes_max
STRIPE = 256 * 1024  # the harness's block_bytes
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


CHECKSUMS = {
    "CRC32": lambda data: _b64(zlib.crc32(data).to_bytes(4, "big")),
    "CRC32C": lambda data: _b64(crt.crc32c(data).to_bytes(4, "big")),
    "CRC64NVME": lambda data: _b64(crt.crc64nvme(data).to_bytes(8, "big")),
    "SHA1": lambda data: _b64(hashlib.sha1(data).digest()),
    "SHA256": lambda data: _b64(hashlib.sha256(data).digest()),
}


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module's raw requests (a client costs an SSL context to make)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def s3_once(store):
    """A client that never retries: boto3 retries a BadDigest after a backoff of about a second."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=store.url,
        region_name=REGION,
        aws_access_key_id=ROOT_ACCESS_KEY,
        aws_secret_access_key=ROOT_SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def _missing(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "404"
    return False


# Metadata and keys


def test_put_object_headers_and_metadata_round_trip_on_get_and_head(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="doc.txt",
        Body=b"hello",
        Metadata={"colour": "blue", "Mixed-Case": "Value With Spaces"},
        ContentType="text/plain; charset=utf-8",
        ContentDisposition='attachment; filename="doc.txt"',
        CacheControl="max-age=60",
        ContentEncoding="identity",
        ContentLanguage="en-GB",
    )
    for answer in (s3.get_object(Bucket=bucket, Key="doc.txt"), s3.head_object(Bucket=bucket, Key="doc.txt")):
        assert answer["Metadata"] == {"colour": "blue", "mixed-case": "Value With Spaces"}
        assert answer["ContentType"] == "text/plain; charset=utf-8"
        assert answer["ContentDisposition"] == 'attachment; filename="doc.txt"'
        assert answer["CacheControl"] == "max-age=60"
        assert answer["ContentEncoding"] == "identity"
        assert answer["ContentLanguage"] == "en-GB"
        assert answer["ContentLength"] == 5
        assert answer["ETag"] == f'"{_md5(b"hello")}"'
        assert answer["AcceptRanges"] == "bytes"
        assert "VersionId" not in answer


def test_put_object_without_content_type_defaults_to_binary_octet_stream(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="plain")["ContentType"] == "binary/octet-stream"


def test_put_object_content_encoding_gzip_is_kept_without_aws_chunked(s3, bucket):
    data = zlib.compress(b"squeeze " * 100)
    s3.put_object(Bucket=bucket, Key="z", Body=data, ContentEncoding="gzip")
    got = s3.get_object(Bucket=bucket, Key="z")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == data


def test_put_object_last_modified_agrees_across_head_get_and_listing(s3, bucket):
    s3.put_object(Bucket=bucket, Key="when", Body=b"x")
    head = s3.head_object(Bucket=bucket, Key="when")["LastModified"]
    got = s3.get_object(Bucket=bucket, Key="when")["LastModified"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    assert head == got == listed.replace(microsecond=0)


def test_put_object_user_metadata_over_2_kib_is_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="meta", Body=b"x", Metadata={"big": "v" * 2100})
    assert _error(caught) == ("MetadataTooLarge", 400)
    assert _missing(s3, bucket, "meta")


@pytest.mark.parametrize(
    "key",
    [
        "ünïcødé/ключ/鍵.txt",
        "with space.txt",
        "plus+sign",
        "per%cent%20",
        "a//b",
        "/leading-slash",
        "trailing/",
        "question?mark=1&x",
        "hash#tag",
        "semi;colon,comma",
        "tilde~star*quote'",
        "emoji 😀",
        "..",
        "a/./b/../c",
    ],
)
def test_put_get_list_key_round_trips_with_odd_characters(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(key.encode())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_put_object_key_of_1024_bytes_is_accepted(s3, bucket):
    key = "é" * 511 + "xx"
    assert len(key.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"long"


def test_put_object_key_of_1025_bytes_is_key_too_long(s3, bucket):
    key = "é" * 512 + "x"
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert _error(caught) == ("KeyTooLongError", 400)


# Sizes: inline, erasure-coded, multi-stripe


@pytest.mark.parametrize(
    "size", [0, 1, INLINE_MAX, INLINE_MAX + 1, STRIPE - 1, STRIPE, STRIPE + 1, 3 * STRIPE + 777]
)
def test_put_get_round_trips_objects_of_size(s3, bucket, size):
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="blob", Body=data)
    assert put["ETag"] == f'"{_md5(data)}"'
    assert put["ChecksumCRC32"] == CHECKSUMS["CRC32"](data)
    got = s3.get_object(Bucket=bucket, Key="blob")
    assert got["ContentLength"] == size
    assert got["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key="blob")["ContentLength"] == size


def test_put_object_zero_bytes_has_the_empty_md5(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == f'"{EMPTY_MD5}"'
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["Size"] == 0
    assert listed["ETag"] == f'"{EMPTY_MD5}"'


def test_put_object_overwrite_replaces_the_data(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=os.urandom(STRIPE + 5))
    s3.put_object(Bucket=bucket, Key="k", Body=b"small now")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"small now"


# Checksums


def test_put_object_default_crc32_is_returned_with_checksum_mode(s3, bucket):
    data = b"checksum me"
    s3.put_object(Bucket=bucket, Key="c", Body=data)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == CHECKSUMS["CRC32"](data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="c")


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1", "CRC32C", "CRC64NVME", "CRC32"])
@pytest.mark.parametrize("size", [100, 2 * STRIPE + 3])
def test_put_object_explicit_checksum_algorithm_is_kept_and_verified_on_get(s3, bucket, algorithm, size):
    data = os.urandom(size)
    expected = CHECKSUMS[algorithm](data)
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert type(got["Body"]) is not StreamingBody  # botocore wrapped it to verify the checksum
    assert got["Body"].read() == data
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["ChecksumAlgorithm"] == [algorithm]


def test_put_object_with_checksum_value_in_a_header_is_verified(s3, bucket):
    data = b"precomputed"
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumSHA256=CHECKSUMS["SHA256"](data))
    assert put["ChecksumSHA256"] == CHECKSUMS["SHA256"](data)


@pytest.mark.parametrize("size", [10, INLINE_MAX + 10, 2 * STRIPE])
def test_put_object_wrong_crc32_is_bad_digest_and_stores_nothing(s3, s3_once, bucket, size):
    data = os.urandom(size)
    with pytest.raises(ClientError) as caught:
        s3_once.put_object(Bucket=bucket, Key="bad", Body=data, ChecksumCRC32=CHECKSUMS["CRC32"](b"other"))
    assert _error(caught) == ("BadDigest", 400)
    assert _missing(s3, bucket, "bad")


def test_put_object_wrong_crc32_keeps_the_previous_object(s3, s3_once, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    with pytest.raises(ClientError) as caught:
        s3_once.put_object(Bucket=bucket, Key="k", Body=b"new", ChecksumCRC32=CHECKSUMS["CRC32"](b"old"))
    assert _error(caught) == ("BadDigest", 400)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_put_object_wrong_content_md5_is_bad_digest_and_stores_nothing(s3, s3_once, bucket):
    with pytest.raises(ClientError) as caught:
        s3_once.put_object(
            Bucket=bucket, Key="bad", Body=b"data", ContentMD5=_b64(hashlib.md5(b"other").digest())
        )
    assert _error(caught) == ("BadDigest", 400)
    assert _missing(s3, bucket, "bad")


def test_put_object_right_content_md5_is_accepted(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="ok", Body=b"data", ContentMD5=_b64(hashlib.md5(b"data").digest()))
    assert put["ETag"] == f'"{_md5(b"data")}"'


def test_put_object_content_md5_not_base64_is_invalid_digest(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ContentMD5="not-an-md5")
    assert _error(caught) == ("InvalidDigest", 400)


def test_put_object_unknown_checksum_algorithm_header_is_invalid_request(http, store, s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"})
    response = http.put(url, content=b"x", headers={"x-amz-checksum-algorithm": "MD4"})
    assert response.status_code == 400
    assert b"<Code>InvalidRequest</Code>" in response.content


# Conditional reads


@pytest.fixture
def stored(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="obj", Body=b"conditional")
    modified = s3.head_object(Bucket=bucket, Key="obj")["LastModified"]
    return bucket, put["ETag"], modified


def test_get_object_if_match_holds_or_fails_with_412(s3, stored):
    bucket, etag, _ = stored
    assert s3.get_object(Bucket=bucket, Key="obj", IfMatch=etag)["Body"].read() == b"conditional"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="obj", IfMatch='"0000"')
    assert _error(caught) == ("PreconditionFailed", 412)
    assert caught.value.response["Error"]["Condition"] == "If-Match"


def test_head_object_if_match_failing_is_412_without_body(s3, stored):
    bucket, _, _ = stored
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="obj", IfMatch='"0000"')
    assert _error(caught) == ("412", 412)


@pytest.mark.parametrize("method", ["get_object", "head_object"])
def test_read_if_none_match_current_etag_is_304(s3, stored, method):
    bucket, etag, _ = stored
    with pytest.raises(ClientError) as caught:
        getattr(s3, method)(Bucket=bucket, Key="obj", IfNoneMatch=etag)
    assert _error(caught) == ("304", 304)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    assert getattr(s3, method)(Bucket=bucket, Key="obj", IfNoneMatch='"other"')["ETag"] == etag


def test_get_object_if_modified_since_after_the_write_is_304(s3, stored):
    bucket, _, modified = stored
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="obj", IfModifiedSince=modified + timedelta(seconds=5))
    assert _error(caught) == ("304", 304)
    got = s3.get_object(Bucket=bucket, Key="obj", IfModifiedSince=modified - timedelta(days=1))
    assert got["Body"].read() == b"conditional"


def test_get_object_if_unmodified_since_before_the_write_is_412(s3, stored):
    bucket, _, modified = stored
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="obj", IfUnmodifiedSince=modified - timedelta(days=1))
    assert _error(caught) == ("PreconditionFailed", 412)
    got = s3.get_object(Bucket=bucket, Key="obj", IfUnmodifiedSince=modified + timedelta(seconds=5))
    assert got["Body"].read() == b"conditional"


def test_get_object_if_match_true_overrides_if_unmodified_since_false(s3, stored):
    bucket, etag, modified = stored
    got = s3.get_object(
        Bucket=bucket, Key="obj", IfMatch=etag, IfUnmodifiedSince=modified - timedelta(days=1)
    )
    assert got["Body"].read() == b"conditional"


# Conditional writes


def test_put_object_if_none_match_star_on_existing_key_is_412(s3, stored):
    bucket, _, _ = stored
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="obj", Body=b"other", IfNoneMatch="*")
    assert _error(caught) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"conditional"


def test_put_object_if_none_match_star_on_new_key_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"first", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"first"


def test_put_object_if_match_wrong_etag_is_412(s3, stored):
    bucket, _, _ = stored
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="obj", Body=b"other", IfMatch='"0123"')
    assert _error(caught) == ("PreconditionFailed", 412)


def test_put_object_if_match_current_etag_writes(s3, stored):
    bucket, etag, _ = stored
    s3.put_object(Bucket=bucket, Key="obj", Body=b"next", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"next"


def test_put_object_if_match_on_missing_key_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="ghost", Body=b"x", IfMatch='"0123"')
    assert _error(caught) == ("NoSuchKey", 404)
    assert _missing(s3, bucket, "ghost")


def test_put_object_if_none_match_star_with_large_body_stores_nothing(s3, stored):
    bucket, _, _ = stored
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="obj", Body=os.urandom(STRIPE + 1), IfNoneMatch="*")
    assert _error(caught) == ("PreconditionFailed", 412)


def test_put_object_refused_before_its_body_closes_the_connection(s3, stored):
    bucket, _, _ = stored
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="obj", Body=os.urandom(STRIPE), IfNoneMatch="*")
    assert _error(caught) == ("PreconditionFailed", 412)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["connection"] == "close"
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"conditional"


# Ranges


@pytest.fixture
def hundred(s3, bucket):
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    return bucket, data


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=-5", 95, 100),
        ("bytes=90-", 90, 100),
        ("bytes=95-200", 95, 100),
        ("bytes=-500", 0, 100),
        ("bytes=99-99", 99, 100),
    ],
)
def test_get_object_range_returns_206_and_the_slice(s3, hundred, header, start, end):
    bucket, data = hundred
    got = s3.get_object(Bucket=bucket, Key="r", Range=header, ChecksumMode="ENABLED")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end - 1}/100"
    assert got["ContentLength"] == end - start
    assert got["Body"].read() == data[start:end]
    assert "ChecksumCRC32" not in got


def test_head_object_range_returns_206_and_the_length(s3, hundred):
    bucket, _ = hundred
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 10
    assert head["ContentRange"] == "bytes 10-19/100"


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_get_object_range_beyond_the_end_is_invalid_range(s3, hundred, header):
    bucket, _ = hundred
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert _error(caught) == ("InvalidRange", 416)
    assert caught.value.response["Error"]["ActualObjectSize"] == "100"
    assert caught.value.response["Error"]["RangeRequested"] == header


@pytest.mark.parametrize("header", ["bytes=9-1", "items=0-1", "bytes=0-1,5-6", "bytes=x-y"])
def test_get_object_unusable_range_is_ignored(s3, hundred, header):
    bucket, data = hundred
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == data


def test_get_object_range_spanning_stripes_of_a_large_object(s3, bucket):
    data = os.urandom(3 * STRIPE + 11)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    for start, end in [(STRIPE - 3, 2 * STRIPE + 4), (1, 3 * STRIPE + 10), (3 * STRIPE, 3 * STRIPE + 10)]:
        got = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={start}-{end}")
        assert got["Body"].read() == data[start : end + 1]
        assert got["ContentRange"] == f"bytes {start}-{end}/{len(data)}"


def test_get_object_range_with_part_number_is_invalid_request(s3, hundred):
    bucket, _ = hundred
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-1", PartNumber=1)
    assert _error(caught) == ("InvalidRequest", 400)


def test_get_object_part_number_of_a_simple_object(s3, hundred):
    bucket, data = hundred
    got = s3.get_object(Bucket=bucket, Key="r", PartNumber=1)
    assert got["PartsCount"] == 1
    assert got["Body"].read() == data
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="r", PartNumber=2)
    assert _error(caught) == ("InvalidPartNumber", 416)


def test_get_object_range_on_an_empty_object_is_invalid_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-10")
    assert _error(caught) == ("InvalidRange", 416)


# Response header overrides


def test_presigned_get_with_response_overrides_sets_those_headers(http, s3, bucket):
    s3.put_object(Bucket=bucket, Key="data.bin", Body=b"a,b\n", ContentType="application/octet-stream")
    url = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "data.bin",
            "ResponseContentType": "text/csv",
            "ResponseContentDisposition": 'attachment; filename="data.csv"',
            "ResponseCacheControl": "no-cache",
        },
        ExpiresIn=60,
    )
    response = http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["content-disposition"] == 'attachment; filename="data.csv"'
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == b"a,b\n"


def test_get_object_with_response_content_type_overrides_the_stored_one(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"{}", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="k", ResponseContentType="application/json")
    assert got["ContentType"] == "application/json"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "text/plain"


# Copy


def test_copy_object_metadata_directive_copy_keeps_the_source_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"a": "1"}, ContentType="text/x-src")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{_md5(b"payload")}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/x-src"
    assert got["Body"].read() == b"payload"


def test_copy_object_metadata_directive_replace_uses_the_new_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"a": "1"}, ContentType="text/x-src")
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/x-dst",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "text/x-dst"
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"a": "1"}


def test_copy_object_onto_itself_without_replace_is_invalid_request(s3, bucket):
    s3.put_object(Bucket=bucket, Key="same", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "same"})
    assert _error(caught) == ("InvalidRequest", 400)


def test_copy_object_onto_itself_with_replace_updates_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="same", Body=b"x", Metadata={"v": "1"})
    s3.copy_object(
        Bucket=bucket,
        Key="same",
        CopySource={"Bucket": bucket, "Key": "same"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="same")
    assert got["Metadata"] == {"v": "2"}
    assert got["Body"].read() == b"x"


def test_copy_object_copy_source_if_match_failing_is_412(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch='"nope"'
        )
    assert _error(caught) == ("PreconditionFailed", 412)
    assert _missing(s3, bucket, "dst")


def test_copy_object_copy_source_if_none_match_current_is_412(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x")["ETag"]
    with pytest.raises(ClientError) as caught:
        s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfNoneMatch=etag
        )
    assert _error(caught) == ("PreconditionFailed", 412)


def test_copy_object_of_a_multi_stripe_object_copies_every_byte(s3, bucket):
    data = os.urandom(3 * STRIPE + 5)
    s3.put_object(Bucket=bucket, Key="big", Body=data, ChecksumAlgorithm="SHA256")
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{_md5(data)}"'
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == CHECKSUMS["SHA256"](data)
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == data


def test_copy_object_between_buckets_with_odd_key(s3, bucket):
    other = f"{bucket}-2"
    s3.create_bucket(Bucket=other)
    key = "dir/ä b+c%d?e"
    s3.put_object(Bucket=bucket, Key=key, Body=b"across")
    s3.copy_object(Bucket=other, Key=key, CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=other, Key=key)["Body"].read() == b"across"


def test_copy_object_missing_source_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "ghost"})
    assert _error(caught) == ("NoSuchKey", 404)


def test_copy_object_missing_source_bucket_is_no_such_bucket(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": f"{bucket}-gone", "Key": "k"})
    assert _error(caught) == ("NoSuchBucket", 404)


# Delete


def test_delete_object_missing_key_is_204(s3, bucket):
    assert s3.delete_object(Bucket=bucket, Key="ghost")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects_reports_every_key_deleted_missing_ones_too(s3, bucket):
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "missing"]
    assert "Errors" not in result
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_quiet_reports_nothing_on_success(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}], "Quiet": True})
    assert "Deleted" not in result
    assert "Errors" not in result
    assert _missing(s3, bucket, "a")


def test_delete_objects_with_odd_keys(s3, bucket):
    keys = ["a&b", "<tag>", "sp ace", "ü"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys)


def test_delete_objects_in_missing_bucket_is_no_such_bucket(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(Bucket=f"{bucket}-gone", Delete={"Objects": [{"Key": "a"}]})
    assert _error(caught) == ("NoSuchBucket", 404)


# Missing objects


def test_key_that_is_not_utf8_is_invalid_argument(http, store, bucket):
    response = http.get(f"{store.url}/{bucket}/bad%FFkey")
    assert response.status_code == 400
    assert "<Code>InvalidArgument</Code>" in response.text


def test_get_object_missing_key_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="ghost/key")
    assert _error(caught) == ("NoSuchKey", 404)
    assert caught.value.response["Error"]["Key"] == "ghost/key"


def test_head_object_missing_key_is_404_without_body(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="ghost")
    assert _error(caught) == ("404", 404)


def test_put_object_into_missing_bucket_is_no_such_bucket(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=f"{bucket}-gone", Key="k", Body=b"x")
    assert _error(caught) == ("NoSuchBucket", 404)


# Tags


def test_object_tagging_put_get_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    tags = [{"Key": "project", "Value": "scalebox"}, {"Key": "empty", "Value": ""}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == tags
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    deleted = s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="t")


def test_put_object_with_tagging_header_stores_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=two%20words&c=")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "two words"},
        {"Key": "c", "Value": ""},
    ]
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 3


def test_put_object_tagging_on_missing_key_is_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_object_tagging(Bucket=bucket, Key="ghost", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert _error(caught) == ("NoSuchKey", 404)


def test_put_object_tagging_with_eleven_tags_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    with pytest.raises(ClientError) as caught:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert _error(caught)[1] == 400
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


def test_put_object_tagging_duplicate_keys_is_invalid_tag(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    tags = [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]
    with pytest.raises(ClientError) as caught:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert _error(caught) == ("InvalidTag", 400)


def test_copy_object_tagging_directive_copy_and_replace(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="origin=src")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object_tagging(Bucket=bucket, Key="kept")["TagSet"] == [{"Key": "origin", "Value": "src"}]
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        TaggingDirective="REPLACE",
        Tagging="origin=copy&extra=1",
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [
        {"Key": "origin", "Value": "copy"},
        {"Key": "extra", "Value": "1"},
    ]
    s3.copy_object(
        Bucket=bucket, Key="untagged", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE"
    )
    assert s3.get_object_tagging(Bucket=bucket, Key="untagged")["TagSet"] == []


def test_object_subresource_not_implemented_is_501_in_s3_xml(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.get_object_acl(Bucket=bucket, Key="k")
    assert _error(caught) == ("NotImplemented", 501)
