"""The one boto3 client both servers get: SigV4, path-style addressing, boto3's default checksums, a
connection pool at least as large as the threads sharing it, and no retries (a failed request is
counted as an error, never hidden by a second attempt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import boto3.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    """Where a server under test answers and the key to sign with; picklable, for worker processes."""

    name: str
    url: str
    access_key: str
    secret_key: str


def make_config(pool_connections: int) -> Config:
    """The botocore settings of every client of the run, whichever server it talks to."""
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        max_pool_connections=max(pool_connections, 10),
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=300,
    )


def make_client(endpoint: Endpoint, pool_connections: int = 10) -> S3Client:
    """A client of its own session: boto3's default session is not safe to build clients from in
    several threads at once."""
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=REGION,
        config=make_config(pool_connections),
    )


def transfer_config(part_bytes: int) -> TransferConfig:
    """upload_file/download_file in `part_bytes` parts (and ranges), boto3's default concurrency (10),
    and the classic Python transfer manager for both servers (boto3 may pick the CRT one on some hosts
    when awscrt is installed, as it is here)."""
    return TransferConfig(
        multipart_threshold=part_bytes,
        multipart_chunksize=part_bytes,
        preferred_transfer_client="classic",
    )
