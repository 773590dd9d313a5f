"""Bucket-level S3 operations: create, head, delete, list, and the bucket's configurations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from scalebox.objectstore import tagging
from scalebox.objectstore.domain import LIST_KEYS_MAX, decode_token, encode_token
from scalebox.objectstore.errors import (
    InvalidArgumentError,
    InvalidLocationConstraintError,
    NoSuchTagSetError,
    NotImplementedS3Error,
)
from scalebox.objectstore.http import xml
from scalebox.objectstore.http.request import S3Request
from scalebox.objectstore.http.response import Response, empty
from scalebox.objectstore.http.response import xml as xml_response
from scalebox.objectstore.service.objects import ObjectService
from scalebox.objectstore.settings import ObjectStoreSettings

_CONFIGS = ("cors", "lifecycle", "policy")
_UNSUPPORTED = ("acl", "website", "replication", "notification", "logging", "encryption", "object-lock",
                "accelerate", "requestPayment", "ownershipControls", "publicAccessBlock", "analytics",
                "metrics", "inventory", "intelligent-tiering")  # fmt: skip


def _int(request: S3Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    if not value.lstrip("-").isdigit() or int(value) < 0:
        raise InvalidArgumentError(
            f"{name} must be a non-negative integer", ArgumentName=name, ArgumentValue=value
        )
    return int(value)


def _encoding(request: S3Request) -> str:
    value = request.query.get("encoding-type", "")
    if value not in ("", "url"):
        raise InvalidArgumentError(
            "Invalid Encoding Method specified in Request", ArgumentName="encoding-type"
        )
    return value


async def list_buckets(service: ObjectService, request: S3Request) -> Response:
    buckets = await service.list_buckets(request.caller)
    return xml_response(xml.list_buckets(buckets, request.caller.name if request.caller else ""))


async def put_bucket(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    query = request.query
    name = request.bucket
    if "versioning" in query:
        await service.set_versioning(
            request.caller, name, xml.parse_versioning(await request.read_all(settings.xml_body_bytes_max))
        )
        return empty()
    if "tagging" in query:
        body = await request.read_all(settings.xml_body_bytes_max)
        await service.set_bucket_tags(
            request.caller, name, tagging.parse_tagging(body, tags_max=tagging.BUCKET_TAGS_MAX)
        )
        return empty(204)
    for which in _CONFIGS:
        if which in query:
            body = await request.read_all(settings.xml_body_bytes_max)
            if not body:
                raise InvalidArgumentError(f"The {which} configuration must not be empty", ArgumentName=which)
            await service.set_config(request.caller, name, which, body)
            return empty(204 if which == "policy" else 200)
    _refuse_unsupported(request)
    region = xml.parse_location(await request.read_all(settings.xml_body_bytes_max))
    if region and region != settings.region:
        raise InvalidLocationConstraintError(
            f"The specified location-constraint is not valid: this store serves {settings.region}",
            LocationConstraint=region,
        )
    await service.create_bucket(request.caller, name, region)
    return empty(headers=[("location", f"/{name}")])


async def get_bucket(service: ObjectService, request: S3Request) -> Response:
    """GET on a bucket: a sub-resource when the query names one, else a listing (v1 or v2)."""
    for name, handler in _GETTERS.items():
        if name in request.query:
            return await handler(service, request)
    for which in _CONFIGS:
        if which in request.query:
            text = await service.get_config(request.caller, request.bucket, which)
            content_type = "application/json" if which == "policy" else "application/xml"
            return Response(200, [("content-type", content_type)], text.encode())
    _refuse_unsupported(request)
    if request.query.get("list-type") == "2":
        return await _list_v2(service, request)
    return await _list_v1(service, request)


async def _location(service: ObjectService, request: S3Request) -> Response:
    return xml_response(xml.location(await service.bucket_location(request.caller, request.bucket)))


async def _versioning(service: ObjectService, request: S3Request) -> Response:
    return xml_response(xml.versioning(await service.get_versioning(request.caller, request.bucket)))


async def _tagging(service: ObjectService, request: S3Request) -> Response:
    tags = await service.get_bucket_tags(request.caller, request.bucket)
    if not tags:
        raise NoSuchTagSetError(
            "The TagSet does not exist", resource=request.bucket, BucketName=request.bucket
        )
    return xml_response(tagging.render_tagging(tags))


def _refuse_unsupported(request: S3Request) -> None:
    for name in _UNSUPPORTED:
        if name in request.query:
            raise NotImplementedS3Error(
                f"The bucket subresource ?{name} is not implemented by this store", resource=request.bucket
            )


async def _list_v1(service: ObjectService, request: S3Request) -> Response:
    q = request.query
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    max_keys = _int(request, "max-keys", LIST_KEYS_MAX)
    page = await service.list_objects(
        request.caller, request.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
    )
    return xml_response(
        xml.list_objects_v1(
            request.bucket,
            page.objects,
            page.common_prefixes,
            prefix=prefix,
            delimiter=delimiter,
            marker=marker,
            max_keys=max_keys,
            truncated=page.is_truncated,
            next_marker=page.next_marker,
            encoding_type=_encoding(request),
        )
    )


async def _list_v2(service: ObjectService, request: S3Request) -> Response:
    q = request.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    token = q.get("continuation-token")
    start_after = q.get("start-after", "")
    marker = decode_token(token) if token else start_after
    max_keys = _int(request, "max-keys", LIST_KEYS_MAX)
    page = await service.list_objects(
        request.caller, request.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
    )
    return xml_response(
        xml.list_objects_v2(
            request.bucket,
            page.objects,
            page.common_prefixes,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            truncated=page.is_truncated,
            continuation_token=token,
            next_token=encode_token(page.next_marker) if page.is_truncated else "",
            start_after=start_after,
            encoding_type=_encoding(request),
            fetch_owner=q.get("fetch-owner", "").lower() == "true",
        )
    )


async def _list_versions(service: ObjectService, request: S3Request) -> Response:
    q = request.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, version_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    max_keys = _int(request, "max-keys", LIST_KEYS_MAX)
    page = await service.list_versions(
        request.caller,
        request.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_marker,
        max_keys=max_keys,
    )
    return xml_response(
        xml.list_versions(
            request.bucket,
            page.versions,
            page.common_prefixes,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            version_id_marker=version_marker,
            max_keys=max_keys,
            truncated=page.is_truncated,
            next_key_marker=page.next_key_marker,
            next_version_id_marker=page.next_version_id_marker,
            encoding_type=_encoding(request),
        )
    )


async def _list_uploads(service: ObjectService, request: S3Request) -> Response:
    q = request.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, upload_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    max_uploads = _int(request, "max-uploads", 1000)
    page = await service.list_uploads(
        request.caller,
        request.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_marker,
        max_uploads=max_uploads,
    )
    return xml_response(
        xml.list_uploads(
            request.bucket,
            page.uploads,
            page.common_prefixes,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_marker,
            max_uploads=max_uploads,
            truncated=page.is_truncated,
            next_key_marker=page.next_key_marker,
            next_upload_id_marker=page.next_upload_id_marker,
            encoding_type=_encoding(request),
        )
    )


async def head_bucket(service: ObjectService, request: S3Request) -> Response:
    bucket = await service.head_bucket(request.caller, request.bucket)
    return empty(headers=[("x-amz-bucket-region", bucket.region)])


async def delete_bucket(service: ObjectService, request: S3Request) -> Response:
    query = request.query
    if "tagging" in query:
        await service.set_bucket_tags(request.caller, request.bucket, {})
        return empty(204)
    for which in _CONFIGS:
        if which in query:
            await service.set_config(request.caller, request.bucket, which, b"")
            return empty(204)
    _refuse_unsupported(request)
    await service.delete_bucket(request.caller, request.bucket)
    return empty(204)


async def post_bucket(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    """POST on a bucket: only the multi-object delete (?delete)."""
    if "delete" not in request.query:
        raise NotImplementedS3Error(
            "POST on a bucket is only implemented for ?delete", resource=request.bucket
        )
    return await _delete_objects(service, settings, request)


async def _delete_objects(
    service: ObjectService, settings: ObjectStoreSettings, request: S3Request
) -> Response:
    targets, quiet = xml.parse_delete(await request.read_all(settings.xml_body_bytes_max))
    results = await service.delete_objects(request.caller, request.bucket, targets)
    deleted = []
    failed = []
    for key, version_id, outcome in results:
        if isinstance(outcome, Exception):
            code = getattr(outcome, "code", "InternalError")
            failed.append((key, version_id, code, str(outcome)))
        elif not quiet:
            deleted.append(
                (key, version_id, outcome.delete_marker, outcome.version_id if outcome.delete_marker else "")
            )
    return xml_response(xml.delete_result(deleted, failed))


_GETTERS: dict[str, Callable[[ObjectService, S3Request], Awaitable[Response]]] = {
    "location": _location,
    "versioning": _versioning,
    "tagging": _tagging,
    "uploads": _list_uploads,
    "versions": _list_versions,
}
