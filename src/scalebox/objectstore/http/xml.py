"""S3's XML bodies: the documents the API answers with, and the few request documents it reads.

Rendering builds strings with escaping (these documents are flat and hot: a 1,000-key listing is
rendered on every page); parsing goes through defusedxml, so entity tricks are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import quote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from scalebox.objectstore.checksum import ALGORITHMS
from scalebox.objectstore.domain import Bucket, CompletedPart, ObjectVersion, Part, Upload
from scalebox.objectstore.errors import MalformedXmlError
from scalebox.objectstore.xmldoc import parse_xml

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
REQUEST_BYTES_MAX = 2 * 1024 * 1024  # a 10,000-part CompleteMultipartUpload fits
OWNER_ID = "02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: str) -> str:
    return escape(value)


class Encoder:
    """Renders keys and prefixes plainly, or URL-encoded when the client asked `encoding-type=url`."""

    def __init__(self, encoding_type: str) -> None:
        self.url = encoding_type == "url"

    def __call__(self, value: str) -> str:
        return quote(value, safe="/") if self.url else escape(value)


def document(root: str, body: str) -> bytes:
    return f'{DECLARATION}<{root} xmlns="{NAMESPACE}">{body}</{root}>'.encode()


def element(name: str, value: str | int | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{_text(str(value))}</{name}>"


def owner(name: str, element: str = "Owner") -> str:
    """An <Owner> (or <Initiator>) naming `name`."""
    return (
        f"<{element}><ID>{_text(name or OWNER_ID)}</ID><DisplayName>{_text(name)}</DisplayName></{element}>"
    )


def error(
    code: str, message: str, resource: str, request_id: str, extra: Iterable[tuple[str, str]] = ()
) -> bytes:
    more = "".join(element(name, value) for name, value in extra)
    return (
        f"{DECLARATION}<Error><Code>{_text(code)}</Code><Message>{_text(message)}</Message>{more}"
        f"<Resource>{_text(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def list_buckets(buckets: Sequence[Bucket], caller: str) -> bytes:
    items = "".join(
        f"<Bucket><Name>{_text(b.name)}</Name><CreationDate>{iso(b.created_at)}</CreationDate>"
        f"<BucketRegion>{_text(b.region)}</BucketRegion></Bucket>"
        for b in buckets
    )
    return document("ListAllMyBucketsResult", f"{owner(caller)}<Buckets>{items}</Buckets>")


def _checksum_algorithm(version: ObjectVersion) -> str:
    if not version.checksum_algorithm:
        return ""
    return (
        f"<ChecksumAlgorithm>{version.checksum_algorithm}</ChecksumAlgorithm>"
        f"<ChecksumType>{version.checksum_type or 'FULL_OBJECT'}</ChecksumType>"
    )


def _contents(version: ObjectVersion, encode: Encoder, *, fetch_owner: bool) -> str:
    return (
        f"<Contents><Key>{encode(version.key)}</Key><LastModified>{iso(version.last_modified)}</LastModified>"
        f"<ETag>{_text(version.etag)}</ETag>{_checksum_algorithm(version)}<Size>{version.size}</Size>"
        f"{owner(version.owner) if fetch_owner else ''}<StorageClass>STANDARD</StorageClass></Contents>"
    )


def _prefixes(prefixes: Sequence[str], encode: Encoder) -> str:
    return "".join(f"<CommonPrefixes><Prefix>{encode(p)}</Prefix></CommonPrefixes>" for p in prefixes)


def list_objects_v1(
    name: str,
    objects: Sequence[ObjectVersion],
    prefixes: Sequence[str],
    *,
    prefix: str,
    delimiter: str,
    marker: str,
    max_keys: int,
    truncated: bool,
    next_marker: str,
    encoding_type: str,
) -> bytes:
    encode = Encoder(encoding_type)
    body = [
        element("Name", name),
        f"<Prefix>{encode(prefix)}</Prefix><Marker>{encode(marker)}</Marker>",
        element("MaxKeys", max_keys),
        f"<Delimiter>{encode(delimiter)}</Delimiter>" if delimiter else "",
        element("IsTruncated", truncated),
        f"<NextMarker>{encode(next_marker)}</NextMarker>" if truncated and delimiter else "",
        element("EncodingType", encoding_type or None),
        *(_contents(v, encode, fetch_owner=True) for v in objects),
        _prefixes(prefixes, encode),
    ]
    return document("ListBucketResult", "".join(body))


def list_objects_v2(
    name: str,
    objects: Sequence[ObjectVersion],
    prefixes: Sequence[str],
    *,
    prefix: str,
    delimiter: str,
    max_keys: int,
    truncated: bool,
    continuation_token: str | None,
    next_token: str,
    start_after: str,
    encoding_type: str,
    fetch_owner: bool,
) -> bytes:
    encode = Encoder(encoding_type)
    body = [
        element("Name", name),
        f"<Prefix>{encode(prefix)}</Prefix>",
        f"<Delimiter>{encode(delimiter)}</Delimiter>" if delimiter else "",
        element("MaxKeys", max_keys),
        element("KeyCount", len(objects) + len(prefixes)),
        element("IsTruncated", truncated),
        element("ContinuationToken", continuation_token),
        element("NextContinuationToken", next_token if truncated else None),
        f"<StartAfter>{encode(start_after)}</StartAfter>" if start_after else "",
        element("EncodingType", encoding_type or None),
        *(_contents(v, encode, fetch_owner=fetch_owner) for v in objects),
        _prefixes(prefixes, encode),
    ]
    return document("ListBucketResult", "".join(body))


def list_versions(
    name: str,
    versions: Sequence[ObjectVersion],
    prefixes: Sequence[str],
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
    truncated: bool,
    next_key_marker: str,
    next_version_id_marker: str,
    encoding_type: str,
) -> bytes:
    encode = Encoder(encoding_type)
    items = []
    for v in versions:
        common = (
            f"<Key>{encode(v.key)}</Key><VersionId>{_text(v.version_id)}</VersionId>"
            f"<IsLatest>{'true' if v.is_latest else 'false'}</IsLatest>"
            f"<LastModified>{iso(v.last_modified)}</LastModified>{owner(v.owner)}"
        )
        if v.is_delete_marker:
            items.append(f"<DeleteMarker>{common}</DeleteMarker>")
        else:
            items.append(
                f"<Version>{common}<ETag>{_text(v.etag)}</ETag>{_checksum_algorithm(v)}<Size>{v.size}</Size>"
                "<StorageClass>STANDARD</StorageClass></Version>"
            )
    body = [
        element("Name", name),
        f"<Prefix>{encode(prefix)}</Prefix>",
        f"<KeyMarker>{encode(key_marker)}</KeyMarker>",
        element("VersionIdMarker", version_id_marker),
        element("MaxKeys", max_keys),
        f"<Delimiter>{encode(delimiter)}</Delimiter>" if delimiter else "",
        element("IsTruncated", truncated),
        f"<NextKeyMarker>{encode(next_key_marker)}</NextKeyMarker>" if truncated else "",
        element(
            "NextVersionIdMarker", next_version_id_marker if truncated and next_version_id_marker else None
        ),
        element("EncodingType", encoding_type or None),
        *items,
        _prefixes(prefixes, encode),
    ]
    return document("ListVersionsResult", "".join(body))


def location(region: str) -> bytes:
    # us-east-1 is answered as an empty constraint, as S3 does.
    value = "" if region == "us-east-1" else _text(region)
    return document("LocationConstraint", value)


def versioning(status: str) -> bytes:
    return document("VersioningConfiguration", element("Status", status or None))


def initiate_upload(bucket: str, upload: Upload) -> bytes:
    return document(
        "InitiateMultipartUploadResult",
        element("Bucket", bucket) + element("Key", upload.key) + element("UploadId", upload.upload_id),
    )


def complete_upload(location_url: str, bucket: str, version: ObjectVersion) -> bytes:
    checksum = (
        element(f"Checksum{version.checksum_algorithm}", version.checksum)
        + element("ChecksumType", version.checksum_type)
        if version.checksum
        else ""
    )
    return document(
        "CompleteMultipartUploadResult",
        element("Location", location_url)
        + element("Bucket", bucket)
        + element("Key", version.key)
        + element("ETag", version.etag)
        + checksum,
    )


def list_parts(
    bucket: str,
    upload: Upload,
    parts: Sequence[tuple[Part, datetime]],
    *,
    marker: int,
    max_parts: int,
    truncated: bool,
    next_marker: int,
) -> bytes:
    algorithm = upload.checksum_algorithm
    items = "".join(
        f"<Part><PartNumber>{part.number}</PartNumber><LastModified>{iso(modified)}</LastModified>"
        f"<ETag>&quot;{part.etag}&quot;</ETag>"
        + (element(f"Checksum{algorithm}", part.checksum) if algorithm and part.checksum else "")
        + f"<Size>{part.size}</Size></Part>"
        for part, modified in parts
    )
    body = (
        element("Bucket", bucket)
        + element("Key", upload.key)
        + element("UploadId", upload.upload_id)
        + owner(upload.owner, "Initiator")
        + owner(upload.owner)
        + "<StorageClass>STANDARD</StorageClass>"
        + element("PartNumberMarker", marker)
        + element("NextPartNumberMarker", next_marker)
        + element("MaxParts", max_parts)
        + element("IsTruncated", truncated)
        + (
            element("ChecksumAlgorithm", algorithm) + element("ChecksumType", upload.checksum_type)
            if algorithm
            else ""
        )
        + items
    )
    return document("ListPartsResult", body)


def list_uploads(
    bucket: str,
    uploads: Sequence[Upload],
    prefixes: Sequence[str],
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    truncated: bool,
    next_key_marker: str,
    next_upload_id_marker: str,
    encoding_type: str,
) -> bytes:
    encode = Encoder(encoding_type)
    items = "".join(
        f"<Upload><Key>{encode(u.key)}</Key><UploadId>{_text(u.upload_id)}</UploadId>"
        + owner(u.owner, "Initiator")
        + owner(u.owner)
        + f"<StorageClass>STANDARD</StorageClass><Initiated>{iso(u.initiated)}</Initiated>"
        + (element("ChecksumAlgorithm", u.checksum_algorithm) if u.checksum_algorithm else "")
        + "</Upload>"
        for u in uploads
    )
    body = (
        element("Bucket", bucket)
        + f"<KeyMarker>{encode(key_marker)}</KeyMarker>"
        + element("UploadIdMarker", upload_id_marker)
        + f"<NextKeyMarker>{encode(next_key_marker)}</NextKeyMarker>"
        + element("NextUploadIdMarker", next_upload_id_marker)
        + f"<Prefix>{encode(prefix)}</Prefix>"
        + (f"<Delimiter>{encode(delimiter)}</Delimiter>" if delimiter else "")
        + element("MaxUploads", max_uploads)
        + element("IsTruncated", truncated)
        + element("EncodingType", encoding_type or None)
        + items
        + _prefixes(prefixes, encode)
    )
    return document("ListMultipartUploadsResult", body)


def copy_result(root: str, version_etag: str, modified: datetime, checksum: tuple[str, str] | None) -> bytes:
    extra = element(f"Checksum{checksum[0]}", checksum[1]) if checksum and checksum[1] else ""
    return document(root, element("ETag", version_etag) + element("LastModified", iso(modified)) + extra)


def delete_result(
    deleted: Sequence[tuple[str, str | None, bool, str]], errors: Sequence[tuple[str, str | None, str, str]]
) -> bytes:
    """`deleted`: (key, version id asked, delete marker, marker's version id);
    `errors`: (key, version id, code, message)."""
    items = []
    for key, version_id, marker, marker_version in deleted:
        items.append(
            "<Deleted>"
            + element("Key", key)
            + element("VersionId", version_id)
            + (
                element("DeleteMarker", True) + element("DeleteMarkerVersionId", marker_version)
                if marker
                else ""
            )
            + "</Deleted>"
        )
    for key, version_id, code, message in errors:
        items.append(
            "<Error>"
            + element("Key", key)
            + element("VersionId", version_id)
            + element("Code", code)
            + element("Message", message)
            + "</Error>"
        )
    return document("DeleteResult", "".join(items))


# Parsing


def parse(body: bytes, root: str) -> Element:
    """The document's root element, which must be `root` (with or without S3's namespace)."""
    return parse_xml(body, root=root, bytes_max=REQUEST_BYTES_MAX)


def child_text(node: Element, name: str, default: str = "") -> str:
    found = node.find(name)
    return default if found is None or found.text is None else found.text


def parse_versioning(body: bytes) -> str:
    return child_text(parse(body, "VersioningConfiguration"), "Status")


def parse_location(body: bytes) -> str:
    if not body.strip():
        return ""
    return child_text(parse(body, "CreateBucketConfiguration"), "LocationConstraint")


def parse_delete(body: bytes, *, objects_max: int = 1000) -> tuple[list[tuple[str, str | None]], bool]:
    """A multi-object delete: the (key, version id) pairs and whether Quiet was asked."""
    root = parse(body, "Delete")
    targets = []
    for item in root.findall("Object"):
        key = child_text(item, "Key")
        if not key:
            raise MalformedXmlError("Every Object in a Delete request needs a Key")
        targets.append((key, child_text(item, "VersionId") or None))
    if not targets or len(targets) > objects_max:
        raise MalformedXmlError(f"A Delete request names 1 to {objects_max} objects")
    return targets, child_text(root, "Quiet").strip().lower() == "true"


def parse_complete(body: bytes, *, parts_max: int = 10_000) -> list[CompletedPart]:
    """A CompleteMultipartUpload document: 1 to `parts_max` parts, each with any checksum it names."""
    root = parse(body, "CompleteMultipartUpload")
    parts = []
    for item in root.findall("Part"):
        number = child_text(item, "PartNumber").strip()
        if not number.isdigit():
            raise MalformedXmlError("Every Part needs a PartNumber")
        checksum = next(
            (text for name in ALGORITHMS if (text := child_text(item, f"Checksum{name}").strip())), ""
        )
        parts.append(CompletedPart(int(number), child_text(item, "ETag"), checksum))
    if not parts or len(parts) > parts_max:
        raise MalformedXmlError(f"A CompleteMultipartUpload names 1 to {parts_max} parts")
    return parts
