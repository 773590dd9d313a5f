"""The object store's rules and types, free of I/O: names, versions, ranges, preconditions, listings.

Objects are immutable versions. A bucket's versioning state decides what a write or delete does to
the versions already there (`Versioning`); the storage layer applies that, this module only names
it. Keys are compared as UTF-8 bytes, which is S3's listing order.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import itertools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from enum import StrEnum
from urllib.parse import unquote

from scalebox.objectstore.errors import (
    EntityTooSmallError,
    InvalidArgumentError,
    InvalidBucketNameError,
    InvalidPartError,
    InvalidPartOrderError,
    InvalidRangeError,
    KeyTooLongError,
    MetadataTooLargeError,
    NoSuchKeyError,
    NotModifiedError,
    PreconditionFailedError,
)

KEY_BYTES_MAX = 1024
NULL_VERSION = "null"
LIST_KEYS_MAX = 1000
PART_NUMBER_MAX = 10_000
# Headers stored with an object and returned by GET/HEAD, as S3 does.
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-website-redirect-location",
)
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Versioning(StrEnum):
    """A bucket's versioning state; a bucket never returns to UNVERSIONED once enabled."""

    UNVERSIONED = ""
    ENABLED = "Enabled"
    SUSPENDED = "Suspended"


@dataclass(frozen=True, slots=True)
class Bucket:
    id: int
    name: str
    owner: str
    created_at: datetime
    region: str
    versioning: Versioning = Versioning.UNVERSIONED
    tags: Mapping[str, str] = field(default_factory=dict)
    cors_xml: str = ""
    lifecycle_xml: str = ""
    policy_json: str = ""


@dataclass(frozen=True, slots=True)
class Part:
    """One stored piece of an object's data: a shard set (data_id, number) holding `size` bytes."""

    number: int
    size: int
    data_id: str
    etag: str  # hex MD5 of the part, no quotes
    checksum: str = ""  # base64 digest of the part, in the upload's checksum algorithm


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One version of a key: its data's whereabouts and everything a HEAD returns."""

    bucket_id: int
    key: str
    version_id: str
    last_modified: datetime
    sequence: int = 0  # the store's order of versions; higher is newer
    is_latest: bool = True
    is_delete_marker: bool = False
    size: int = 0
    etag: str = ""  # with quotes, as S3 shows it
    headers: Mapping[str, str] = field(default_factory=dict)  # of STORED_HEADERS
    user_metadata: Mapping[str, str] = field(default_factory=dict)  # x-amz-meta-* names without the prefix
    checksum_algorithm: str = ""
    checksum: str = ""  # base64, or base64-N for a composite multipart checksum
    checksum_type: str = ""  # FULL_OBJECT | COMPOSITE
    tags: Mapping[str, str] = field(default_factory=dict)
    inline: bytes | None = None  # the data itself, for small objects
    parts: tuple[Part, ...] = ()  # the data's shard sets otherwise, in order
    owner: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", DEFAULT_CONTENT_TYPE)

    @property
    def is_multipart(self) -> bool:
        return "-" in self.etag


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    bucket_id: int
    key: str
    initiated: datetime
    owner: str
    headers: Mapping[str, str] = field(default_factory=dict)
    user_metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    checksum_algorithm: str = ""
    checksum_type: str = ""


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a bucket listing."""

    objects: tuple[ObjectVersion, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_marker: str = ""  # the last key or prefix returned, from which the next page starts


def validate_bucket_name(name: str) -> str:
    """S3's rules for new bucket names (3-63 of a-z 0-9 . -, no IP addresses, no '..')."""
    if not _BUCKET_NAME.match(name):
        raise InvalidBucketNameError(
            "Bucket names must be 3 to 63 characters of lowercase letters, digits, '.' and '-', "
            "beginning and ending with a letter or digit",
            BucketName=name,
        )
    if ".." in name or ".-" in name or "-." in name:
        raise InvalidBucketNameError("Bucket names must not contain '..', '.-' or '-.'", BucketName=name)
    if name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
        raise InvalidBucketNameError(
            "Bucket names must not use a prefix or suffix S3 reserves", BucketName=name
        )
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise InvalidBucketNameError("Bucket names must not be formatted as an IP address", BucketName=name)


