"""Multipart uploads through boto3 and s3transfer at their default checksum settings: parts, listings,
completion and its errors, copies of ranges, aborts, conditional completion and multipart checksums."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part but the last


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def _upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    algorithm = create.get("ChecksumAlgorithm")
    done = []
    for number, data in enumerate(parts, start=1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
        )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if algorithm:
            part[f"Checksum{algorithm}"] = answer[f"Checksum{algorithm}"]
        done.append(part)
    return upload_id, done


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


@pytest.fixture(scope="module")
def pieces():
    """Two 5 MiB parts and a short last one."""
    return [os.urandom(PART), os.urandom(PART), os.urandom(12345)]


def test_complete_multipart_upload_joins_the_parts_with_the_s3_etag(s3, bucket, pieces):
    upload_id, parts = _upload(s3, bucket, "mp", pieces, Metadata={"kind": "multi"}, ContentType="text/x-mp")
    assert [p["ETag"] for p in parts] == [f'"{hashlib.md5(p).hexdigest()}"' for p in pieces]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"] == _multipart_etag(pieces)
    assert done["Key"] == "mp"
    assert done["Bucket"] == bucket
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ETag"] == _multipart_etag(pieces)
    assert got["ContentLength"] == sum(map(len, pieces))
    assert got["Metadata"] == {"kind": "multi"}
    assert got["ContentType"] == "text/x-mp"
    assert got["Body"].read() == b"".join(pieces)
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={PART - 10}-{PART + 9}")
    assert ranged["Body"].read() == (pieces[0] + pieces[1])[PART - 10 : PART + 10]
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["PartsCount"] == 3
    assert second["ContentRange"] == f"bytes {PART}-{2 * PART - 1}/{sum(map(len, pieces))}"
    assert second["Body"].read() == pieces[1]
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert _error(caught) == ("NoSuchUpload", 404)


def test_list_parts_pages_with_part_number_marker(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"a" * 10, b"b" * 20, b"c" * 30])
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [(p["PartNumber"], p["Size"]) for p in first["Parts"]] == [(1, 10), (2, 20)]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["IsTruncated"] is False
    assert rest["PartNumberMarker"] == 2
    assert [p["ETag"] for p in first["Parts"] + rest["Parts"]] == [p["ETag"] for p in parts]
    paged = s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="k", UploadId=upload_id, PaginationConfig={"PageSize": 1}
    )
    assert [p["PartNumber"] for page in paged for p in page["Parts"]] == [1, 2, 3]


def test_list_parts_of_an_unknown_upload_is_no_such_upload(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId="nope")
    assert _error(caught) == ("NoSuchUpload", 404)
    assert caught.value.response["Error"]["UploadId"] == "nope"


def test_upload_part_again_replaces_the_part(s3, bucket):
    upload_id, _ = _upload(s3, bucket, "k", [b"first"])
    again = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"second!")
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [(1, 7, again["ETag"])]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": again["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second!"


def test_upload_part_number_out_of_range_is_invalid_argument(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10001, Body=b"x")
    assert _error(caught) == ("InvalidArgument", 400)


def test_list_multipart_uploads_sorts_by_key_then_initiation(s3, bucket):
    ids = [s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"] for key in ("b", "a", "b", "b")]
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
        ("a", ids[1]),
        ("b", ids[0]),
        ("b", ids[2]),
        ("b", ids[3]),
    ]
    assert listed["IsTruncated"] is False
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2)
    assert page["IsTruncated"] is True
    assert (page["NextKeyMarker"], page["NextUploadIdMarker"]) == ("b", ids[0])
    rest = s3.list_multipart_uploads(
        Bucket=bucket, KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"]
    )
    assert [u["UploadId"] for u in rest["Uploads"]] == [ids[2], ids[3]]


def test_list_multipart_uploads_with_prefix_and_delimiter_pages(s3, bucket):
    keys = [f"dir/{i}" for i in range(5)] + ["top", "zz/1", "zz/2"]
    for key in keys:
        s3.create_multipart_upload(Bucket=bucket, Key=key)
    whole = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in whole["CommonPrefixes"]] == ["dir/", "zz/"]
    assert [u["Key"] for u in whole["Uploads"]] == ["top"]
    seen = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        seen += [u["Key"] for u in page.get("Uploads", [])]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert seen == ["dir/", "top", "zz/"]
    inside = s3.list_multipart_uploads(Bucket=bucket, Prefix="zz/")
    assert [u["Key"] for u in inside["Uploads"]] == ["zz/1", "zz/2"]


def test_abort_multipart_upload_then_every_use_is_no_such_upload(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"data"])
    assert (
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 204
    )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    for call in (
        lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"x"),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
        ),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("NoSuchUpload", 404)


def test_upload_part_under_another_key_is_no_such_upload(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert _error(caught) == ("NoSuchUpload", 404)


def test_complete_with_a_wrong_etag_is_invalid_part(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]},
        )
    assert _error(caught) == ("InvalidPart", 400)
    assert caught.value.response["Error"]["PartNumber"] == "1"
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts})


def test_complete_with_a_part_never_uploaded_is_invalid_part(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [*parts, {"PartNumber": 2, "ETag": parts[0]["ETag"]}]},
        )
    assert _error(caught) == ("InvalidPart", 400)


def test_complete_with_parts_out_of_order_is_invalid_part_order(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one", b"two"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts[::-1]}
        )
    assert _error(caught) == ("InvalidPartOrder", 400)


def test_complete_with_a_small_part_before_the_last_is_entity_too_small(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"tiny", b"last"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert _error(caught) == ("EntityTooSmall", 400)
    assert caught.value.response["Error"]["ProposedSize"] == "4"
    assert caught.value.response["Error"]["MinSizeAllowed"] == str(PART)


def test_complete_without_parts_is_malformed_xml(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": []}
        )
    assert _error(caught) == ("MalformedXML", 400)


def test_complete_with_a_subset_of_parts_keeps_only_those(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one", b"two", b"three"])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": [parts[0]]}
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_complete_with_if_none_match_star_on_an_existing_key_is_412(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"here first")
    upload_id, parts = _upload(s3, bucket, "k", [b"late"])
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
        )
    assert _error(caught) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"here first"
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1]


def test_complete_with_if_none_match_star_on_a_new_key_writes(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"first"])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_upload_part_copy_with_copy_source_range(s3, bucket, pieces):
    source = pieces[0] + pieces[2]
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{PART - 1}",
    )
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:PART]).hexdigest()}"'
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=2,
        CopySource=f"{bucket}/src",
        CopySourceRange=f"bytes={PART}-{len(source) - 1}",
    )
    parts = [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ETag"] == _multipart_etag([source[:PART], source[PART:]])
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source


@pytest.mark.parametrize("wanted", ["bytes=10-20", "bytes=0-5", "bytes=3-1", "bytes=2-", "bytes=-2", "0-1"])
def test_upload_part_copy_range_outside_the_source_is_invalid_argument(s3, bucket, wanted):
    s3.put_object(Bucket=bucket, Key="src", Body=b"short")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=wanted,
        )
    assert _error(caught) == ("InvalidArgument", 400)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)


def test_upload_part_copy_of_the_last_byte(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"short")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=4-4",
    )
    assert part["CopyPartResult"]["ETag"] == f'"{hashlib.md5(b"t").hexdigest()}"'


def test_s3transfer_upload_and_download_file_in_parts(s3, bucket, pieces, tmp_path):
    data = b"".join(pieces)
    source = tmp_path / "up.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=3)
    s3.upload_file(str(source), bucket, "transferred", Config=config)
    head = s3.head_object(Bucket=bucket, Key="transferred", ChecksumMode="ENABLED")
    assert head["ETag"] == _multipart_etag(pieces)
    assert head["ContentLength"] == len(data)
    part_crcs = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in pieces)
    assert head["ChecksumCRC32"] == f"{_b64(zlib.crc32(part_crcs).to_bytes(4, 'big'))}-3"
    assert head["ChecksumType"] == "COMPOSITE"
    target = tmp_path / "down.bin"
    s3.download_file(bucket, "transferred", str(target), Config=config)
    assert target.read_bytes() == data


def test_s3transfer_upload_fileobj_below_the_threshold_is_one_put(s3, bucket, tmp_path):
    source = tmp_path / "small.bin"
    source.write_bytes(b"small file")
    s3.upload_file(str(source), bucket, "small", Config=TransferConfig(multipart_threshold=PART))
    assert s3.head_object(Bucket=bucket, Key="small")["ETag"] == f'"{hashlib.md5(b"small file").hexdigest()}"'


def test_multipart_sha256_composite_checksum(s3, bucket, pieces):
    pieces = [pieces[0], pieces[2]]
    upload_id, parts = _upload(s3, bucket, "k", pieces, ChecksumAlgorithm="SHA256")
    part_digests = [hashlib.sha256(p).digest() for p in pieces]
    assert [p["ChecksumSHA256"] for p in parts] == [_b64(d) for d in part_digests]
    expected = f"{_b64(hashlib.sha256(b''.join(part_digests)).digest())}-2"
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert [p["ChecksumSHA256"] for p in listed["Parts"]] == [_b64(d) for d in part_digests]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert done["ChecksumSHA256"] == expected
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected
    assert head["ChecksumType"] == "COMPOSITE"
    part = s3.get_object(Bucket=bucket, Key="k", PartNumber=1, ChecksumMode="ENABLED")
    assert part["Body"].read() == pieces[0]


def test_multipart_crc32_full_object_checksum(s3, bucket, pieces):
    pieces = [pieces[0], pieces[2]]
    upload_id, parts = _upload(s3, bucket, "k", pieces, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    whole = b"".join(pieces)
    expected = _b64(zlib.crc32(whole).to_bytes(4, "big"))
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},
        ChecksumCRC32=expected,
        ChecksumType="FULL_OBJECT",
    )
    assert done["ChecksumCRC32"] == expected
    assert done["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == expected
    assert got["Body"].read() == whole


def test_complete_with_a_wrong_full_object_checksum_is_bad_digest(s3, s3_once, bucket):
    upload_id, parts = _upload(
        s3, bucket, "k", [b"only part"], ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    with pytest.raises(ClientError) as caught:
        s3_once.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumCRC32=_b64(zlib.crc32(b"something else").to_bytes(4, "big")),
            ChecksumType="FULL_OBJECT",
        )
    assert _error(caught) == ("BadDigest", 400)


def test_create_multipart_upload_sha256_full_object_is_invalid_request(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(
            Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"
        )
    assert _error(caught) == ("InvalidRequest", 400)


def test_upload_part_with_another_checksum_than_the_upload_is_invalid_request(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(
            Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x", ChecksumAlgorithm="CRC32"
        )
    assert _error(caught) == ("InvalidRequest", 400)


def test_complete_with_a_wrong_part_checksum_is_invalid_part(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one"], ChecksumAlgorithm="SHA256")
    parts[0]["ChecksumSHA256"] = _b64(hashlib.sha256(b"two").digest())
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert _error(caught) == ("InvalidPart", 400)


def test_complete_with_another_checksum_type_is_invalid_request(s3, bucket):
    upload_id, parts = _upload(s3, bucket, "k", [b"one"], ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            ChecksumType="FULL_OBJECT",
        )
    assert _error(caught) == ("InvalidRequest", 400)


def test_upload_part_wrong_checksum_is_bad_digest(s3, s3_once, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3_once.upload_part(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"x",
            ChecksumCRC32=_b64(zlib.crc32(b"y").to_bytes(4, "big")),
        )
    assert _error(caught) == ("BadDigest", 400)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
