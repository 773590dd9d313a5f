"""The S3 API end to end with boto3 at its default settings (checksums on, aws-chunked uploads)."""

from __future__ import annotations

import hashlib
import os

import httpx


def test_put_get_list_delete_roundtrip_with_default_checksums(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello world", Metadata={"colour": "blue"})
    assert put["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
    assert put["ChecksumCRC32"] == "DUoRhQ=="
    got = s3.get_object(Bucket=bucket, Key="hello.txt")
    assert got["Body"].read() == b"hello world"
    assert got["Metadata"] == {"colour": "blue"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["hello.txt"]
    s3.delete_object(Bucket=bucket, Key="hello.txt")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_large_object_streams_through_erasure_coding(s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    ranged = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=1000-299999")
    assert ranged["Body"].read() == data[1000:300000]
    assert ranged["ContentRange"] == f"bytes 1000-299999/{len(data)}"


def test_presigned_url_fetched_without_credentials(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"for your eyes")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60
    )
    assert httpx.get(url).content == b"for your eyes"
    assert httpx.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 403
