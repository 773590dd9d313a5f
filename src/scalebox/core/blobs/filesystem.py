"""FilesystemBlobStore: blobs as checksummed files under a root directory, written atomically.

Key "a/b/c" lives at `root/a.d/b.d/c.blob`. The suffixes keep blob files and key directories in
separate namespaces, so "a" and "a/b" can both exist, as they can in S3; anything else on disk
(temp files of crashed writes, foreign files) is invisible to reads and listings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from itertools import islice
from pathlib import Path

from scalebox.core.blobs.blockfile import (
    BLOCK_BYTES_MAX,
    HEADER_BYTES,
    decode_blob,
    decode_blob_range,
    decode_size,
    encode_prefix,
)
from scalebox.core.blobs.port import BlobInfo, BlobNotFoundError, InvalidBlobKeyError, validate_key
from scalebox.core.errors import InvalidError
from scalebox.core.files import fsync_directory

BLOB_SUFFIX = ".blob"
DIR_SUFFIX = ".d"
TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".tmp"
# NAME_MAX is 255 bytes on ext4, xfs, btrfs, tmpfs and APFS; one limit for every segment, suffix included.
SEGMENT_BYTES_MAX = 255 - len(BLOB_SUFFIX)
_LIST_BATCH = 256  # listing entries read per worker-thread hop
_MKDIR_ATTEMPTS = 8  # a concurrent delete may remove a directory we just created


class FilesystemBlobStore:
    """BlobStore on a local directory: temp file, fsync, rename, fsync the directory; CRC32 per block."""

    def __init__(self, root: Path, *, block_bytes: int = 64 * 1024) -> None:
        if not 0 < block_bytes <= BLOCK_BYTES_MAX:
            raise ValueError(f"block_bytes must be 1..{BLOCK_BYTES_MAX}, not {block_bytes}")
        self._root = Path(os.path.abspath(root))
        self._block_bytes = block_bytes

    @property
    def root(self) -> Path:
        return self._root

    async def put(self, key: str, data: bytes) -> None:
        path = self._path_for(key)
        await asyncio.to_thread(self._write, path, bytes(data))

    async def get(self, key: str) -> bytes:
        path = self._path_for(key)
        try:
            return await asyncio.to_thread(_read_blob, path, key)
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob under key {key!r}") from None

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        path = self._path_for(key)
        if start < 0 or end < 0:
            raise InvalidError(f"byte range [{start}, {end}) has a negative offset", field="range")
        try:
            return await asyncio.to_thread(_read_blob_range, path, key, start, end)
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob under key {key!r}") from None

    async def delete(self, key: str) -> bool:
        path = self._path_for(key)
        return await asyncio.to_thread(self._unlink, path)

    async def exists(self, key: str) -> bool:
        path = self._path_for(key)
        return await asyncio.to_thread(path.is_file)

    async def list(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        entries = _walk(self._root, "", prefix)
        while batch := await asyncio.to_thread(_read_infos, entries):
            for info in batch:
                yield info

    async def close(self) -> None:
        return None

    def _path_for(self, key: str) -> Path:
        *dirs, name = segments = validate_key(key).split("/")
        if any(len(segment.encode()) > SEGMENT_BYTES_MAX for segment in segments):
            raise InvalidBlobKeyError(f"blob key has a segment over {SEGMENT_BYTES_MAX} bytes: {key[:80]!r}")
        path = self._root.joinpath(*(part + DIR_SUFFIX for part in dirs), name + BLOB_SUFFIX)
        assert os.path.commonpath([self._root, path]) == str(self._root), key  # validate_key's promise
        return path

    def _write(self, path: Path, data: bytes) -> None:
        prefix = encode_prefix(data, self._block_bytes)
        fd, temp_name, created = _create_temp(path.parent, self._root)
        renamed = False
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(prefix)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp_name, path)
            renamed = True
        finally:
            if not renamed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_name)
        # The rename, and every directory entry created on the way, must survive a crash.
        for directory in {path.parent, *(created_dir.parent for created_dir in created)}:
            fsync_directory(directory)

    def _unlink(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_directory(path.parent)
        # Drop key directories left empty; rmdir refuses non-empty ones, so this never loses data.
        directory = path.parent
        while directory != self._root:
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent
        return True


def _read_blob(path: Path, key: str) -> bytes:
    return decode_blob(path.read_bytes(), key)


def _read_blob_range(path: Path, key: str, start: int, end: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return decode_blob_range(
            lambda offset, length: os.pread(fd, length, offset), os.fstat(fd).st_size, key, start, end
        )
    finally:
        os.close(fd)


def _walk(directory: Path, key_prefix: str, wanted: str) -> Iterator[tuple[str, Path]]:
    """(key, path) of blob files under `directory` whose key starts with `wanted`, in key order.

    `key_prefix` is the key text `directory` stands for. Sorting a directory's entries by their key
    text, with "/" after a directory's name, yields global key order without reading the whole tree.
    """
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    entries: list[tuple[str, str]] = []
    for name in names:
        if name.endswith(BLOB_SUFFIX):
            entries.append((name.removesuffix(BLOB_SUFFIX), name))
        elif name.endswith(DIR_SUFFIX):
            entries.append((name.removesuffix(DIR_SUFFIX) + "/", name))
    for part, name in sorted(entries):
        if part.rstrip("/") in ("", ".", ".."):
            continue  # not a name this store writes
        key = key_prefix + part
        if part.endswith("/"):
            if key.startswith(wanted) or wanted.startswith(key):
                yield from _walk(directory / name, key, wanted)
        elif key.startswith(wanted):
            yield key, directory / name


def _read_infos(entries: Iterator[tuple[str, Path]]) -> list[BlobInfo]:
    infos: list[BlobInfo] = []
    for key, path in islice(entries, _LIST_BATCH):
        try:
            with path.open("rb") as file:
                header = file.read(HEADER_BYTES)
                file_bytes = os.fstat(file.fileno()).st_size
        except FileNotFoundError:
            continue  # deleted since the directory was read
        infos.append(BlobInfo(key=key, size_bytes=decode_size(header, file_bytes, key)))
    return infos


def _create_temp(directory: Path, root: Path) -> tuple[int, str, list[Path]]:
    """A new temp file in `directory` (made if missing), and the directories that had to be made."""
    created: list[Path] = []
    for _ in range(_MKDIR_ATTEMPTS):
        created += _make_directories(directory, root)
        try:
            fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
        except FileNotFoundError:
            continue  # a delete removed the (empty) directory in between; make it again
        return fd, temp_name, created
    raise FileNotFoundError(f"directory {directory} keeps disappearing")


def _make_directories(directory: Path, root: Path) -> list[Path]:
    """Create `directory` and its missing ancestors up to `root`; return the ones that were missing."""
    missing: list[Path] = []
    while not directory.is_dir():
        missing.append(directory)
        if directory == root:
            break
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(parents=path == root, exist_ok=True)
    return missing