def validate_key(key: str) -> str:
    """Keys are 1..1024 bytes of UTF-8; anything else, '/' and control characters included, is allowed."""
    if not key:
        raise InvalidArgumentError("An object key must not be empty", ArgumentName="key")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgumentError("An object key must be valid UTF-8", ArgumentName="key") from None
    if size > KEY_BYTES_MAX:
        raise KeyTooLongError(f"Your key is too long ({size} bytes; at most {KEY_BYTES_MAX})", Size=str(size))
    return key


def new_version_id() -> str:
    """An opaque version id: 32 URL-safe characters."""
    return secrets.token_urlsafe(24)


def new_upload_id() -> str:
    return secrets.token_urlsafe(48)


def new_data_id() -> str:
    """The name of a shard set; 32 hex characters, never reused."""
    return secrets.token_hex(16)


def quote_etag(md5_hex: str) -> str:
    return f'"{md5_hex}"'


def multipart_etag(part_md5_hexes: Sequence[str]) -> str:
    """S3's ETag for a multipart object: the MD5 of the parts' binary MD5s, a dash, the part count."""
    digest = hashlib.md5(b"".join(bytes.fromhex(part) for part in part_md5_hexes), usedforsecurity=False)
    return f'"{digest.hexdigest()}-{len(part_md5_hexes)}"'


