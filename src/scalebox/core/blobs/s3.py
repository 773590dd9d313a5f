"""S3BlobStore: blobs as objects in any S3-compatible bucket (ours, AWS, MinIO, Ceph) through boto3.

boto3 is synchronous, so every call runs in a worker thread; the client is made once and is
thread-safe. Integrity: put sends a SHA-256 the store checks and keeps; get asks for it back and
botocore verifies the body. A store that keeps no checksum is read unverified rather than refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, FlexibleChecksumError

from scalebox.core.blobs.port import BlobInfo, BlobNotFoundError, InvalidBlobKeyError, validate_key
from scalebox.core.errors import IntegrityError, InvalidError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import ListObjectsV2OutputTypeDef

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_DEFAULT_REGION = "us-east-1"  # the one region where CreateBucket takes no LocationConstraint


class S3BlobStore:
    """BlobStore on an S3 bucket; keys live under `prefix` ("photos" stores "a" as "photos/a").

    Credentials default to boto3's chain (AWS_* variables, config files, instance roles). A missing
    bucket raises ClientError from put, get and list, but exists() and delete() see it as a missing
    key: S3 answers their HEAD with a bare 404 that does not say which one is absent.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = _DEFAULT_REGION,
        access_key: str | None = None,
        secret_key: str | None = None,
        session: boto3.session.Session | None = None,
    ) -> None:
        if (access_key is None) != (secret_key is None):
            raise ValueError("give both access_key and secret_key, or neither to use boto3's chain")
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._region = region
        # A new Session loads the S3 model from disk (~0.2 s); pass one to share it between stores.
        self._client: S3Client = (session or boto3.session.Session()).client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=_config(endpoint_url),
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists already; put never creates it implicitly."""
        await asyncio.to_thread(self._create_bucket)

    async def put(self, key: str, data: bytes) -> None:
        name = self._name_for(key)
        await asyncio.to_thread(self._put, name, bytes(data))

    async def get(self, key: str) -> bytes:
        name = self._name_for(key)
        return await asyncio.to_thread(self._get, name, key)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        name = self._name_for(key)
        if start < 0 or end < 0:
            raise InvalidError(f"byte range [{start}, {end}) has a negative offset", field="range")
        return await asyncio.to_thread(self._get_range, name, key, start, end)

    async def delete(self, key: str) -> bool:
        name = self._name_for(key)
        # S3 deletes idempotently and never says whether the key existed, so ask first. Two racing
        # deletes may therefore both answer True; the object is gone either way.
        return await asyncio.to_thread(self._delete, name)

    async def exists(self, key: str) -> bool:
        name = self._name_for(key)
        return await asyncio.to_thread(self._head, name)

    async def list(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix))
        while (page := await asyncio.to_thread(_next_page, pages)) is not None:
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(self._prefix)
                if _is_valid_key(key):  # objects other clients wrote under names we cannot address
                    yield BlobInfo(key=key, size_bytes=item["Size"])

    async def close(self) -> None:
        self._client.close()

    def _name_for(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _create_bucket(self) -> None:
        try:
            if self._region == _DEFAULT_REGION:
                self._client.create_bucket(Bucket=self._bucket)
            else:
                constraint = cast("BucketLocationConstraintType", self._region)
                self._client.create_bucket(
                    Bucket=self._bucket, CreateBucketConfiguration={"LocationConstraint": constraint}
                )
        except ClientError as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def _put(self, name: str, data: bytes) -> None:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self._client.put_object(
            Bucket=self._bucket, Key=name, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=digest
        )

    def _get(self, name: str, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=name, ChecksumMode="ENABLED")
            body = response["Body"]
            try:
                return body.read()  # botocore checks the checksum once the body is read to its end
            finally:
                body.close()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFoundError(f"no blob under key {key!r}") from exc
            raise
        except FlexibleChecksumError as exc:
            raise IntegrityError(f"blob {key!r}: {exc}") from exc

    def _get_range(self, name: str, key: str, start: int, end: int) -> bytes:
        if end <= start:  # no bytes wanted, but a missing key is still an error
            if not self._head(name):
                raise BlobNotFoundError(f"no blob under key {key!r}")
            return b""
        try:
            response = self._client.get_object(
                Bucket=self._bucket, Key=name, Range=f"bytes={start}-{end - 1}"
            )
        except ClientError as exc:
            if _error_code(exc) == "InvalidRange":
                return b""  # start is at or past the end of a blob that exists
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFoundError(f"no blob under key {key!r}") from exc
            raise
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        # A store that ignores Range answers 200 with the whole object; cut the range out ourselves.
        return data if response.get("ContentRange") else data[start:end]

    def _delete(self, name: str) -> bool:
        if not self._head(name):
            return False
        self._client.delete_object(Bucket=self._bucket, Key=name)
        return True

    def _head(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=name)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return False
            raise
        return True


def _config(endpoint_url: str | None) -> Config:
    return Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=32,  # asyncio's default thread pool has at most 32 workers
        # Checksums exactly where we ask for them: put sends our SHA-256, get sets ChecksumMode.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Self-hosted stores (ours, MinIO, moto) have no per-bucket DNS names.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )


def _next_page(pages: Iterator[ListObjectsV2OutputTypeDef]) -> ListObjectsV2OutputTypeDef | None:
    return next(pages, None)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_valid_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidBlobKeyError:
        return False
    return True
