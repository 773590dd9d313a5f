"""The S3 use cases: buckets, objects, versions, listings, multipart uploads, tags and configurations.

Every call names its caller (a `Principal`, or None for an anonymous request) and is authorized
here: administrators and a bucket's owner may do anything to it; others only what the bucket
policy allows; an explicit Deny in the policy binds everybody but administrators.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

import orjson
from cachetools import TTLCache

from scalebox.core.clock import Clock
from scalebox.objectstore import cors, lifecycle, policy
from scalebox.objectstore.checksum import combine_full_object, composite_checksum, decode_checksum
from scalebox.objectstore.domain import (
    LIST_KEYS_MAX,
    Bucket,
    CompletedPart,
    Listing,
    ObjectVersion,
    Part,
    Upload,
    Versioning,
    check_completion,
    check_write_preconditions,
    multipart_etag,
    new_upload_id,
    new_version_id,
    prefix_successor,
    quote_etag,
    validate_bucket_name,
    validate_key,
)
from scalebox.objectstore.errors import (
    AccessDeniedError,
    BadDigestError,
    InvalidArgumentError,
    InvalidRequestError,
    MethodNotAllowedError,
    NoSuchBucketError,
    NoSuchBucketPolicyError,
    NoSuchCorsConfigurationError,
    NoSuchKeyError,
    NoSuchLifecycleConfigurationError,
    NoSuchVersionError,
    S3Error,
    SlowDownError,
)
from scalebox.objectstore.service.data import DataPlane, StoredData
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.listing import roll_up
from scalebox.objectstore.settings import ObjectStoreSettings
from scalebox.objectstore.storage.sql import BucketUsage, DeleteOutcome, SqlMetadataStore

Body = AsyncIterator[bytes | memoryview]


@dataclass(frozen=True, slots=True)
class ChecksumClaim:
    """A checksum the client sent (header) or will send (trailer: `value` is read after the body)."""

    algorithm: str
    value: Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """What a PUT (or a multipart upload's creation) says about the object beside its body."""

    headers: Mapping[str, str] = field(default_factory=dict)  # of domain.STORED_HEADERS
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    content_md5: bytes | None = None
    checksum: ChecksumClaim | None = None
    checksum_algorithm: str = ""  # compute and keep this one even when the client sends none
    if_match: str | None = None
    if_none_match: str | None = None
    size: int | None = None  # the decoded length, when the client said it


@dataclass(frozen=True, slots=True)
class VersionsPage:
    versions: tuple[ObjectVersion, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key_marker: str = ""
    next_version_id_marker: str = ""


@dataclass(frozen=True, slots=True)
class UploadsPage:
    uploads: tuple[Upload, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_key_marker: str = ""
    next_upload_id_marker: str = ""


@dataclass(frozen=True, slots=True)
class PartsPage:
    parts: tuple[tuple[Part, datetime], ...]
    is_truncated: bool
    next_part_number_marker: int = 0


BUCKET_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class _LoadedBucket:
    """A bucket and its configurations parsed once, as requests use them."""

    bucket: Bucket
    policy: policy.Policy | None
    cors: tuple[cors.CorsRule, ...]

    @classmethod
    def of(cls, bucket: Bucket) -> _LoadedBucket:
        return cls(
            bucket,
            policy.parse_policy(bucket.policy_json, bucket=bucket.name) if bucket.policy_json else None,
            cors.parse_cors(bucket.cors_xml.encode()) if bucket.cors_xml else (),
        )


def _resource(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


class ObjectService:
    """S3's operations over the metadata store and the data plane."""

    def __init__(
        self,
        store: SqlMetadataStore,
        data: DataPlane,
        settings: ObjectStoreSettings,
        clock: Clock,
        *,
        on_garbage: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.data = data
        self.settings = settings
        self.clock = clock
        self._on_garbage = on_garbage
        # Buckets with their policy and CORS rules parsed, for a short while (changes made here
        # evict them at once; those made by another process show within the lifetime).
        self._loaded: TTLCache[str, _LoadedBucket | None] = TTLCache(
            maxsize=10_000, ttl=BUCKET_CACHE_SECONDS, timer=clock.monotonic
        )

    # Authorization

    async def _load(self, name: str) -> _LoadedBucket:
        try:
            loaded = self._loaded[name]
        except KeyError:
            bucket = await self.store.get_bucket(name)
            loaded = self._loaded[name] = None if bucket is None else _LoadedBucket.of(bucket)
        if loaded is None:
            raise NoSuchBucketError("The specified bucket does not exist", resource=name, BucketName=name)
        return loaded

    async def bucket(self, name: str) -> Bucket:
        """The bucket named, from a short-lived cache."""
        return (await self._load(name)).bucket

    def _forget(self, name: str) -> None:
        self._loaded.pop(name, None)

    def _check(self, caller: Principal | None, loaded: _LoadedBucket, action: str, key: str | None) -> None:
        """Raise AccessDenied unless `caller` may do `action` to the bucket (or to `key` in it)."""
        if caller is not None and caller.is_admin:
            return
        bucket, rules = loaded.bucket, loaded.policy
        verdict = "none"
        if rules is not None:
            principals = caller.identifiers if caller is not None else frozenset()
            verdict = rules.evaluate(
                principals=principals, action=action, resource=_resource(bucket.name, key)
            )
        if verdict == "deny":
            raise AccessDeniedError("Access Denied", resource=_resource(bucket.name, key))
        if verdict == "allow" or (caller is not None and caller.name == bucket.owner):
            return
        raise AccessDeniedError("Access Denied", resource=_resource(bucket.name, key))

    def _may(self, caller: Principal | None, loaded: _LoadedBucket, action: str) -> bool:
        try:
            self._check(caller, loaded, action, None)
        except AccessDeniedError:
            return False
        return True

    async def _authorized(
        self, caller: Principal | None, name: str, action: str, key: str | None = None
    ) -> Bucket:
        loaded = await self._load(name)
        self._check(caller, loaded, action, key)
        return loaded.bucket

    # Buckets

    async def create_bucket(self, caller: Principal | None, name: str, region: str = "") -> Bucket:
        if caller is None:
            raise AccessDeniedError("Anonymous users cannot create buckets", resource=_resource(name))
        validate_bucket_name(name)
        bucket = await self.store.create_bucket(
            name, caller.name, region or self.settings.region, self.clock.now()
        )
        self._forget(name)
        return bucket

    async def list_buckets(self, caller: Principal | None) -> list[Bucket]:
        if caller is None:
            raise AccessDeniedError("Anonymous users cannot list buckets")
        every = await self.store.list_buckets()
        return every if caller.is_admin else [bucket for bucket in every if bucket.owner == caller.name]

    async def head_bucket(self, caller: Principal | None, name: str) -> Bucket:
        return await self._authorized(caller, name, "s3:ListBucket")

    async def delete_bucket(self, caller: Principal | None, name: str) -> None:
        bucket = await self._authorized(caller, name, "s3:DeleteBucket")
        await self.store.delete_bucket(bucket, self.clock.now())
        self._forget(name)
        self._on_garbage()

    async def bucket_location(self, caller: Principal | None, name: str) -> str:
        bucket = await self._authorized(caller, name, "s3:GetBucketLocation")
        return bucket.region

    async def set_versioning(self, caller: Principal | None, name: str, status: str) -> None:
        bucket = await self._authorized(caller, name, "s3:PutBucketVersioning")
        if status not in (Versioning.ENABLED, Versioning.SUSPENDED):
            raise InvalidArgumentError(
                "Versioning status must be Enabled or Suspended", ArgumentName="Status"
            )
        await self.store.update_bucket(bucket.id, versioning=status)
        self._forget(name)

    async def get_versioning(self, caller: Principal | None, name: str) -> Versioning:
        return (await self._authorized(caller, name, "s3:GetBucketVersioning")).versioning

    async def get_bucket_tags(self, caller: Principal | None, name: str) -> Mapping[str, str]:
        return (await self._authorized(caller, name, "s3:GetBucketTagging")).tags

    async def set_bucket_tags(self, caller: Principal | None, name: str, tags: Mapping[str, str]) -> None:
        bucket = await self._authorized(caller, name, "s3:PutBucketTagging")
        await self.store.update_bucket(bucket.id, tags_json=orjson.dumps(dict(tags)).decode())
        self._forget(name)

    async def get_config(self, caller: Principal | None, name: str, which: str) -> str:
        """The bucket's stored CORS XML, lifecycle XML or policy JSON (`which`: cors|lifecycle|policy)."""
        action, missing = _CONFIGS[which]
        bucket = await self._authorized(caller, name, f"s3:Get{action}")
        text = {"cors": bucket.cors_xml, "lifecycle": bucket.lifecycle_xml, "policy": bucket.policy_json}[
            which
        ]
        if not text:
            raise missing(f"The {which} configuration does not exist", resource=name, BucketName=name)
        return text

    async def set_config(self, caller: Principal | None, name: str, which: str, body: bytes) -> None:
        """Validate and store a configuration; an empty body deletes it."""
        action, _ = _CONFIGS[which]
        verb = "Put" if body else "Delete"
        bucket = await self._authorized(caller, name, f"s3:{verb}{action}")
        text = ""
        if body:
            if which == "cors":
                cors.parse_cors(body)
            elif which == "lifecycle":
                lifecycle.parse_lifecycle(body)
            else:
                policy.parse_policy(body, bucket=name)
            text = body.decode("utf-8")
        column = {"cors": "cors_xml", "lifecycle": "lifecycle_xml", "policy": "policy_json"}[which]
        await self.store.update_bucket(bucket.id, **{column: text})
        self._forget(name)

    async def cors_rules(self, name: str) -> tuple[cors.CorsRule, ...]:
        """A bucket's CORS rules, for the HTTP edge (no authorization: browsers ask anonymously)."""
        try:
            return (await self._load(name)).cors
        except NoSuchBucketError:
            return ()

    # Objects

    async def put_object(
        self, caller: Principal | None, name: str, key: str, body: Body, request: WriteRequest
    ) -> ObjectVersion:
        bucket = await self._authorized(caller, name, "s3:PutObject", key)
        validate_key(key)
        if request.if_match is not None or request.if_none_match is not None:
            current = await self.store.get_version(bucket.id, key)  # fail fast, before the upload
            check_write_preconditions(current, if_match=request.if_match, if_none_match=request.if_none_match)
        stored = await self._store_body(bucket, key, body, request, size_max=self.settings.object_bytes_max)
        version = ObjectVersion(
            bucket_id=bucket.id,
            key=key,
            version_id=new_version_id(),
            last_modified=self.clock.now(),
            size=stored.size,
            etag=quote_etag(stored.md5_hex),
            headers=request.headers,
            user_metadata=request.user_metadata,
            checksum_algorithm=_checksum_algorithm(request) if stored.checksum else "",
            checksum=stored.checksum,
            checksum_type="FULL_OBJECT" if stored.checksum else "",
            tags=request.tags,
            inline=stored.inline,
            parts=stored.parts,
            owner=caller.name if caller else "",
        )
        conditional = request.if_match is not None or request.if_none_match is not None
        check = (  # without a precondition, the write need not read the current version first
            partial(check_write_preconditions, if_match=request.if_match, if_none_match=request.if_none_match)
            if conditional
            else None
        )
        try:
            stored_version = await self.store.put_version(version, bucket.versioning, check=check)
        except BaseException:
            await self._discard(stored.parts)
            raise
        self._on_garbage()  # the version it replaced, if any
        return stored_version

    async def _store_body(
        self,
        bucket: Bucket,
        key: str,
        body: Body,
        request: WriteRequest,
        *,
        size_max: int,
        part_number: int = 1,
        inline_allowed: bool = True,
    ) -> StoredData:
        algorithm = _checksum_algorithm(request)
        stored = await self.data.store(
            body,
            size_max=size_max,
            checksum_algorithm=algorithm,
            part_number=part_number,
            expected_size=request.size,
            labels={"bucket": bucket.name, "key": key},
            inline_allowed=inline_allowed,
        )
        try:
            if request.content_md5 is not None and request.content_md5.hex() != stored.md5_hex:
                raise BadDigestError(
                    "The Content-MD5 you specified did not match what we received.",
                    ExpectedDigest=request.content_md5.hex(),
                    CalculatedDigest=stored.md5_hex,
                )
            if request.checksum is not None:
                claimed = request.checksum.value()
                if claimed is None:
                    raise InvalidRequestError(
                        f"The x-amz-checksum-{request.checksum.algorithm.lower()} value was not sent"
                    )
                if decode_checksum(request.checksum.algorithm, claimed) != stored.checksum_digest:
                    raise BadDigestError(
                        f"The {request.checksum.algorithm} you specified did not match the calculated "
                        "checksum."
                    )
        except BaseException:
            await self._discard(stored.parts)
            raise
        return stored

    async def _discard(self, parts: Sequence[Part]) -> None:
        """Remove the shard sets of a write that will not be committed."""
        for part in parts:
            await self.data.delete(part.data_id, part.number)
            await self.store.drop_intent(part.data_id, part.number)

    async def get_object(
        self,
        caller: Principal | None,
        name: str,
        key: str,
        version_id: str | None = None,
    ) -> ObjectVersion:
        """The version a GET or HEAD answers with (raising NoSuchKey / NoSuchVersion / delete markers)."""
        action = "s3:GetObjectVersion" if version_id else "s3:GetObject"
        loaded = await self._load(name)
        self._check(caller, loaded, action, key)
        version = await self.store.get_version(loaded.bucket.id, key, version_id)
        if (version is None or (version.is_delete_marker and version_id is None)) and not self._may(
            caller, loaded, "s3:ListBucket"
        ):
            # As S3: a caller who may not list the bucket may not learn which keys are absent.
            raise AccessDeniedError("Access Denied", resource=_resource(name, key))
        if version is None:
            if version_id is not None:
                raise NoSuchVersionError(
                    "The specified version does not exist.",
                    resource=f"/{name}/{key}",
                    Key=key,
                    VersionId=version_id,
                )
            raise NoSuchKeyError("The specified key does not exist.", resource=f"/{name}/{key}", Key=key)
        if version.is_delete_marker:
            if version_id is not None:
                raise MethodNotAllowedError(
                    "The specified method is not allowed against this resource.",
                    resource=f"/{name}/{key}",
                    Method="GET",
                    ResourceType="DeleteMarker",
                    delete_marker=version.version_id,
                )
            raise NoSuchKeyError(
                "The specified key does not exist.",
                resource=f"/{name}/{key}",
                Key=key,
                delete_marker=version.version_id,
            )
        return version

    def read(self, version: ObjectVersion, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.data.read(version.inline, version.parts, start, version.size if end is None else end)

    async def delete_object(
        self, caller: Principal | None, name: str, key: str, version_id: str | None = None
    ) -> DeleteOutcome:
        action = "s3:DeleteObjectVersion" if version_id else "s3:DeleteObject"
        bucket = await self._authorized(caller, name, action, key)
        validate_key(key)
        marker = ObjectVersion(
            bucket_id=bucket.id,
            key=key,
            version_id=new_version_id(),
            last_modified=self.clock.now(),
            is_delete_marker=True,
            owner=caller.name if caller else "",
        )
        outcome = await self.store.delete_object(bucket.id, key, version_id, bucket.versioning, marker)
        self._on_garbage()
        return outcome

    async def delete_objects(
        self, caller: Principal | None, name: str, targets: Sequence[tuple[str, str | None]]
    ) -> list[tuple[str, str | None, DeleteOutcome | Exception]]:
        """Multi-object delete: each key's own outcome or error, in request order."""
        await self.bucket(name)
        results: list[tuple[str, str | None, DeleteOutcome | Exception]] = []
        for key, version_id in targets:
            try:
                results.append((key, version_id, await self.delete_object(caller, name, key, version_id)))
            except (AccessDeniedError, InvalidArgumentError, SlowDownError) as exc:
                results.append((key, version_id, exc))
        return results

    async def copy_object(
        self,
        caller: Principal | None,
        name: str,
        key: str,
        source: tuple[str, str, str | None],
        request: WriteRequest,
        *,
        replace_metadata: bool,
        replace_tags: bool,
        source_conditions: Callable[[ObjectVersion], None] | None = None,
    ) -> tuple[ObjectVersion, ObjectVersion]:
        """CopyObject: (the new version, the source version)."""
        source_bucket, source_key, source_version = source
        original = await self.get_object(caller, source_bucket, source_key, source_version)
        if source_conditions is not None:
            source_conditions(original)
        target = await self.bucket(name)
        if (
            (source_bucket, source_key) == (name, key)
            and source_version is None
            and not replace_metadata
            and target.versioning != Versioning.ENABLED
        ):
            raise InvalidRequestError(
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes."
            )
        if not replace_metadata:
            request = replace(request, headers=original.headers, user_metadata=original.user_metadata)
        if not replace_tags:
            request = replace(request, tags=original.tags)
        request = replace(
            request,
            checksum=None,
            content_md5=None,
            size=original.size,
            checksum_algorithm=request.checksum_algorithm or original.checksum_algorithm,
        )
        version = await self.put_object(caller, name, key, self.read(original), request)
        return version, original

    # Listings

    async def list_objects(
        self,
        caller: Principal | None,
        name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        marker: str = "",
        max_keys: int = LIST_KEYS_MAX,
    ) -> Listing:
        bucket = await self._authorized(caller, name, "s3:ListBucket")
        max_keys = max(0, min(max_keys, LIST_KEYS_MAX))
        if max_keys == 0:
            return Listing((), (), False, "")
        upper = prefix_successor(prefix) if prefix else None

        async def scan(lower: str, after: str, limit: int) -> list[ObjectVersion]:
            return await self.store.scan_current(
                bucket.id, after=after, lower=lower, upper=upper, limit=limit
            )

        page = await roll_up(
            scan,
            key_of=_key_of,
            cursor_of=_key_of,
            start=marker,
            fresh="",
            prefix=prefix,
            delimiter=delimiter,
            key_marker=marker,
            limit=max_keys,
        )
        next_marker = "" if not page.truncated else _key_or_prefix(page.last)
        return Listing(page.rows, page.prefixes, page.truncated, next_marker)

    async def list_versions(
        self,
        caller: Principal | None,
        name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = LIST_KEYS_MAX,
    ) -> VersionsPage:
        bucket = await self._authorized(caller, name, "s3:ListBucketVersions")
        max_keys = max(0, min(max_keys, LIST_KEYS_MAX))
        if version_id_marker and not key_marker:
            raise InvalidArgumentError(
                "A version-id marker cannot be specified without a key marker.",
                ArgumentName="version-id-marker",
            )
        if max_keys == 0:
            return VersionsPage((), (), False)
        after_sequence: int | None = None
        if version_id_marker:
            at = await self.store.get_version(bucket.id, key_marker, version_id_marker)
            if at is None:
                raise InvalidArgumentError("Invalid version id specified", ArgumentName="version-id-marker")
            after_sequence = at.sequence
        upper = prefix_successor(prefix) if prefix else None

        async def scan(lower: str, cursor: tuple[str, int | None], limit: int) -> list[ObjectVersion]:
            return await self.store.scan_versions(
                bucket.id,
                lower=lower,
                upper=upper,
                key_marker=cursor[0],
                after_sequence=cursor[1],
                limit=limit,
            )

        page = await roll_up(
            scan,
            key_of=_key_of,
            cursor_of=lambda version: (version.key, version.sequence),
            start=(key_marker, after_sequence),
            fresh=("", None),
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            limit=max_keys,
        )
        if not page.truncated:
            return VersionsPage(page.rows, page.prefixes, False)
        if isinstance(page.last, ObjectVersion):
            return VersionsPage(page.rows, page.prefixes, True, page.last.key, page.last.version_id)
        return VersionsPage(page.rows, page.prefixes, True, _key_or_prefix(page.last), "")

    # Object tags

    async def get_object_tags(
        self, caller: Principal | None, name: str, key: str, version_id: str | None
    ) -> ObjectVersion:
        action = "s3:GetObjectVersionTagging" if version_id else "s3:GetObjectTagging"
        await self._authorized(caller, name, action, key)
        return await self.get_object(None if caller is None else caller, name, key, version_id)

    async def set_object_tags(
        self, caller: Principal | None, name: str, key: str, version_id: str | None, tags: Mapping[str, str]
    ) -> ObjectVersion:
        action = "s3:PutObjectVersionTagging" if version_id else "s3:PutObjectTagging"
        bucket = await self._authorized(caller, name, action, key)
        version = await self.get_object(caller, name, key, version_id)
        await self.store.set_tags(bucket.id, key, version.version_id, tags)
        return version

    # Multipart uploads

    async def create_upload(
        self, caller: Principal | None, name: str, key: str, request: WriteRequest, checksum_type: str = ""
    ) -> Upload:
        bucket = await self._authorized(caller, name, "s3:PutObject", key)
        validate_key(key)
        if await self.store.count_uploads(bucket.id) >= self.settings.uploads_per_bucket_max:
            raise SlowDownError(
                "Too many multipart uploads in progress in this bucket; complete or abort some"
            )
        algorithm = request.checksum_algorithm
        if checksum_type and not algorithm:
            raise InvalidRequestError("x-amz-checksum-type needs x-amz-checksum-algorithm")
        if not checksum_type and algorithm:
            checksum_type = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
        if checksum_type not in ("", "COMPOSITE", "FULL_OBJECT"):
            raise InvalidRequestError("x-amz-checksum-type must be COMPOSITE or FULL_OBJECT")
        if checksum_type == "FULL_OBJECT" and algorithm not in ("CRC32", "CRC32C", "CRC64NVME"):
            raise InvalidRequestError(f"The FULL_OBJECT checksum type cannot be used with {algorithm}")
        if checksum_type == "COMPOSITE" and algorithm == "CRC64NVME":
            raise InvalidRequestError("The COMPOSITE checksum type cannot be used with CRC64NVME")
        upload = Upload(
            upload_id=new_upload_id(),
            bucket_id=bucket.id,
            key=key,
            initiated=self.clock.now(),
            owner=caller.name if caller else "",
            headers=request.headers,
            user_metadata=request.user_metadata,
            tags=request.tags,
            checksum_algorithm=algorithm,
            checksum_type=checksum_type,
        )
        await self.store.create_upload(upload)
        return upload

    async def upload_part(
        self,
        caller: Principal | None,
        name: str,
        key: str,
        upload_id: str,
        *,
        number: int,
        body: Body,
        request: WriteRequest,
    ) -> tuple[Part, str]:
        """Store one part; returns it and the algorithm of its checksum ("" when it has none)."""
        bucket = await self._authorized(caller, name, "s3:PutObject", key)
        if not 1 <= number <= self.settings.parts_max:
            raise InvalidArgumentError(
                f"Part number must be an integer between 1 and {self.settings.parts_max}, inclusive",
                ArgumentName="partNumber",
                ArgumentValue=str(number),
            )
        upload = await self.store.get_upload(bucket.id, key, upload_id)
        if (
            request.checksum is not None
            and upload.checksum_algorithm
            and request.checksum.algorithm != upload.checksum_algorithm
        ):
            raise InvalidRequestError(
                "Checksum Type mismatch occurred, expected checksum Type: "
                f"{upload.checksum_algorithm.lower()}, "
                f"actual checksum Type: {request.checksum.algorithm.lower()}"
            )
        request = replace(request, checksum_algorithm=upload.checksum_algorithm)
        stored = await self._store_body(
            bucket,
            key,
            body,
            request,
            size_max=self.settings.part_bytes_max,
            part_number=number,
            inline_allowed=False,
        )
        part = stored.parts[0]
        try:
            await self.store.put_part(upload_id, part, self.clock.now())
        finally:
            self._on_garbage()  # a part it replaced, or this one when the upload is gone
        return part, _checksum_algorithm(request) if part.checksum else ""

    async def complete_upload(
        self,
        caller: Principal | None,
        name: str,
        key: str,
        upload_id: str,
        requested: Sequence[CompletedPart],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        claim: ChecksumClaim | None = None,
        checksum_type: str = "",
    ) -> ObjectVersion:
        """CompleteMultipartUpload; `claim` is the whole object's checksum the client sent, if any."""
        bucket = await self._authorized(caller, name, "s3:PutObject", key)
        upload = await self.store.get_upload(bucket.id, key, upload_id)
        if checksum_type and checksum_type != upload.checksum_type:
            raise InvalidRequestError(
                f"The upload was created using the {upload.checksum_type or 'no'} checksum mode. "
                "The complete request must use the same checksum mode."
            )
        if claim is not None and claim.algorithm != upload.checksum_algorithm:
            raise InvalidRequestError(
                f"The upload was created using the {upload.checksum_algorithm.lower() or 'no'} checksum "
                f"algorithm; the complete request names {claim.algorithm.lower()}."
            )
        uploaded = {part.number: part for part, _ in await self.store.list_parts(upload_id)}
        chosen = check_completion(requested, uploaded, part_bytes_min=self.settings.part_bytes_min)
        checksum = ""
        if upload.checksum_algorithm:
            if any(not part.checksum for part in chosen):
                raise InvalidRequestError(
                    "A part has no checksum; upload it again with the upload's checksum"
                )
            digests = [decode_checksum(upload.checksum_algorithm, part.checksum) for part in chosen]
            if upload.checksum_type == "FULL_OBJECT":
                whole = combine_full_object(
                    upload.checksum_algorithm, [(d, p.size) for d, p in zip(digests, chosen, strict=True)]
                )
                checksum = _b64(whole)
            else:
                checksum = composite_checksum(upload.checksum_algorithm, digests)
        claimed = claim.value() if claim is not None else None
        if claimed and claimed.split("-")[0] != checksum.split("-")[0]:
            raise BadDigestError(
                f"The {upload.checksum_algorithm.lower()} you specified did not match the calculated "
                "checksum."
            )
        version = ObjectVersion(
            bucket_id=bucket.id,
            key=key,
            version_id=new_version_id(),
            last_modified=self.clock.now(),
            size=sum(part.size for part in chosen),
            etag=multipart_etag([part.etag for part in chosen]),
            headers=upload.headers,
            user_metadata=upload.user_metadata,
            checksum_algorithm=upload.checksum_algorithm if checksum else "",
            checksum=checksum,
            checksum_type=upload.checksum_type if checksum else "",
            tags=upload.tags,
            parts=tuple(chosen),
            owner=caller.name if caller else "",
        )
        check = partial(check_write_preconditions, if_match=if_match, if_none_match=if_none_match)
        stored = await self.store.put_version(version, bucket.versioning, check=check, upload_id=upload_id)
        self._on_garbage()
        return stored

    async def abort_upload(self, caller: Principal | None, name: str, key: str, upload_id: str) -> None:
        bucket = await self._authorized(caller, name, "s3:AbortMultipartUpload", key)
        await self.store.get_upload(bucket.id, key, upload_id)
        await self.store.abort_upload(upload_id, self.clock.now())
        self._on_garbage()

    async def list_parts(
        self,
        caller: Principal | None,
        name: str,
        key: str,
        upload_id: str,
        *,
        after: int = 0,
        max_parts: int = 1000,
    ) -> tuple[Upload, PartsPage]:
        bucket = await self._authorized(caller, name, "s3:ListMultipartUploadParts", key)
        upload = await self.store.get_upload(bucket.id, key, upload_id)
        max_parts = max(0, min(max_parts, 1000))
        if max_parts == 0:
            return upload, PartsPage((), False, after)
        rows = await self.store.list_parts(upload_id, after=after, limit=max_parts + 1)
        truncated = len(rows) > max_parts
        rows = rows[:max_parts]
        next_marker = rows[-1][0].number if rows else 0
        return upload, PartsPage(tuple(rows), truncated, next_marker)

    async def list_uploads(
        self,
        caller: Principal | None,
        name: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadsPage:
        bucket = await self._authorized(caller, name, "s3:ListBucketMultipartUploads")
        max_uploads = max(0, min(max_uploads, 1000))
        if max_uploads == 0:
            return UploadsPage((), (), False)
        upper = prefix_successor(prefix) if prefix else None

        async def scan(lower: str, cursor: tuple[str, str], limit: int) -> list[Upload]:
            return await self.store.list_uploads(
                bucket.id,
                lower=lower,
                upper=upper,
                key_marker=cursor[0],
                upload_id_marker=cursor[1],
                limit=limit,
            )

        page = await roll_up(
            scan,
            key_of=lambda upload: upload.key,
            cursor_of=lambda upload: (upload.key, upload.upload_id),
            start=(key_marker, upload_id_marker),
            fresh=("", ""),
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            limit=max_uploads,
        )
        if not page.truncated:
            return UploadsPage(page.rows, page.prefixes, False)
        if isinstance(page.last, Upload):
            return UploadsPage(page.rows, page.prefixes, True, page.last.key, page.last.upload_id)
        return UploadsPage(page.rows, page.prefixes, True, page.last or "", "")

    # Upkeep

    async def usage(self) -> list[BucketUsage]:
        return await self.store.usage()

    async def usage_of(self, caller: Principal | None) -> list[BucketUsage]:
        """The usage of the buckets `caller` may list (every bucket for an administrator)."""
        visible = {bucket.name for bucket in await self.list_buckets(caller)}
        return [row for row in await self.store.usage() if row.bucket in visible]


def _key_of(version: ObjectVersion) -> str:
    return version.key


def _key_or_prefix(last: ObjectVersion | str | None) -> str:
    return last.key if isinstance(last, ObjectVersion) else last or ""


def _checksum_algorithm(request: WriteRequest) -> str:
    """The algorithm a body is checksummed in: the one asked for, else the one its claim is in."""
    return request.checksum_algorithm or (request.checksum.algorithm if request.checksum else "")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


_CONFIGS: dict[str, tuple[str, type[S3Error]]] = {
    "cors": ("BucketCORS", NoSuchCorsConfigurationError),
    "lifecycle": ("LifecycleConfiguration", NoSuchLifecycleConfigurationError),
    "policy": ("BucketPolicy", NoSuchBucketPolicyError),
}
