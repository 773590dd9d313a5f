"""What only S3BlobStore promises: checksums checked on read, prefixes that isolate, explicit buckets."""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError

from scalebox.core.blobs import BlobInfo, S3BlobStore
from scalebox.core.errors import IntegrityError
from tests.core.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, make_s3_blob_store


@pytest.fixture
def raw_client(boto3_session: boto3.session.Session, s3_endpoint_url: str):
    """A plain boto3 client on the same moto server, to write objects behind the store's back."""
    client = boto3_session.client(
        "s3",
        endpoint_url=s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )
    yield client
    client.close()


async def collect(store: S3BlobStore, prefix: str = "") -> list[BlobInfo]:
    return [info async for info in store.list(prefix)]


async def test_put_stores_sha256_checksum(s3_blob_store: S3BlobStore, s3_bucket: str, raw_client) -> None:
    await s3_blob_store.put("k", b"payload")
    head = raw_client.head_object(Bucket=s3_bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"payload").digest()).decode()


async def test_get_raises_integrity_error_when_checksum_mismatches(
    s3_blob_store: S3BlobStore, s3_bucket: str, raw_client
) -> None:
    # moto keeps whatever checksum it is sent, so this stands in for bytes damaged at rest.
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    raw_client.put_object(
        Bucket=s3_bucket, Key="photos/cat", Body=b"meow", ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong
    )
    with pytest.raises(IntegrityError, match="'photos/cat'"):
        await s3_blob_store.get("photos/cat")


async def test_get_reads_object_stored_without_checksum(
    s3_blob_store: S3BlobStore, s3_bucket: str, raw_client
) -> None:
    raw_client.put_object(Bucket=s3_bucket, Key="plain", Body=b"no checksum kept")
    assert await s3_blob_store.get("plain") == b"no checksum kept"
    assert await s3_blob_store.get_range("plain", 3, 11) == b"checksum"


async def test_stores_with_different_prefixes_do_not_see_each_other(
    boto3_session: boto3.session.Session, s3_endpoint_url: str, s3_bucket: str, raw_client
) -> None:
    photos = make_s3_blob_store(boto3_session, s3_endpoint_url, s3_bucket, prefix="photos")
    music = make_s3_blob_store(boto3_session, s3_endpoint_url, s3_bucket, prefix="/music/")
    await photos.ensure_bucket()
    await photos.put("a", b"photo")
    await music.put("a", b"song")
    assert (await photos.get("a"), await music.get("a")) == (b"photo", b"song")
    assert await collect(photos) == [BlobInfo("a", 5)]
    names = [item["Key"] for item in raw_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert names == ["music/a", "photos/a"]
    await photos.close()
    await music.close()


async def test_list_skips_objects_with_keys_the_port_cannot_address(
    s3_blob_store: S3BlobStore, s3_bucket: str, raw_client
) -> None:
    await s3_blob_store.put("dir/ok", b"1")
    raw_client.put_object(Bucket=s3_bucket, Key="dir/", Body=b"")  # a console "folder" marker
    raw_client.put_object(Bucket=s3_bucket, Key="dir//double", Body=b"")
    assert await collect(s3_blob_store) == [BlobInfo("dir/ok", 1)]


async def test_ensure_bucket_accepts_existing_bucket(s3_blob_store: S3BlobStore) -> None:
    await s3_blob_store.ensure_bucket()
    await s3_blob_store.put("k", b"still here")
    await s3_blob_store.ensure_bucket()
    assert await s3_blob_store.get("k") == b"still here"


async def test_ensure_bucket_creates_bucket_outside_default_region(
    boto3_session: boto3.session.Session, s3_endpoint_url: str, s3_bucket: str
) -> None:
    store = S3BlobStore(
        s3_bucket,
        endpoint_url=s3_endpoint_url,
        region="eu-west-1",
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        session=boto3_session,
    )
    await store.ensure_bucket()
    await store.ensure_bucket()
    await store.put("k", b"in Ireland")
    assert await store.get("k") == b"in Ireland"
    await store.close()


async def test_operations_raise_client_error_when_bucket_missing(
    boto3_session: boto3.session.Session, s3_endpoint_url: str, s3_bucket: str
) -> None:
    # A missing bucket is a deployment mistake, not a missing blob: it must not read as "not found".
    store = make_s3_blob_store(boto3_session, s3_endpoint_url, s3_bucket)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        await store.put("k", b"nowhere to go")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        await store.get("k")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        await store.get_range("k", 0, 1)
    # exists() and delete() cannot tell: S3 answers HEAD with a bare 404 either way.
    await store.close()


def test_constructor_rejects_half_of_a_credential_pair() -> None:
    with pytest.raises(ValueError, match="both"):
        S3BlobStore("bucket", access_key="only-the-key")
