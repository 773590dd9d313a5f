"""Fixtures for core tests: S3 servers on loopback (moto, and scalebox's own object store, one of each
per session) and BlobStores over them.

Both run as real servers, so S3BlobStore talks real HTTP through botocore exactly as it would to
AWS or MinIO. The credentials go to each client explicitly; the process environment is never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from scalebox.core.blobs import BlobStore, FilesystemBlobStore, MemoryBlobStore, S3BlobStore
from tests.objectstore.harness import running_objectstore
from tests.objectstore.s3_server import ROOT_ACCESS_KEY, ROOT_SECRET_KEY

if TYPE_CHECKING:
    from tests.eventlog.harness import RunningBroker

S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing"
CONTRACT_BLOCK_BYTES = 4096  # small blocks, so modest blobs cross many block boundaries


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """http://127.0.0.1:<port> of a moto S3 server started on a free port for this session."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415  (2 s import; only S3 tests pay it)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def objectstore_endpoint_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:<port> of scalebox's object store, in this process, for this session."""
    with running_objectstore(tmp_path_factory.mktemp("objectstore")) as running:
        yield running.url


@pytest.fixture(scope="session")
def boto3_session() -> boto3.session.Session:
    """One Session for every test client, so the S3 model is loaded from disk once, not per test."""
    return boto3.session.Session()


def make_s3_blob_store(
    session: boto3.session.Session,
    endpoint_url: str,
    bucket: str,
    prefix: str = "",
    *,
    credentials: tuple[str, str] = (S3_ACCESS_KEY, S3_SECRET_KEY),
) -> S3BlobStore:
    return S3BlobStore(
        bucket,
        prefix,
        endpoint_url=endpoint_url,
        access_key=credentials[0],
        secret_key=credentials[1],
        session=session,
    )


@pytest.fixture
def s3_bucket(request: pytest.FixtureRequest) -> str:
    """A bucket name no other test uses: the moto server lives for the whole session."""
    return "t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:40]


@pytest.fixture
async def s3_blob_store(
    boto3_session: boto3.session.Session, s3_endpoint_url: str, s3_bucket: str
) -> AsyncIterator[S3BlobStore]:
    store = make_s3_blob_store(boto3_session, s3_endpoint_url, s3_bucket)
    await store.ensure_bucket()
    yield store
    await store.close()


@pytest.fixture(params=["memory", "filesystem", "s3", "objectstore"])
async def blob_store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_bucket: str
) -> AsyncIterator[BlobStore]:
    """Each BlobStore adapter in turn, empty; the contract suite runs once per adapter."""
    store: BlobStore
    if request.param == "memory":
        store = MemoryBlobStore()
    elif request.param == "filesystem":
        store = FilesystemBlobStore(tmp_path / "blobs", block_bytes=CONTRACT_BLOCK_BYTES)
    elif request.param == "s3":
        # Looked up lazily, so memory and filesystem runs never start a server.
        s3_store = make_s3_blob_store(
            request.getfixturevalue("boto3_session"), request.getfixturevalue("s3_endpoint_url"), s3_bucket
        )
        await s3_store.ensure_bucket()
        store = s3_store
    else:
        s3_store = make_s3_blob_store(
            request.getfixturevalue("boto3_session"),
            request.getfixturevalue("objectstore_endpoint_url"),
            s3_bucket[:63],
            credentials=(ROOT_ACCESS_KEY, ROOT_SECRET_KEY),
        )
        await s3_store.ensure_bucket()
        store = s3_store
    yield store
    await store.close()


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """scalebox's Kafka broker, in this process, for one test module (`.bootstrap` is host:port).

    Time-based retention is off: tests stamp events with a FakeClock whose time is long past.
    """
    from tests.eventlog.harness import running_broker  # noqa: PLC0415  (only Kafka runs pay the import)

    with running_broker(tmp_path_factory.mktemp("eventlog"), retention_ms=-1) as broker:
        yield broker


@pytest.fixture
def kafka_namespace(request: pytest.FixtureRequest) -> str:
    """A topic and group prefix no other test uses: one broker serves a whole module."""
    return "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16] + "."
