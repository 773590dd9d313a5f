"""ListObjectsV2 over many keys: filling a bucket with empty objects as fast as the load workers go
(the same boto3 client settings as every other case), then one full paginated listing, timed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import load as loadgen
from client import Endpoint
from load import LoadResult, Shape, Task

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "list/"
PAGE_KEYS = 1000  # S3's default and largest MaxKeys


@dataclass(frozen=True)
class Listing:
    """A bucket filled with `asked` empty objects, and its full listing."""

    asked: int
    fill: LoadResult
    listed: int
    pages: int
    seconds: float

    @property
    def keys_per_second(self) -> float:
        return self.listed / self.seconds if self.seconds else 0.0


def fill_and_list(
    endpoint: Endpoint, client: S3Client, server_pid: int, *, bucket: str, keys: int, shape: Shape
) -> Listing:
    """PUT `keys` empty objects (`list/00000000`...) from the load workers, then list them all, 1,000 a
    page; the listing must find every key that was written."""
    fill = loadgen.run(endpoint, server_pid, shape, Task(bucket, "fill", PREFIX, body_bytes=0, keys=keys))
    started = time.monotonic()
    listed = pages = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=PREFIX, PaginationConfig={"PageSize": PAGE_KEYS}):
        listed += len(page.get("Contents", []))
        pages += 1
    seconds = time.monotonic() - started
    if listed != fill.ops:
        raise RuntimeError(f"{endpoint.name} listed {listed:,} keys of the {fill.ops:,} written")
    return Listing(asked=keys, fill=fill, listed=listed, pages=pages, seconds=seconds)
