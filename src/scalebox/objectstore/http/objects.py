"""Object-level S3 operations: put, get, head, delete, copy, tags, and multipart uploads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from scalebox.objectstore import tagging
from scalebox.objectstore.checksum import decode_content_md5, header_name
from scalebox.objectstore.domain import (
    NULL_VERSION,
    ObjectVersion,
    Versioning,
    check_read_preconditions,
    http_date,
    parse_copy_range,
    parse_copy_source,
    parse_range,
    parse_user_metadata,
    stored_headers,
)
from scalebox.objectstore.errors import (
    InvalidArgumentError,
    InvalidPartNumberError,
    InvalidRequestError,
    NotImplementedS3Error,
    NotModifiedError,
    PreconditionFailedError,
)
from scalebox.objectstore.http import xml
from scalebox.objectstore.http.request import S3Request
from scalebox.objectstore.http.response import Response, empty
from scalebox.objectstore.http.response import xml as xml_response
from scalebox.objectstore.service.objects import ObjectService, WriteRequest
from scalebox.objectstore.settings import ObjectStoreSettings

_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def _write_request(
    request: S3Request, settings: ObjectStoreSettings, *, with_body: bool = True
) -> WriteRequest:
    headers = request.headers
    md5 = headers.get("content-md5")
    tags = headers.get("x-amz-tagging")
    stored = stored_headers(headers)
    if "content-encoding" in stored:
        parts = [
            p.strip()
            for p in stored["content-encoding"].split(",")
            if p.strip() and p.strip() != "aws-chunked"
        ]
        if parts:
            stored["content-encoding"] = ",".join(parts)
        else:
            del stored["content-encoding"]
    return WriteRequest(
        headers=stored,
        user_metadata=parse_user_metadata(request.header_list, bytes_max=settings.metadata_bytes_max),
        tags=tagging.parse_tagging_header(tags, tags_max=tagging.OBJECT_TAGS_MAX) if tags else {},
        content_md5=decode_content_md5(md5) if md5 is not None and with_body else None,
        checksum=request.checksum_claim() if with_body else None,
        checksum_algorithm=request.checksum_algorithm(),
        if_match=headers.get("if-match"),
        if_none_match=headers.get("if-none-match"),
        size=request.decoded_size() if with_body else None,
    )


def _version_header(version: ObjectVersion, versioning: Versioning | None = None) -> list[tuple[str, str]]:
    """x-amz-version-id: a write names only real version ids; a read (given the bucket's
    `versioning`) also names the null version, once the bucket has been versioned, as S3 does."""
    if version.version_id == NULL_VERSION and versioning in (None, Versioning.UNVERSIONED):
        return []
    return [("x-amz-version-id", version.version_id)]


def _checksum_headers(version: ObjectVersion) -> list[tuple[str, str]]:
    if not version.checksum:
        return []
    return [
        (header_name(version.checksum_algorithm), version.checksum),
        ("x-amz-checksum-type", version.checksum_type or "FULL_OBJECT"),
    ]


def object_headers(
    version: ObjectVersion, request: S3Request, versioning: Versioning, *, whole: bool = True
) -> list[tuple[str, str]]:
    """The headers a GET or HEAD answers with; checksums only for the whole object, as S3."""
    headers = [
        ("etag", version.etag),
        ("last-modified", http_date(version.last_modified)),
        ("accept-ranges", "bytes"),
        ("content-type", version.content_type),
    ]
    headers += [(name, value) for name, value in version.headers.items() if name != "content-type"]
    headers += [(f"x-amz-meta-{name}", value) for name, value in version.user_metadata.items()]
    headers += _version_header(version, versioning)
    if version.tags:
        headers.append(("x-amz-tagging-count", str(len(version.tags))))
    if whole and request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers += _checksum_headers(version)
    overrides = {_OVERRIDES[name]: value for name, value in request.query.items() if name in _OVERRIDES}
    if overrides:
        headers = [(name, value) for name, value in headers if name not in overrides] + list(
            overrides.items()
        )
    return headers


async def put_object(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    query = request.query
    if "tagging" in query:
        document = await request.read_all(settings.xml_body_bytes_max)
        version = await service.set_object_tags(
            request.caller, request.bucket, request.key, query.get("versionId"),
            tagging.parse_tagging(document, tags_max=tagging.OBJECT_TAGS_MAX),
        )  # fmt: skip
        return empty(headers=_version_header(version))
    if "uploadId" in query or "partNumber" in query:
        return await _upload_part(service, settings, request)
    if any(name in query for name in ("acl", "retention", "legal-hold", "restore")):
        raise NotImplementedS3Error(f"This object subresource is not implemented: {request.query_string}")
    if "x-amz-copy-source" in request.headers:
        return await _copy_object(service, settings, request)
    write = _write_request(request, settings)
    body = request.body(settings.object_bytes_max)
    version = await service.put_object(request.caller, request.bucket, request.key, body, write)
    return empty(headers=[("etag", version.etag), *_version_header(version), *_checksum_headers(version)])


async def _copy_object(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    headers = request.headers
    source = parse_copy_source(headers["x-amz-copy-source"])
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    tag_directive = headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        raise InvalidArgumentError(
            "A metadata or tagging directive is COPY or REPLACE", ArgumentName="x-amz-metadata-directive"
        )
    write = _write_request(request, settings, with_body=False)
    # Conditions on the destination are If-Match/If-None-Match; on the source, x-amz-copy-source-if-*.
    version, original = await service.copy_object(
        request.caller,
        request.bucket,
        request.key,
        source,
        write,
        replace_metadata=directive == "REPLACE",
        replace_tags=tag_directive == "REPLACE",
        source_conditions=lambda v: _copy_conditions(request, v),
    )
    checksum = (version.checksum_algorithm, version.checksum) if version.checksum else None
    body = xml.copy_result("CopyObjectResult", version.etag, version.last_modified, checksum)
    extra = (
        [("x-amz-copy-source-version-id", original.version_id)] if original.version_id != NULL_VERSION else []
    )
    return xml_response(body, headers=[*_version_header(version), *extra])


def _copy_conditions(request: S3Request, version: ObjectVersion) -> None:
    """The x-amz-copy-source-if-* conditions; every failing one is a 412, as S3 answers a copy."""
    headers = request.headers
    try:
        check_read_preconditions(
            version,
            if_match=headers.get("x-amz-copy-source-if-match"),
            if_none_match=headers.get("x-amz-copy-source-if-none-match"),
            if_modified_since=headers.get("x-amz-copy-source-if-modified-since"),
            if_unmodified_since=headers.get("x-amz-copy-source-if-unmodified-since"),
        )
    except NotModifiedError:
        condition = (
            "x-amz-copy-source-If-None-Match"
            if "x-amz-copy-source-if-none-match" in headers
            else "x-amz-copy-source-If-Modified-Since"
        )
        raise PreconditionFailedError(Condition=condition) from None


async def get_object(service: ObjectService, request: S3Request, *, head: bool = False) -> Response:
    query = request.query
    if "tagging" in query and not head:
        version = await service.get_object_tags(
            request.caller, request.bucket, request.key, query.get("versionId")
        )
        return xml_response(tagging.render_tagging(version.tags), headers=_version_header(version))
    if "uploadId" in query and not head:
        return await _list_parts(service, request)
    if any(name in query for name in ("acl", "attributes", "retention", "legal-hold", "torrent")):
        raise NotImplementedS3Error(f"This object subresource is not implemented: {request.query_string}")
    if "partNumber" in query and "range" in request.headers:
        raise InvalidRequestError("Cannot specify both Range header and partNumber query parameter.")
    if request.caller is None and any(name in query for name in _OVERRIDES):
        raise InvalidRequestError(
            "Request specific response headers cannot be used for anonymous GET requests."
        )
    version_id = query.get("versionId") or None
    version = await service.get_object(request.caller, request.bucket, request.key, version_id)
    headers = request.headers
    try:
        check_read_preconditions(
            version,
            if_match=headers.get("if-match"),
            if_none_match=headers.get("if-none-match"),
            if_modified_since=headers.get("if-modified-since"),
            if_unmodified_since=headers.get("if-unmodified-since"),
        )
    except NotModifiedError:
        # RFC 9110: a 304 carries the validators a 200 would have.
        return empty(304, [("etag", version.etag), ("last-modified", http_date(version.last_modified))])
    whole = "partNumber" not in query and (
        "range" not in headers or parse_range(headers["range"], version.size) is None
    )
    bucket = await service.bucket(request.bucket)
    response_headers = object_headers(version, request, bucket.versioning, whole=whole)
    start, end = 0, version.size
    status = 200
    part_number = query.get("partNumber")
    if part_number is not None:
        start, end, count = _part_range(version, part_number)
        status = 206 if (version.parts and count > 1) or start or end != version.size else 200
        response_headers.append(("x-amz-mp-parts-count", str(count)))
        if status == 206:
            response_headers.append(("content-range", f"bytes {start}-{end - 1}/{version.size}"))
    elif "range" in headers:
        chosen = parse_range(headers["range"], version.size)
        if chosen is not None:
            start, end = chosen
            status = 206
            response_headers.append(("content-range", f"bytes {start}-{end - 1}/{version.size}"))
    if head:
        return Response(status, response_headers, length=end - start)
    # The first piece is read before the status goes out, so a shard set that cannot be read
    # answers a clean 500 rather than a 200 whose body breaks off.
    stream = service.read(version, start, end)
    first = await anext(stream, b"")
    return Response(status, response_headers, stream=_prepend(first, stream), length=end - start)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for piece in rest:
        yield piece


def _part_range(version: ObjectVersion, value: str) -> tuple[int, int, int]:
    if not value.isdigit() or int(value) < 1:
        raise InvalidArgumentError(
            "Part number must be an integer between 1 and 10000", ArgumentName="partNumber"
        )
    number = int(value)
    if not version.parts or not version.is_multipart:
        if number != 1:
            raise InvalidPartNumberError(
                "The requested partnumber is not satisfiable", PartNumberRequested=value
            )
        return 0, version.size, 1
    offset = 0
    for index, part in enumerate(version.parts, start=1):
        if index == number:
            return offset, offset + part.size, len(version.parts)
        offset += part.size
    raise InvalidPartNumberError("The requested partnumber is not satisfiable", PartNumberRequested=value)


async def delete_object(service: ObjectService, request: S3Request) -> Response:
    query = request.query
    if "tagging" in query:
        version = await service.set_object_tags(
            request.caller, request.bucket, request.key, query.get("versionId"), {}
        )
        return empty(204, _version_header(version))
    if "uploadId" in query:
        await service.abort_upload(request.caller, request.bucket, request.key, query["uploadId"])
        return empty(204)
    outcome = await service.delete_object(
        request.caller, request.bucket, request.key, query.get("versionId") or None
    )
    headers = []
    if outcome.delete_marker:
        headers.append(("x-amz-delete-marker", "true"))
    if outcome.version_id != NULL_VERSION or outcome.delete_marker:
        headers.append(("x-amz-version-id", outcome.version_id))
    return empty(204, headers)


async def post_object(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    query = request.query
    if "uploads" in query:
        write = _write_request(request, settings, with_body=False)
        upload = await service.create_upload(
            request.caller,
            request.bucket,
            request.key,
            write,
            request.headers.get("x-amz-checksum-type", "").upper(),
        )
        headers = []
        if upload.checksum_algorithm:
            headers += [
                ("x-amz-checksum-algorithm", upload.checksum_algorithm),
                ("x-amz-checksum-type", upload.checksum_type),
            ]
        return xml_response(xml.initiate_upload(request.bucket, upload), headers=headers)
    if "uploadId" in query:
        parts = xml.parse_complete(
            await request.read_all(settings.xml_body_bytes_max, body_checksum=False),
            parts_max=settings.parts_max,
        )
        version = await service.complete_upload(
            request.caller,
            request.bucket,
            request.key,
            query["uploadId"],
            parts,
            if_match=request.headers.get("if-match"),
            if_none_match=request.headers.get("if-none-match"),
            claim=request.checksum_claim(),
            checksum_type=request.headers.get("x-amz-checksum-type", "").upper(),
        )
        location = f"/{request.bucket}/{quote(request.key)}"
        return xml_response(
            xml.complete_upload(location, request.bucket, version), headers=_version_header(version)
        )
    raise NotImplementedS3Error(f"POST {request.query_string or 'object'} is not implemented by this store")


async def _upload_part(service: ObjectService, settings: ObjectStoreSettings, request: S3Request) -> Response:
    query = request.query
    upload_id = query.get("uploadId", "")
    number_text = query.get("partNumber", "")
    if not upload_id or not number_text.isdigit():
        raise InvalidArgumentError(
            "UploadPart needs uploadId and a numeric partNumber", ArgumentName="partNumber"
        )
    number = int(number_text)
    if "x-amz-copy-source" in request.headers:
        return await _upload_part_copy(service, settings, request, upload_id, number)
    write = _write_request(request, settings)
    part, algorithm = await service.upload_part(
        request.caller,
        request.bucket,
        request.key,
        upload_id,
        number=number,
        body=request.body(settings.part_bytes_max),
        request=write,
    )
    headers = [("etag", f'"{part.etag}"')]
    if algorithm:
        headers.append((header_name(algorithm), part.checksum))
    return empty(headers=headers)


async def _upload_part_copy(
    service: ObjectService, settings: ObjectStoreSettings, request: S3Request, upload_id: str, number: int
) -> Response:
    source_bucket, source_key, source_version = parse_copy_source(request.headers["x-amz-copy-source"])
    original = await service.get_object(request.caller, source_bucket, source_key, source_version)
    _copy_conditions(request, original)
    start, end = 0, original.size
    wanted = request.headers.get("x-amz-copy-source-range")
    if wanted is not None:
        start, end = parse_copy_range(wanted, original.size)
    write = WriteRequest(size=end - start)
    part, _algorithm = await service.upload_part(
        request.caller,
        request.bucket,
        request.key,
        upload_id,
        number=number,
        body=service.read(original, start, end),
        request=write,
    )
    body = xml.copy_result("CopyPartResult", f'"{part.etag}"', service.clock.now(), None)
    extra = (
        [("x-amz-copy-source-version-id", original.version_id)] if original.version_id != NULL_VERSION else []
    )
    return xml_response(body, headers=extra)


async def _list_parts(service: ObjectService, request: S3Request) -> Response:
    query = request.query
    marker_text = query.get("part-number-marker", "0") or "0"
    max_text = query.get("max-parts", "1000") or "1000"
    if not marker_text.isdigit() or not max_text.isdigit():
        raise InvalidArgumentError("part-number-marker and max-parts are integers", ArgumentName="max-parts")
    upload, page = await service.list_parts(
        request.caller,
        request.bucket,
        request.key,
        query["uploadId"],
        after=int(marker_text),
        max_parts=int(max_text),
    )
    body = xml.list_parts(
        request.bucket,
        upload,
        page.parts,
        marker=int(marker_text),
        max_parts=int(max_text),
        truncated=page.is_truncated,
        next_marker=page.next_part_number_marker,
    )
    return xml_response(body)
