"""The metadata store behaves the same on SQLite and PostgreSQL: key order (UTF-8 bytes), one latest
version per key, delete markers, listings with a delimiter, uploads and usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scalebox.core.clock import FakeClock
from scalebox.objectstore.app import ObjectStore, open_objectstore
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import WriteRequest
from scalebox.objectstore.settings import ObjectStoreSettings

OWNER = Principal("AKOWNER", "owner", is_admin=False)
KEYS = ["a", "B", "a/b", "a/c/d", "é", "z", "a-b"]  # "B" < "a" < "a-b" < "a/b" < "z" < "é" as bytes


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty for the default SQLite file; a fresh PostgreSQL database otherwise."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else ""


@pytest.fixture
async def objectstore(database_url: str, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    settings = ObjectStoreSettings(data_dir=tmp_path / "data", database_url=database_url, fsync=False)
    async with open_objectstore(settings, clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC))) as store:
        yield store


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put(store: ObjectStore, key: str, data: bytes) -> None:
    await store.service.put_object(OWNER, "engines", key, _body(data), WriteRequest(size=len(data)))


async def test_listing_versions_uploads_and_usage_agree_on_every_engine(objectstore: ObjectStore):
    service = objectstore.service
    await service.create_bucket(OWNER, "engines")
    for key in KEYS:
        await _put(objectstore, key, key.encode())
    listing = await service.list_objects(OWNER, "engines", delimiter="/")
    assert [v.key for v in listing.objects] == ["B", "a", "a-b", "z", "é"]
    assert listing.common_prefixes == ("a/",)
    page = await service.list_objects(OWNER, "engines", max_keys=3)
    assert ([v.key for v in page.objects], page.is_truncated, page.next_marker) == (
        ["B", "a", "a-b"],
        True,
        "a-b",
    )

    await service.set_versioning(OWNER, "engines", "Enabled")
    await _put(objectstore, "z", b"second")
    await service.delete_object(OWNER, "engines", "a")
    versions = await service.list_versions(OWNER, "engines", prefix="a", delimiter="/")
    assert [(v.key, v.is_latest, v.is_delete_marker) for v in versions.versions] == [
        ("a", True, True),
        ("a", False, False),
        ("a-b", True, False),
    ]
    z = await service.list_versions(OWNER, "engines", prefix="z")
    assert [(v.version_id == "null", v.is_latest) for v in z.versions] == [(False, True), (True, False)]

    await service.create_upload(OWNER, "engines", "big/one", WriteRequest())
    uploads = await service.list_uploads(OWNER, "engines", delimiter="/")
    assert (uploads.uploads, uploads.common_prefixes) == ((), ("big/",))
    (usage,) = await service.usage()
    assert (usage.bucket, usage.objects, usage.versions, usage.uploads) == ("engines", 6, 9, 1)
    assert usage.bytes == sum(len(key.encode()) for key in KEYS) + len(b"second")
