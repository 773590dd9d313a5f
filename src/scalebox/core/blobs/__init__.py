"""Blob storage: the BlobStore port, its adapters (filesystem, S3, memory) and open_blob_store(url)."""

from scalebox.core.blobs.filesystem import FilesystemBlobStore
from scalebox.core.blobs.memory import MemoryBlobStore
from scalebox.core.blobs.port import (
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobKeyError,
    validate_key,
)
from scalebox.core.blobs.url import (
    BlobStoreLocation,
    FilesystemLocation,
    InvalidBlobStoreUrlError,
    MemoryLocation,
    S3Location,
    open_blob_store,
    parse_blob_store_url,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scalebox.core.blobs.s3 import S3BlobStore


def __getattr__(name: str) -> object:
    # S3BlobStore loads boto3 (about a second); only deployments that use S3 should pay for it.
    if name == "S3BlobStore":
        from scalebox.core.blobs.s3 import S3BlobStore  # noqa: PLC0415

        return S3BlobStore
    raise AttributeError(name)


__all__ = [
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "BlobStoreLocation",
    "FilesystemBlobStore",
    "FilesystemLocation",
    "InvalidBlobKeyError",
    "InvalidBlobStoreUrlError",
    "MemoryBlobStore",
    "MemoryLocation",
    "S3BlobStore",
    "S3Location",
    "open_blob_store",
    "parse_blob_store_url",
    "validate_key",
]
