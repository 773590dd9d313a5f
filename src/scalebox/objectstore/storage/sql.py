"""SqlMetadataStore: buckets, object versions, multipart uploads and access keys in SQL.

Writes that change which version is current run in one transaction each, serialised in this
process, so a reader sees the old object or the new one and never a key with two latest versions
(a unique partial index also guards that across processes). Shard sets a write makes unreachable
go to the garbage table in the same transaction; the drives are cleaned afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, and_, bindparam, case, delete, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scalebox.objectstore.domain import (
    NULL_VERSION,
    Bucket,
    ObjectVersion,
    Part,
    Upload,
    Versioning,
)
from scalebox.objectstore.errors import (
    BucketAlreadyExistsError,
    BucketAlreadyOwnedByYouError,
    BucketNotEmptyError,
    NoSuchUploadError,
)
from scalebox.objectstore.storage.tables import (
    access_keys,
    buckets,
    garbage,
    intents,
    objects,
    parts,
    uploads,
)

# The statements every PUT and GET runs, built once with bind parameters: building a Core statement
# (its where clause, its cache key) cost more CPU than SQLite's own work on the small-object path.
_LATEST = select(objects).where(
    objects.c.bucket_id == bindparam("b_bucket"),
    objects.c.key == bindparam("b_key"),
    objects.c.is_latest == true(),
)
_VERSION = select(objects).where(
    objects.c.bucket_id == bindparam("b_bucket"),
    objects.c.key == bindparam("b_key"),
    objects.c.version_id == bindparam("b_version"),
)
_UNSET_LATEST = (
    update(objects)
    .where(
        objects.c.bucket_id == bindparam("b_bucket"),
        objects.c.key == bindparam("b_key"),
        objects.c.is_latest == true(),
    )
    .values(is_latest=False)
)
_DELETE_VERSION = delete(objects).where(objects.c.seq == bindparam("b_seq"))
_INSERT_VERSION = insert(objects)
_SETTLE_INTENT = delete(intents).where(
    intents.c.data_id == bindparam("b_data_id"), intents.c.number == bindparam("b_number")
)


@dataclass(frozen=True, slots=True)
class AccessKeyRow:
    access_key: str
    secret_sealed: str
    name: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    """What a DeleteObject did: the version it removed or the delete marker it created."""

    version_id: str
    delete_marker: bool
    existed: bool


@dataclass(frozen=True, slots=True)
class BucketUsage:
    bucket: str
    objects: int
    versions: int
    bytes: int
    uploads: int


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _parts_json(version_parts: Sequence[Part]) -> str:
    return _dumps([[p.number, p.size, p.data_id, p.etag, p.checksum] for p in version_parts])


def _parts_from(raw: str) -> tuple[Part, ...]:
    return tuple(
        Part(n, size, data_id, etag, checksum) for n, size, data_id, etag, checksum in orjson.loads(raw)
    )


def _bucket_from(row: Row[Any]) -> Bucket:
    return Bucket(
        id=row.id,
        name=row.name,
        owner=row.owner,
        created_at=row.created_at,
        region=row.region,
        versioning=Versioning(row.versioning),
        tags=orjson.loads(row.tags_json),
        cors_xml=row.cors_xml,
        lifecycle_xml=row.lifecycle_xml,
        policy_json=row.policy_json,
    )


def _version_from(row: Row[Any]) -> ObjectVersion:
    return ObjectVersion(
        bucket_id=row.bucket_id,
        key=row.key,
        version_id=row.version_id,
        last_modified=row.last_modified,
        sequence=row.seq,
        is_latest=row.is_latest,
        is_delete_marker=row.is_delete_marker,
        size=row.size,
        etag=row.etag,
        headers=orjson.loads(row.headers_json),
        user_metadata=orjson.loads(row.meta_json),
        checksum_algorithm=row.checksum_algorithm,
        checksum=row.checksum,
        checksum_type=row.checksum_type,
        tags=orjson.loads(row.tags_json),
        inline=row.inline_data,
        parts=_parts_from(row.parts_json),
        owner=row.owner,
    )


def _version_values(version: ObjectVersion) -> dict[str, Any]:
    return {
        "bucket_id": version.bucket_id,
        "key": version.key,
        "version_id": version.version_id,
        "is_latest": True,
        "is_delete_marker": version.is_delete_marker,
        "size": version.size,
        "etag": version.etag,
        "last_modified": version.last_modified,
        "headers_json": _dumps(dict(version.headers)),
        "meta_json": _dumps(dict(version.user_metadata)),
        "tags_json": _dumps(dict(version.tags)),
        "checksum_algorithm": version.checksum_algorithm,
        "checksum": version.checksum,
        "checksum_type": version.checksum_type,
        "inline_data": version.inline,
        "parts_json": _parts_json(version.parts),
        "owner": version.owner,
    }


def _upload_from(row: Row[Any]) -> Upload:
    return Upload(
        upload_id=row.upload_id,
        bucket_id=row.bucket_id,
        key=row.key,
        initiated=row.initiated,
        owner=row.owner,
        headers=orjson.loads(row.headers_json),
        user_metadata=orjson.loads(row.meta_json),
        tags=orjson.loads(row.tags_json),
        checksum_algorithm=row.checksum_algorithm,
        checksum_type=row.checksum_type,
    )


_CURRENT = and_(objects.c.is_latest == true(), objects.c.is_delete_marker == False)  # noqa: E712


class SqlMetadataStore:
    """The metadata port on SQLAlchemy Core; `engine` is SQLite (WAL) or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_lock = asyncio.Lock()
        # Shard sets this process has queued as garbage, ever: the collector reads the garbage table
        # when this moved (or on its timer, for other processes' garbage), not after every write.
        self.garbage_queued = 0

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    # Buckets

    async def create_bucket(self, name: str, owner: str, region: str, now: datetime) -> Bucket:
        try:
            async with self._writing() as conn:
                existing = (await conn.execute(select(buckets).where(buckets.c.name == name))).first()
                if existing is not None:
                    if existing.owner == owner:
                        raise BucketAlreadyOwnedByYouError(
                            "Your previous request to create the named bucket succeeded and you already "
                            "own it.",
                            resource=name,
                            BucketName=name,
                        )
                    raise BucketAlreadyExistsError(
                        "The requested bucket name is not available.", resource=name, BucketName=name
                    )
                await conn.execute(
                    insert(buckets).values(name=name, owner=owner, created_at=now, region=region)
                )
        except SqlIntegrityError:  # another process created it between our look and our insert
            raise BucketAlreadyExistsError(
                "The requested bucket name is not available.", resource=name, BucketName=name
            ) from None
        bucket = await self.get_bucket(name)
        assert bucket is not None
        return bucket

    async def get_bucket(self, name: str) -> Bucket | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(buckets).where(buckets.c.name == name))).first()
        return None if row is None else _bucket_from(row)

    async def list_buckets(self) -> list[Bucket]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(buckets).order_by(buckets.c.name))).all()
        return [_bucket_from(row) for row in rows]

    async def update_bucket(self, bucket_id: int, **values: Any) -> None:
        """Set bucket columns: versioning, tags_json, cors_xml, lifecycle_xml, policy_json."""
        async with self._writing() as conn:
            await conn.execute(update(buckets).where(buckets.c.id == bucket_id).values(**values))

    async def delete_bucket(self, bucket: Bucket, now: datetime) -> None:
        """Delete an empty bucket; uploads still in progress are aborted with it."""
        async with self._writing() as conn:
            anything = (
                await conn.execute(select(objects.c.seq).where(objects.c.bucket_id == bucket.id).limit(1))
            ).first()
            if anything is not None:
                raise BucketNotEmptyError(
                    "The bucket you tried to delete is not empty",
                    resource=bucket.name,
                    BucketName=bucket.name,
                )
            upload_ids = select(uploads.c.upload_id).where(uploads.c.bucket_id == bucket.id)
            leftovers = (
                await conn.execute(
                    select(parts.c.data_id, parts.c.number).where(parts.c.upload_id.in_(upload_ids))
                )
            ).all()
            await self._queue_garbage(conn, [(row.data_id, row.number) for row in leftovers], now)
            await conn.execute(delete(parts).where(parts.c.upload_id.in_(upload_ids)))
            await conn.execute(delete(uploads).where(uploads.c.bucket_id == bucket.id))
            await conn.execute(delete(buckets).where(buckets.c.id == bucket.id))

    # Object versions

    async def get_version(
        self, bucket_id: int, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """The version asked for, or the latest one (which may be a delete marker)."""
        query, values = (
            (_LATEST, {"b_bucket": bucket_id, "b_key": key})
            if version_id is None
            else (_VERSION, {"b_bucket": bucket_id, "b_key": key, "b_version": version_id})
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query, values)).first()
        return None if row is None else _version_from(row)

    async def put_version(
        self,
        version: ObjectVersion,
        versioning: Versioning,
        *,
        check: Callable[[ObjectVersion | None], None] | None = None,
        upload_id: str | None = None,
    ) -> ObjectVersion:
        """Make `version` the latest of its key, as the bucket's versioning state says.

        `check` sees the current latest version inside the transaction (conditional writes) and
        raises to refuse. With `upload_id`, that multipart upload ends in the same transaction and
        its parts the object does not use become garbage.
        """
        where = {"b_bucket": version.bucket_id, "b_key": version.key}
        async with self._writing() as conn:
            if check is not None:
                current_row = (await conn.execute(_LATEST, where)).first()
                check(None if current_row is None else _version_from(current_row))
            if upload_id is not None:
                await self._end_upload(
                    conn,
                    upload_id,
                    keep={(p.data_id, p.number) for p in version.parts},
                    now=version.last_modified,
                )
            if versioning != Versioning.ENABLED:
                version = replace(version, version_id=NULL_VERSION)
                await self._drop_version(
                    conn, version.bucket_id, version.key, NULL_VERSION, version.last_modified
                )
            await conn.execute(_UNSET_LATEST, where)
            result = await conn.execute(_INSERT_VERSION, _version_values(version))
            sequence = result.inserted_primary_key[0] if result.inserted_primary_key else 0
            if upload_id is None:
                await self._settle_intents(conn, [(p.data_id, p.number) for p in version.parts])
        return replace(version, sequence=int(sequence), is_latest=True)

    async def delete_object(
        self, bucket_id: int, key: str, version_id: str | None, versioning: Versioning, marker: ObjectVersion
    ) -> DeleteOutcome:
        """DeleteObject: remove one version, or (without a version id) add `marker` as S3 does."""
        now = marker.last_modified
        async with self._writing() as conn:
            if version_id is not None:
                removed = await self._drop_version(conn, bucket_id, key, version_id, now)
                if removed is not None and removed.is_latest:
                    await self._promote_newest(conn, bucket_id, key)
                return DeleteOutcome(
                    version_id, removed is not None and removed.is_delete_marker, removed is not None
                )
            if versioning == Versioning.UNVERSIONED:
                removed = await self._drop_version(conn, bucket_id, key, NULL_VERSION, now)
                if removed is not None and removed.is_latest:
                    await self._promote_newest(conn, bucket_id, key)
                return DeleteOutcome(NULL_VERSION, False, removed is not None)
            if versioning == Versioning.SUSPENDED:
                marker = replace(marker, version_id=NULL_VERSION)
                await self._drop_version(conn, bucket_id, key, NULL_VERSION, now)
            await conn.execute(
                update(objects)
                .where(objects.c.bucket_id == bucket_id, objects.c.key == key, objects.c.is_latest == true())
                .values(is_latest=False)
            )
            await conn.execute(insert(objects).values(**_version_values(marker)))
            return DeleteOutcome(marker.version_id, True, True)

    async def set_tags(self, bucket_id: int, key: str, version_id: str, tags: Mapping[str, str]) -> None:
        async with self._writing() as conn:
            await conn.execute(
                update(objects)
                .where(
                    objects.c.bucket_id == bucket_id, objects.c.key == key, objects.c.version_id == version_id
                )
                .values(tags_json=_dumps(dict(tags)))
            )

    async def _drop_version(
        self, conn: AsyncConnection, bucket_id: int, key: str, version_id: str, now: datetime
    ) -> ObjectVersion | None:
        where = {"b_bucket": bucket_id, "b_key": key, "b_version": version_id}
        row = (await conn.execute(_VERSION, where)).first()
        if row is None:
            return None
        await conn.execute(_DELETE_VERSION, {"b_seq": row.seq})
        version = _version_from(row)
        await self._queue_garbage(conn, [(part.data_id, part.number) for part in version.parts], now)
        return version

    async def _promote_newest(self, conn: AsyncConnection, bucket_id: int, key: str) -> None:
        newest = (
            select(func.max(objects.c.seq))
            .where(objects.c.bucket_id == bucket_id, objects.c.key == key)
            .scalar_subquery()
        )
        await conn.execute(update(objects).where(objects.c.seq == newest).values(is_latest=True))

    async def scan_current(
        self, bucket_id: int, *, after: str, lower: str, upper: str | None, limit: int
    ) -> list[ObjectVersion]:
        """Current (non-deleted) versions with lower <= key < upper and key > after, in key order."""
        query = select(objects).where(objects.c.bucket_id == bucket_id, _CURRENT)
        query = query.where(objects.c.key > after if after >= lower else objects.c.key >= lower)
        if upper is not None:
            query = query.where(objects.c.key < upper)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(objects.c.key).limit(limit))).all()
        return [_version_from(row) for row in rows]

    async def scan_versions(
        self,
        bucket_id: int,
        *,
        lower: str,
        upper: str | None,
        key_marker: str,
        after_sequence: int | None,
        limit: int,
    ) -> list[ObjectVersion]:
        """Every version with lower <= key < upper, by key then newest first, after the markers.

        `after_sequence` continues inside `key_marker` (versions older than that one); None starts
        at the key after `key_marker`.
        """
        query = select(objects).where(objects.c.bucket_id == bucket_id, objects.c.key >= lower)
        if upper is not None:
            query = query.where(objects.c.key < upper)
        if key_marker:
            if after_sequence is None:
                query = query.where(objects.c.key > key_marker)
            else:
                query = query.where(
                    or_(
                        objects.c.key > key_marker,
                        and_(objects.c.key == key_marker, objects.c.seq < after_sequence),
                    )
                )
        query = query.order_by(objects.c.key, objects.c.seq.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_version_from(row) for row in rows]

    async def usage(self) -> list[BucketUsage]:
        """Objects, versions and bytes per bucket (delete markers count as versions, not bytes)."""
        current = func.sum(case((_CURRENT, 1), else_=0))
        upload_count = (
            select(func.count())
            .where(uploads.c.bucket_id == buckets.c.id)
            .correlate(buckets)
            .scalar_subquery()
        )
        query = (
            select(
                buckets.c.name,
                func.coalesce(current, 0).label("objects"),
                func.count(objects.c.seq).label("versions"),
                func.coalesce(func.sum(objects.c.size), 0).label("bytes"),
                upload_count.label("uploads"),
            )
            .select_from(buckets.outerjoin(objects, objects.c.bucket_id == buckets.c.id))
            .group_by(buckets.c.id, buckets.c.name)
            .order_by(buckets.c.name)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            BucketUsage(row.name, int(row.objects), int(row.versions), int(row.bytes), int(row.uploads))
            for row in rows
        ]

    async def versions_after(self, after_sequence: int, limit: int) -> list[ObjectVersion]:
        """Versions in store order from `after_sequence`, for background passes (scrub, lifecycle)."""
        query = select(objects).where(objects.c.seq > after_sequence).order_by(objects.c.seq).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_version_from(row) for row in rows]

    # Multipart uploads

    async def create_upload(self, upload: Upload) -> None:
        async with self._writing() as conn:
            await conn.execute(
                insert(uploads).values(
                    upload_id=upload.upload_id,
                    bucket_id=upload.bucket_id,
                    key=upload.key,
                    initiated=upload.initiated,
                    owner=upload.owner,
                    headers_json=_dumps(dict(upload.headers)),
                    meta_json=_dumps(dict(upload.user_metadata)),
                    tags_json=_dumps(dict(upload.tags)),
                    checksum_algorithm=upload.checksum_algorithm,
                    checksum_type=upload.checksum_type,
                )
            )

    async def get_upload(self, bucket_id: int, key: str, upload_id: str) -> Upload:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(uploads).where(uploads.c.upload_id == upload_id))).first()
        if row is None or row.bucket_id != bucket_id or row.key != key:
            raise NoSuchUploadError(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                "have been aborted or completed.",
                UploadId=upload_id,
            )
        return _upload_from(row)

    async def count_uploads(self, bucket_id: int) -> int:
        async with self._engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count()).select_from(uploads).where(uploads.c.bucket_id == bucket_id)
                    )
                ).scalar_one()
            )

    async def put_part(self, upload_id: str, part: Part, now: datetime) -> None:
        """Record an uploaded part; one uploaded before under the same number becomes garbage."""
        async with self._writing() as conn:
            alive = (
                await conn.execute(select(uploads.c.upload_id).where(uploads.c.upload_id == upload_id))
            ).first()
            if alive is None:  # aborted or completed while the part was being written
                await self._queue_garbage(conn, [(part.data_id, part.number)], now)
                raise NoSuchUploadError("The specified upload does not exist.", UploadId=upload_id)
            old = (
                await conn.execute(
                    select(parts.c.data_id, parts.c.number).where(
                        parts.c.upload_id == upload_id, parts.c.number == part.number
                    )
                )
            ).first()
            if old is not None:
                await self._queue_garbage(conn, [(old.data_id, old.number)], now)
                await conn.execute(
                    delete(parts).where(parts.c.upload_id == upload_id, parts.c.number == part.number)
                )
            await self._settle_intents(conn, [(part.data_id, part.number)])
            await conn.execute(
                insert(parts).values(
                    upload_id=upload_id,
                    number=part.number,
                    size=part.size,
                    data_id=part.data_id,
                    etag=part.etag,
                    checksum=part.checksum,
                    last_modified=now,
                )
            )

    async def list_parts(
        self, upload_id: str, *, after: int = 0, limit: int = 10_000
    ) -> list[tuple[Part, datetime]]:
        query = (
            select(parts)
            .where(parts.c.upload_id == upload_id, parts.c.number > after)
            .order_by(parts.c.number)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(Part(r.number, r.size, r.data_id, r.etag, r.checksum), r.last_modified) for r in rows]

    async def list_uploads(
        self,
        bucket_id: int,
        *,
        lower: str,
        upper: str | None,
        key_marker: str,
        upload_id_marker: str,
        limit: int,
    ) -> list[Upload]:
        """Uploads with lower <= key < upper, by key then initiation, after the markers.

        `upload_id_marker` continues inside `key_marker`, after that upload; if it is gone, after
        the upload ids of that key that sort before it.
        """
        query = select(uploads).where(uploads.c.bucket_id == bucket_id, uploads.c.key >= lower)
        if upper is not None:
            query = query.where(uploads.c.key < upper)
        async with self._engine.connect() as conn:
            if key_marker:
                later = uploads.c.upload_id > upload_id_marker
                if upload_id_marker:
                    initiated = (
                        await conn.execute(
                            select(uploads.c.initiated).where(
                                uploads.c.upload_id == upload_id_marker,
                                uploads.c.bucket_id == bucket_id,
                                uploads.c.key == key_marker,
                            )
                        )
                    ).scalar_one_or_none()
                    if initiated is not None:
                        later = or_(
                            uploads.c.initiated > initiated,
                            and_(uploads.c.initiated == initiated, later),
                        )
                    query = query.where(
                        or_(uploads.c.key > key_marker, and_(uploads.c.key == key_marker, later))
                    )
                else:
                    query = query.where(uploads.c.key > key_marker)
            query = query.order_by(uploads.c.key, uploads.c.initiated, uploads.c.upload_id).limit(limit)
            rows = (await conn.execute(query)).all()
        return [_upload_from(row) for row in rows]

    async def abort_upload(self, upload_id: str, now: datetime) -> None:
        async with self._writing() as conn:
            await self._end_upload(conn, upload_id, keep=set(), now=now)

    async def _end_upload(
        self, conn: AsyncConnection, upload_id: str, *, keep: set[tuple[str, int]], now: datetime
    ) -> None:
        gone = (await conn.execute(delete(uploads).where(uploads.c.upload_id == upload_id))).rowcount
        if not gone:
            raise NoSuchUploadError(
                "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                "have been aborted or completed.",
                UploadId=upload_id,
            )
        rows = (
            await conn.execute(select(parts.c.data_id, parts.c.number).where(parts.c.upload_id == upload_id))
        ).all()
        await self._queue_garbage(
            conn, [(r.data_id, r.number) for r in rows if (r.data_id, r.number) not in keep], now
        )
        await conn.execute(delete(parts).where(parts.c.upload_id == upload_id))

    # Garbage and healing

    async def _queue_garbage(
        self, conn: AsyncConnection, shard_sets: Sequence[tuple[str, int]], now: datetime
    ) -> None:
        if shard_sets:
            await conn.execute(
                insert(garbage), [{"data_id": d, "number": n, "queued_at": now} for d, n in shard_sets]
            )
            self.garbage_queued += len(shard_sets)

    async def record_intent(self, data_id: str, number: int, now: datetime) -> None:
        """Note a shard set about to be written (see the intents table)."""
        async with self._writing() as conn:
            await conn.execute(insert(intents).values(data_id=data_id, number=number, started_at=now))

    async def drop_intent(self, data_id: str, number: int) -> None:
        """Forget a shard set whose write failed and was cleaned up."""
        async with self._writing() as conn:
            await self._settle_intents(conn, [(data_id, number)])

    async def _settle_intents(self, conn: AsyncConnection, shard_sets: Sequence[tuple[str, int]]) -> None:
        if shard_sets:
            await conn.execute(
                _SETTLE_INTENT, [{"b_data_id": data_id, "b_number": number} for data_id, number in shard_sets]
            )

    async def abandon_intents(self, now: datetime) -> int:
        """Turn every recorded intent into garbage: at start, they are all writes a crash cut short."""
        async with self._writing() as conn:
            rows = (await conn.execute(select(intents.c.data_id, intents.c.number))).all()
            await self._queue_garbage(conn, [(row.data_id, row.number) for row in rows], now)
            await conn.execute(delete(intents))
        return len(rows)

    async def take_garbage(self, limit: int) -> list[tuple[int, str, int]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(garbage).order_by(garbage.c.id).limit(limit))).all()
        return [(row.id, row.data_id, row.number) for row in rows]

    async def drop_garbage(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._writing() as conn:
                await conn.execute(delete(garbage).where(garbage.c.id.in_(ids)))

    # Access keys

    async def create_access_key(self, row: AccessKeyRow) -> None:
        async with self._writing() as conn:
            await conn.execute(
                insert(access_keys).values(
                    access_key=row.access_key,
                    secret_sealed=row.secret_sealed,
                    name=row.name,
                    is_admin=row.is_admin,
                    created_at=row.created_at,
                    revoked_at=row.revoked_at,
                )
            )

    async def get_access_key(self, access_key: str) -> AccessKeyRow | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(access_keys).where(access_keys.c.access_key == access_key))
            ).first()
        return None if row is None else AccessKeyRow(**row._mapping)

    async def list_access_keys(self) -> list[AccessKeyRow]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(access_keys).order_by(access_keys.c.created_at))).all()
        return [AccessKeyRow(**row._mapping) for row in rows]

    async def revoke_access_key(self, access_key: str, now: datetime) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(access_keys)
                .where(access_keys.c.access_key == access_key, access_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return bool(result.rowcount)

    async def all_upload_parts(self) -> list[tuple[str, int]]:
        """The shard sets of every part of every upload in progress."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(parts.c.data_id, parts.c.number))).all()
        return [(row.data_id, row.number) for row in rows]
