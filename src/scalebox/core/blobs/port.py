"""The BlobStore port: immutable named byte blobs, as S3 and a local disk both provide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from scalebox.core.errors import InvalidError, NotFoundError


class BlobNotFoundError(NotFoundError):
    """No blob is stored under that key."""

    code = "blob_not_found"


class InvalidBlobKeyError(InvalidError):
    """Keys are 1..1024 bytes of printable text, no leading '/', no '..' segments, no NUL."""

    code = "invalid_blob_key"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a listing tells about one blob."""

    key: str
    size_bytes: int


class BlobStore(Protocol):
    """Store bytes under a key. Writes are atomic: a reader sees the old blob, the new one, or none.

    Implementations: FilesystemBlobStore, S3BlobStore, MemoryBlobStore.
    Reads verify integrity and raise scalebox.core.errors.IntegrityError on corruption.
    """

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The whole blob; raises BlobNotFoundError."""
        ...

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) clamped to the blob's size; raises BlobNotFoundError."""
        ...

    async def delete(self, key: str) -> bool:
        """True when something was deleted; deleting a missing key is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Every blob whose key starts with `prefix`, in key order."""
        ...

    async def close(self) -> None: ...


def validate_key(key: str) -> str:
    """Raise InvalidBlobKeyError unless `key` is safe on every adapter (a path on disk, an S3 key)."""
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBlobKeyError(f"blob key is not valid Unicode: {key[:40]!r}") from None
    if not key or len(encoded) > 1024:
        raise InvalidBlobKeyError(f"blob key must be 1..1024 bytes: {key[:40]!r}")
    if key.startswith("/") or "\x00" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidBlobKeyError(f"blob key has an empty, '.' or '..' segment: {key[:80]!r}")
    if any(ord(char) < 0x20 for char in key):
        raise InvalidBlobKeyError(f"blob key has a control character: {key[:80]!r}")
    return key