def parse_user_metadata(headers: Iterable[tuple[str, str]], *, bytes_max: int) -> dict[str, str]:
    """The x-amz-meta-* headers (names lower-cased, prefix dropped); their total size is limited."""
    metadata: dict[str, str] = {}
    for name, value in headers:
        if name.startswith("x-amz-meta-"):
            short = name[len("x-amz-meta-") :]
            metadata[short] = f"{metadata[short]},{value}" if short in metadata else value
    size = sum(len(name.encode()) + len(value.encode()) for name, value in metadata.items())
    if size > bytes_max:
        raise MetadataTooLargeError(
            f"Your metadata headers exceed the maximum allowed metadata size ({size} > {bytes_max} bytes)",
            Size=str(size),
            MaxSizeAllowed=str(bytes_max),
        )
    return metadata


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in STORED_HEADERS if name in headers}


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A `Range: bytes=...` header as [start, end) within `size`; None means the whole object.

    Like S3, a header that is not a single well-formed byte range is ignored; a range that starts
    at or past the end raises InvalidRangeError (416).
    """
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise InvalidRangeError(
                "The requested range is not satisfiable", RangeRequested=value, ActualObjectSize=str(size)
            )
        return max(0, size - suffix), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        raise InvalidRangeError(
            "The requested range is not satisfiable", RangeRequested=value, ActualObjectSize=str(size)
        )
    return start, end


def parse_copy_range(value: str, size: int) -> tuple[int, int]:
    """`x-amz-copy-source-range: bytes=first-last` as [start, end) within a source of `size` bytes.

    Unlike Range, both ends are required and must lie inside the source: InvalidArgument otherwise.
    """
    unit, _, spec = value.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or not dash or not first.strip().isdigit() or not last.strip().isdigit():
        raise InvalidArgumentError(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and "
            "last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    start, end = int(first), int(last)
    if start > end or end >= size:
        raise InvalidArgumentError(
            f"Range specified is not valid for source object of size: {size}",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    return start, end + 1


def http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = [part.strip() for part in condition.split(",")]
    bare = etag.strip('"')
    return any(candidate in ("*", etag, bare) or candidate.removeprefix("W/") == etag for candidate in wanted)


def check_read_preconditions(
    version: ObjectVersion,
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
) -> None:
    """RFC 7232 preconditions as S3 applies them to GET and HEAD (412 PreconditionFailed, 304)."""
    modified = version.last_modified.replace(microsecond=0)
    if if_match is not None:
        if not _etag_matches(if_match, version.etag):
            raise PreconditionFailedError(Condition="If-Match")
    elif (
        if_unmodified_since is not None
        and (when := parse_http_date(if_unmodified_since)) is not None
        and modified > when
    ):
        raise PreconditionFailedError(Condition="If-Unmodified-Since")
    if if_none_match is not None:
        if _etag_matches(if_none_match, version.etag):
            raise NotModifiedError()
    elif (
        if_modified_since is not None
        and (when := parse_http_date(if_modified_since)) is not None
        and modified <= when
    ):
        raise NotModifiedError()


def check_write_preconditions(
    current: ObjectVersion | None, *, if_match: str | None, if_none_match: str | None
) -> None:
    """Conditional writes: If-None-Match: * refuses to overwrite; If-Match needs the current ETag."""
    exists = current is not None and not current.is_delete_marker
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise InvalidArgumentError(
                "If-None-Match on a write only accepts '*'", ArgumentName="If-None-Match"
            )
        if exists:
            raise PreconditionFailedError(Condition="If-None-Match")
    if if_match is not None:
        if not exists:
            raise NoSuchKeyError("The specified key does not exist.")
        assert current is not None
        if not _etag_matches(if_match, current.etag):
            raise PreconditionFailedError(Condition="If-Match")


@dataclass(frozen=True, slots=True)
class CompletedPart:
    number: int
    etag: str  # as the client sent it, quotes or not
    checksum: str = ""  # the part's checksum as the client sent it (base64), or "" if it sent none


def check_completion(
    requested: Sequence[CompletedPart], uploaded: Mapping[int, Part], *, part_bytes_min: int
) -> list[Part]:
    """The parts a CompleteMultipartUpload names, checked as S3 checks them, in order."""
    if not requested:
        raise InvalidArgumentError("You must specify at least one part", ArgumentName="Part")
    numbers = [part.number for part in requested]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        raise InvalidPartOrderError(
            "The list of parts was not in ascending order. Parts must be ordered by part number."
        )
    chosen: list[Part] = []
    for want in requested:
        have = uploaded.get(want.number)
        if (
            have is None
            or want.etag.strip().strip('"') != have.etag
            or (want.checksum and want.checksum != have.checksum)
        ):
            raise InvalidPartError(
                "One or more of the specified parts could not be found. The part may not have been "
                "uploaded, or the specified entity tag may not match the part's entity tag.",
                UploadId="",
                PartNumber=str(want.number),
                ETag=want.etag,
            )
        chosen.append(have)
    for part in chosen[:-1]:
        if part.size < part_bytes_min:
            raise EntityTooSmallError(
                "Your proposed upload is smaller than the minimum allowed object size.",
                ProposedSize=str(part.size),
                MinSizeAllowed=str(part_bytes_min),
                PartNumber=str(part.number),
                ETag=quote_etag(part.etag),
            )
    return chosen


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """`x-amz-copy-source: /bucket/key?versionId=v` (URL-encoded) as (bucket, key, version id)."""
    path, _, query = value.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    version_id = None
    for pair in query.split("&") if query else ():
        name, _, raw = pair.partition("=")
        if name == "versionId":
            version_id = unquote(raw)
        else:
            raise InvalidArgumentError("Unsupported copy source parameter", ArgumentName="x-amz-copy-source")
    if not bucket or not key:
        raise InvalidArgumentError(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key, version_id


def prefix_successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: there is none)."""
    stripped = prefix
    while stripped:
        last = ord(stripped[-1])
        if last < 0x10FFFF and not 0xD7FF <= last < 0xDFFF:
            return stripped[:-1] + chr(last + 1)
        stripped = stripped[:-1]
    return None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The CommonPrefixes entry `key` rolls up into, or None when it is listed itself."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raise InvalidArgumentError(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        ) from None
