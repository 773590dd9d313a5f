"""MemoryBlobStore: a dict-backed BlobStore for tests and fakes, with the same semantics as the others.

Nothing here survives the process, and nothing can be corrupted, so reads never raise IntegrityError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scalebox.core.blobs.port import BlobInfo, BlobNotFoundError, validate_key
from scalebox.core.errors import InvalidError


class MemoryBlobStore:
    """BlobStore in a dict. Each call completes without yielding, so every write is atomic."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        # Copy, so a caller mutating a bytearray afterwards cannot change the stored blob.
        self._blobs[validate_key(key)] = bytes(data)

    async def get(self, key: str) -> bytes:
        """The whole blob; raises BlobNotFoundError."""
        try:
            return self._blobs[validate_key(key)]
        except KeyError:
            raise BlobNotFoundError(f"no blob under key {key!r}") from None

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) clamped to the blob's size; raises BlobNotFoundError."""
        validate_key(key)
        if start < 0 or end < 0:
            raise InvalidError(f"byte range [{start}, {end}) has a negative offset", field="range")
        return (await self.get(key))[start:end]

    async def delete(self, key: str) -> bool:
        """True when something was deleted; deleting a missing key is not an error."""
        return self._blobs.pop(validate_key(key), None) is not None

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self._blobs

    async def list(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Every blob whose key starts with `prefix`, in key order, as of the first item."""
        # A snapshot: the caller may put or delete while iterating, as with a paginated S3 listing.
        snapshot = sorted((key, len(data)) for key, data in self._blobs.items() if key.startswith(prefix))
        for key, size_bytes in snapshot:
            yield BlobInfo(key=key, size_bytes=size_bytes)

    async def close(self) -> None:
        return None
