"""Blob store URLs: `file:`, `memory://` and `s3://`, parsed purely, then opened as an adapter.

file:///var/lib/scalebox/blobs     absolute path (file://localhost/... too)
file:data/blobs                    relative to base_dir, else to the current directory
memory://                          a fresh MemoryBlobStore
s3://KEY:SECRET@bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1
                                   userinfo is percent-decoded; without it boto3's chain applies
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import assert_never
from urllib.parse import parse_qsl, unquote, urlsplit

from scalebox.core.blobs.filesystem import FilesystemBlobStore
from scalebox.core.blobs.memory import MemoryBlobStore
from scalebox.core.blobs.port import BlobStore
from scalebox.core.errors import InvalidError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z0-9-]{1,32}")
_S3_OPTIONS = frozenset({"endpoint_url", "region"})


class InvalidBlobStoreUrlError(InvalidError):
    """The blob store URL is not one of the supported forms; the message never repeats credentials."""

    code = "invalid_blob_store_url"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="url")


@dataclass(frozen=True, slots=True)
class FilesystemLocation:
    """Blobs under a directory on this machine."""

    root: Path


@dataclass(frozen=True, slots=True)
class MemoryLocation:
    """Blobs in this process's memory."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """Blobs in an S3-compatible bucket; None credentials mean boto3's usual chain (AWS_* and so on)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)


BlobStoreLocation = FilesystemLocation | MemoryLocation | S3Location


def parse_blob_store_url(url: str, *, base_dir: Path | None = None) -> BlobStoreLocation:
    """Where a URL says blobs live; raises InvalidBlobStoreUrlError. Reads no files and no environment."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidBlobStoreUrlError(f"blob store URL does not parse: {exc}") from exc
    if parts.fragment:
        raise InvalidBlobStoreUrlError("blob store URL must not have a #fragment")
    if parts.scheme == "file":
        return _parse_file(parts.netloc, parts.path, parts.query, base_dir)
    if parts.scheme == "memory":
        if parts.netloc or parts.path or parts.query:
            raise InvalidBlobStoreUrlError("memory blob store URL takes nothing after 'memory://'")
        return MemoryLocation()
    if parts.scheme == "s3":
        return _parse_s3(parts.netloc, parts.path, parts.query)
    raise InvalidBlobStoreUrlError(f"blob store URL scheme must be file, memory or s3, not {parts.scheme!r}")


def open_blob_store(url: str, *, base_dir: Path | None = None) -> BlobStore:
    """The adapter a URL names (see the module docstring); relative file paths resolve against base_dir."""
    location = parse_blob_store_url(url, base_dir=base_dir)
    if isinstance(location, FilesystemLocation):
        return FilesystemBlobStore(location.root)
    if isinstance(location, MemoryLocation):
        return MemoryBlobStore()
    if isinstance(location, S3Location):
        from scalebox.core.blobs.s3 import S3BlobStore  # noqa: PLC0415 - boto3 costs ~1 s to import

        return S3BlobStore(
            location.bucket,
            location.prefix,
            endpoint_url=location.endpoint_url,
            region=location.region,
            access_key=location.access_key,
            secret_key=location.secret_key,
        )
    assert_never(location)


def _parse_file(netloc: str, path: str, query: str, base_dir: Path | None) -> FilesystemLocation:
    if netloc not in ("", "localhost"):
        raise InvalidBlobStoreUrlError(
            f"file URL names host {netloc!r}: write file:///absolute/path or file:relative/path"
        )
    if query:
        raise InvalidBlobStoreUrlError("file blob store URL takes no ?options")
    if not path:
        raise InvalidBlobStoreUrlError("file blob store URL has no path")
    root = Path(unquote(path))
    if root.is_absolute() or base_dir is None:
        return FilesystemLocation(root=root)
    return FilesystemLocation(root=base_dir / root)


def _parse_s3(netloc: str, path: str, query: str) -> S3Location:
    userinfo, at, bucket = netloc.rpartition("@")
    if not _BUCKET.fullmatch(bucket):
        raise InvalidBlobStoreUrlError(f"s3 URL needs a bucket name of 3..63 of [a-z0-9.-], not {bucket!r}")
    access_key = secret_key = None
    if at:
        user, colon, password = userinfo.partition(":")
        if not (user and colon and password):
            raise InvalidBlobStoreUrlError("s3 URL credentials must be KEY:SECRET@ (percent-encoded)")
        access_key, secret_key = unquote(user), unquote(password)
    options = _parse_s3_options(query)
    endpoint_url = options.get("endpoint_url")
    if endpoint_url is not None:
        endpoint = urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise InvalidBlobStoreUrlError(
                f"s3 endpoint_url must be http(s)://host[:port], not {endpoint_url!r}"
            )
    region = options.get("region", "us-east-1")
    if not _REGION.fullmatch(region):
        raise InvalidBlobStoreUrlError(f"s3 region must be like 'us-east-1', not {region!r}")
    return S3Location(
        bucket=bucket,
        prefix=unquote(path).strip("/"),
        endpoint_url=endpoint_url,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
    )


def _parse_s3_options(query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise InvalidBlobStoreUrlError(f"s3 URL options do not parse: {exc}") from exc
    options: dict[str, str] = {}
    for name, value in pairs:
        if name not in _S3_OPTIONS:
            raise InvalidBlobStoreUrlError(f"unknown s3 URL option {name!r}; known: {sorted(_S3_OPTIONS)}")
        if name in options:
            raise InvalidBlobStoreUrlError(f"s3 URL option {name!r} is given twice")
        options[name] = value
    return options
