"""The lifecycle job applies stored rules to versions and uploads, on a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalebox.cli import app
from scalebox.core.clock import FakeClock
from scalebox.objectstore.app import ObjectStore, open_objectstore
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import WriteRequest
from scalebox.objectstore.settings import ObjectStoreSettings

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
OWNER = Principal("AKOWNER", "owner", is_admin=False)
DAY = timedelta(days=1)

EXPIRE_LOGS_AFTER_3_DAYS = b"""<LifecycleConfiguration>
  <Rule><ID>logs</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>
    <Expiration><Days>3</Days></Expiration></Rule>
</LifecycleConfiguration>"""

VERSIONS_RULES = b"""<LifecycleConfiguration>
  <Rule><ID>old</ID><Status>Enabled</Status><Filter/>
    <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>
    <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>
  </Rule>
  <Rule><ID>markers</ID><Status>Enabled</Status><Filter><Prefix>gone/</Prefix></Filter>
    <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>
</LifecycleConfiguration>"""


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def objectstore(tmp_path: Path) -> AsyncIterator[tuple[ObjectStore, FakeClock]]:
    clock = FakeClock(T0)
    settings = ObjectStoreSettings(
        data_dir=tmp_path / "data", fsync=False, block_bytes=64 * 1024, inline_bytes_max=1024
    )
    async with open_objectstore(settings, clock=clock) as store:
        yield store, clock


def _advance(clock: FakeClock, delta: timedelta) -> None:
    clock.advance(seconds=delta.total_seconds())


async def _put(store: ObjectStore, bucket: str, key: str, data: bytes) -> None:
    await store.service.put_object(OWNER, bucket, key, _body(data), WriteRequest(size=len(data)))


async def _keys(store: ObjectStore, bucket: str) -> list[str]:
    return [version.key for version in (await store.service.list_objects(OWNER, bucket)).objects]


async def test_expiration_days_removes_matching_objects_from_the_next_midnight(objectstore):
    store, clock = objectstore
    await store.service.create_bucket(OWNER, "logs-bucket")
    await _put(store, "logs-bucket", "logs/a.txt", b"a" * 5000)
    await _put(store, "logs-bucket", "keep/b.txt", b"b")
    await store.service.set_config(OWNER, "logs-bucket", "lifecycle", EXPIRE_LOGS_AFTER_3_DAYS)
    # 2026-03-04 23:59: three days from the midnight after the upload (the 2nd) are not over yet.
    _advance(clock, timedelta(days=3, hours=13, minutes=29))
    assert (await store.expiry.run_once()).expired == 0
    _advance(clock, timedelta(minutes=1))
    tally = await store.expiry.run_once()
    assert (tally.buckets, tally.expired) == (1, 1)
    assert await _keys(store, "logs-bucket") == ["keep/b.txt"]
    assert await store.upkeep.collect_garbage() == 1  # the expired object's shards


async def test_noncurrent_versions_markers_and_uploads_follow_their_rules(objectstore):
    store, clock = objectstore
    service = store.service
    await service.create_bucket(OWNER, "versioned")
    await service.set_versioning(OWNER, "versioned", "Enabled")
    for generation in range(4):  # three noncurrent versions behind a current one, a day apart
        await _put(store, "versioned", "doc.txt", b"v%d" % generation)
        _advance(clock, DAY)
    await _put(store, "versioned", "gone/x", b"x")
    gone = await service.list_versions(OWNER, "versioned", prefix="gone/")
    await service.delete_object(OWNER, "versioned", "gone/x")
    await service.delete_object(OWNER, "versioned", "gone/x", gone.versions[0].version_id)
    upload = await service.create_upload(OWNER, "versioned", "big.bin", WriteRequest())
    await service.set_config(OWNER, "versioned", "lifecycle", VERSIONS_RULES)
    _advance(clock, 2 * DAY)
    tally = await store.expiry.run_once()
    # The newest noncurrent version is kept (NewerNoncurrentVersions 1); the two older ones go.
    assert (tally.noncurrent_deleted, tally.markers_removed, tally.uploads_aborted) == (2, 1, 1)
    versions = await service.list_versions(OWNER, "versioned")
    assert [(v.key, v.is_latest) for v in versions.versions] == [("doc.txt", True), ("doc.txt", False)]
    assert (await service.list_uploads(OWNER, "versioned")).uploads == ()
    assert upload.upload_id
    assert (await store.expiry.run_once()).noncurrent_deleted == 0  # nothing more to do


def test_lifecycle_command_reports_what_it_did(tmp_path: Path):
    result = CliRunner().invoke(app, ["objectstore", "lifecycle", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "0 buckets with rules" in result.output
