"""Object data Reed-Solomon coded over one erasure set of drive directories: write, read, verify, heal.

A (data id, part) is cut into stripes of `block_bytes`, each into `data_shards` chunks plus `parity_shards`
zfec parity chunks; shard i of every stripe lives in `<drive>/<id[:2]>/<id>.<part>` on drive
`(i + rotation) % n`, the rotation taken from the data id so parity lands on every drive. The file
formats are in shardfile.py.

Failure model. A drive whose directory is missing is offline until `format_drives` or `heal` creates it; an
empty one is formatted by the first write, `heal` or `format_drives`; one formatted for another set or
position, or not empty and unformatted, is refused at open. A shard is bad in a stripe
when its file is missing, its header fails, or the block fails its CRC or is cut short. A write lands while
at least `data_shards` shards are written, else it removes its files and raises WriteQuorumError; a stripe
reads while at most `parity_shards` of its chunks are bad, else ShardSetUnreadableError (both are
IntegrityErrors). Shard files are fsynced and renamed into place, never modified; heal rebuilds a bad
shard into a temp file and renames it over; the temp files a crash leaves go in `remove_temp_files`.
Methods block on file I/O and are thread-safe across data ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal

import zfec

from scalebox.core.errors import IntegrityError
from scalebox.core.files import fsync_directory
from scalebox.objectstore.storage.shardfile import (
    CRC_BYTES,
    DRIVE_FORMAT_NAME,
    DriveFormat,
    ErasureLayout,
    ShardFormatError,
    ShardHeader,
    check_block,
    decode_drive_format,
    decode_header,
    decode_header_bytes,
    encode_block_crc,
    encode_drive_format,
    encode_header,
)

__all__ = [
    "DriveSetError",
    "DriveStatus",
    "ErasureLayout",
    "ErasureSet",
    "ShardReport",
    "ShardSetReport",
    "ShardSetUnreadableError",
    "ShardWriter",
    "WriteQuorumError",
    "WriteResult",
]

DriveState = Literal["ok", "missing", "unformatted", "foreign"]
ShardState = Literal["ok", "missing", "corrupt"]
DegradedCallback = Callable[[str, int, list[int]], None]

DEFAULT_LAYOUT = ErasureLayout()
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_DATA_ID = re.compile(r"[0-9a-f]{32}")
_PREFIX = re.compile(r"[0-9a-f]{2}")
_SHARD_NAME = re.compile(r"([0-9a-f]{32})\.([1-9][0-9]*)")
_WRITE_SUFFIX = ".tmp"
_HEAL_SUFFIX = ".heal"
_HEAD_READ_BYTES = 4096
_OPEN_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_OPEN_READ = os.O_RDONLY | os.O_CLOEXEC


class DriveSetError(ValueError):
    """The drives are not this set's as configured (count, order, layout, or a stranger's directory): an
    operator's configuration problem that no request can fix."""


class ShardSetUnreadableError(IntegrityError):
    """A stripe has more bad shards than parity can rebuild."""

    def __init__(self, data_id: str, part: int, stripe: int, bad: Sequence[int]) -> None:
        self.data_id, self.part, self.stripe, self.bad = data_id, part, stripe, tuple(sorted(bad))
        super().__init__(f"data {data_id} part {part} stripe {stripe}: shards {list(self.bad)} are bad")


class WriteQuorumError(IntegrityError):
    """Fewer than `data_shards` shards could be written; the write's files have been removed."""

    def __init__(self, data_id: str, part: int, failed: Sequence[int]) -> None:
        self.data_id, self.part, self.failed = data_id, part, tuple(sorted(failed))
        super().__init__(f"data {data_id} part {part}: shards {list(self.failed)} failed, below write quorum")


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A durable write: its size, and the shard indexes that were not written (heal them)."""

    data_id: str
    part: int
    size: int
    degraded: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ShardReport:
    """One shard file. `bad_stripes` lists blocks that fail their CRC or lie past a torn end, every stripe
    when the file is missing or its header is bad, and nothing when only the file's length is wrong."""

    index: int
    path: Path
    state: ShardState
    bad_stripes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ShardSetReport:
    """What verify found (size None: no shard has a usable header); heal adds the indexes it rebuilt."""

    data_id: str
    part: int
    size: int | None
    shards: tuple[ShardReport, ...]
    healed: tuple[int, ...] = ()

    @property
    def damaged(self) -> tuple[int, ...]:
        return tuple(shard.index for shard in self.shards if shard.state != "ok")

    @property
    def ok(self) -> bool:
        return not self.damaged


@dataclass(frozen=True, slots=True)
class DriveStatus:
    """One drive: "missing" (no directory), "unformatted" (empty), "foreign" (not this set's) or "ok"."""

    path: Path
    index: int
    state: DriveState
    total_bytes: int | None
    free_bytes: int | None


class ErasureSet:
    """`data_shards + parity_shards` drive directories holding one shard each of every object's stripes.

    `on_degraded(data_id, part, bad_indexes)` is called once by every read that met a bad shard.
    """

    def __init__(
        self,
        drives: Sequence[Path],
        layout: ErasureLayout = DEFAULT_LAYOUT,
        *,
        fsync: bool = True,
        on_degraded: DegradedCallback | None = None,
    ) -> None:
        if len(drives) != layout.total_shards:
            raise DriveSetError(f"{layout} needs {layout.total_shards} drives, got {len(drives)}")
        self.drives = tuple(Path(drive) for drive in drives)
        self.layout = layout
        self.fsync = fsync
        self._on_degraded = on_degraded
        self._format_lock = threading.Lock()
        self.set_id = self._find_set_id()
        self._pool = ThreadPoolExecutor(max_workers=len(self.drives), thread_name_prefix="erasure")

    def close(self) -> None:
        self._pool.shutdown()

    def __enter__(self) -> ErasureSet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def writer(self, data_id: str, part: int = 1, labels: Mapping[str, str] = _NO_LABELS) -> ShardWriter:
        """Start writing (data_id, part); raises WriteQuorumError when too few drives are online."""
        _check_ids(data_id, part)
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in labels.items()):
            raise ValueError(f"labels must map strings to strings, not {labels!r}")
        return ShardWriter(self, data_id, part, labels)

    def read(
        self, data_id: str, part: int, size: int, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Stream bytes [start, end) of an object of `size` bytes, holding about one stripe per shard."""
        _check_ids(data_id, part)
        end = size if end is None else min(end, size)
        if size < 0 or start < 0:
            raise ValueError(f"bad range {start}-{end} of {size} bytes")
        return self._stream(data_id, part, size, start, end)

    def _stream(self, data_id: str, part: int, size: int, start: int, end: int) -> Iterator[bytes]:
        layout = self.layout
        reader = _StripeReader(self._shard_paths(data_id, part), layout, data_id, part, size)
        try:
            for stripe in range(start // layout.block_bytes, -(-end // layout.block_bytes)):
                base = stripe * layout.block_bytes
                low, high = max(start - base, 0), min(end - base, layout.stripe_bytes(size, stripe))
                chunk_bytes = layout.stripe_chunk_bytes(size, stripe)
                first, stop = low // chunk_bytes, -(-high // chunk_bytes)
                data = b"".join(reader.primaries(stripe, first, stop))
                low, high = low - first * chunk_bytes, high - first * chunk_bytes
                yield data if low == 0 and high == len(data) else data[low:high]
        finally:
            reader.close()
            if reader.bad and self._on_degraded is not None:
                self._on_degraded(data_id, part, sorted(reader.bad))

    def verify(self, data_id: str, part: int) -> ShardSetReport:
        """Check every shard's header and every block."""
        _check_ids(data_id, part)
        return self._inspect(data_id, part)[0]

    def heal(self, data_id: str, part: int) -> ShardSetReport:
        """Rebuild every missing or corrupt shard from the good ones, stripe by stripe, and say which.

        A shard whose drive is foreign is left alone (it stays in `damaged`, not in `healed`); raises
        ShardSetUnreadableError, before writing anything, when a stripe has too few good shards.
        """
        _check_ids(data_id, part)
        report, header = self._inspect(data_id, part)
        if report.ok:
            return report
        if report.size is None or header is None:
            raise ShardSetUnreadableError(data_id, part, 0, report.damaged)
        bad_counts = Counter(stripe for shard in report.shards for stripe in shard.bad_stripes)
        for stripe, count in sorted(bad_counts.items()):
            if count > self.layout.parity_shards:
                bad = [shard.index for shard in report.shards if stripe in shard.bad_stripes]
                raise ShardSetUnreadableError(data_id, part, stripe, bad)
        paths = self._shard_paths(data_id, part)
        targets = [
            index for index in report.damaged if self._prepare_drive(self._drive_of(data_id, index), True)
        ]
        reader = _StripeReader(paths, self.layout, data_id, part, report.size)
        files = [_ShardFile(index, paths[index], _HEAL_SUFFIX) for index in targets]
        try:
            for file in files:
                file.create(encode_header(replace(header, index=file.index)))
            self._rebuild(reader, files, report.size)
            for file in files:
                file.publish(self.fsync)
        finally:
            reader.close()
            for file in files:
                file.discard(published_too=False)
        return replace(report, healed=tuple(targets))

    def _rebuild(self, reader: _StripeReader, files: list[_ShardFile], size: int) -> None:
        k = self.layout.data_shards
        encoder = zfec.Encoder(k, self.layout.total_shards)
        parity_ids = tuple(file.index for file in files if file.index >= k)
        for stripe in range(self.layout.stripe_count(size)):
            primaries = reader.primaries(stripe, 0, k)
            parity = encoder.encode(tuple(primaries), parity_ids) if parity_ids else []
            chunks = dict(enumerate(primaries)) | dict(zip(parity_ids, parity, strict=True))
            for file in files:
                file.append_block(chunks[file.index])

    def delete(self, data_id: str, part: int | None = None) -> None:
        """Remove the shard files (and leftover temp files) of one part, or of every part when None."""
        _check_ids(data_id, 1 if part is None else part)
        stem = f"{data_id}." if part is None else f"{data_id}.{part}"
        errors: list[OSError] = []
        for drive in self.drives:
            folder = drive / data_id[:2]
            try:
                if part is None:
                    names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(stem)]
                else:
                    names = [stem, stem + _WRITE_SUFFIX, stem + _HEAL_SUFFIX]
                for name in names:
                    _unlink(folder / name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def remove_temp_files(self) -> int:
        """Remove the temp files of writes and heals that never finished (the process was killed mid-way),
        on every drive; returns how many. Only while nothing writes or heals this set (at server start):
        a live writer's temp file is indistinguishable from a dead one's."""
        removed = 0
        for drive in self.drives:
            for prefix in _list_names(drive):
                if not _PREFIX.fullmatch(prefix):
                    continue
                for name in _list_names(drive / prefix):
                    stem, dot, suffix = name.rpartition(".")
                    if dot + suffix in (_WRITE_SUFFIX, _HEAL_SUFFIX) and _SHARD_NAME.fullmatch(stem):
                        _unlink(drive / prefix / name)
                        removed += 1
        return removed

    def list_shard_sets(self) -> Iterator[tuple[str, int]]:
        """Every (data_id, part) with a shard file on an "ok" drive, once each, in order; for scrub and GC."""
        online = [
            path
            for status, path in zip(self.drive_status(), self.drives, strict=True)
            if status.state == "ok"
        ]
        prefixes = sorted(
            {name for drive in online for name in _list_names(drive) if _PREFIX.fullmatch(name)}
        )
        for prefix in prefixes:
            found: set[tuple[str, int]] = set()
            for drive in online:
                for name in _list_names(drive / prefix):
                    match = _SHARD_NAME.fullmatch(name)
                    if match and name.startswith(prefix):
                        found.add((match[1], int(match[2])))
            yield from sorted(found)

    def drive_status(self) -> list[DriveStatus]:
        """Each drive's state and space, read fresh from disk."""
        statuses = []
        for index, path in enumerate(self.drives):
            state, found = _probe_drive(path)
            if found is not None and _format_problem(found, self._expected_format(index)):
                state = "foreign"
            total = free = None
            if state != "missing":
                stats = os.statvfs(path)
                total, free = stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize
            statuses.append(DriveStatus(path, index, state, total, free))
        return statuses

    def format_drives(self) -> None:
        """Create and format every missing or empty drive; raises DriveSetError for a foreign one."""
        for index, path in enumerate(self.drives):
            if not self._prepare_drive(index, True):
                raise DriveSetError(f"drive {path} is not empty and not drive {index} of set {self.set_id}")

    def _prepare_drive(self, index: int, create: bool) -> bool:
        """Whether drive `index` is formatted for this set, formatting it if it is empty (or missing and
        `create`). Without `create`, any format file will do: writers check cheaply."""
        path = self.drives[index]
        if not create and (path / DRIVE_FORMAT_NAME).is_file():
            return True
        with self._format_lock:
            state, found = _probe_drive(path)
            if found is not None:
                return _format_problem(found, self._expected_format(index)) is None
            if state == "foreign" or (state == "missing" and not create):
                return False
            path.mkdir(parents=True, exist_ok=True)
            temp = path / (DRIVE_FORMAT_NAME + _WRITE_SUFFIX)
            _write_durably(temp, encode_drive_format(self._expected_format(index)), self.fsync)
            os.replace(temp, path / DRIVE_FORMAT_NAME)
            if self.fsync:
                fsync_directory(path)
            return True

    def _find_set_id(self) -> str:
        probes = [_probe_drive(path) for path in self.drives]
        formats = [found for _, found in probes if found is not None]
        if formats:
            set_id = Counter(found.set_id for found in formats).most_common(1)[0][0]
        else:
            joined = "\0".join(str(path.resolve()) for path in self.drives)
            set_id = hashlib.sha256(joined.encode()).hexdigest()[:32]
        for index, (path, (state, found)) in enumerate(zip(self.drives, probes, strict=True)):
            expected = DriveFormat(set_id, index, len(self.drives), self.layout)
            problem = _format_problem(found, expected) if found else None
            if state == "foreign" and found is None:
                problem = f"is not empty and has no valid {DRIVE_FORMAT_NAME}: not a scalebox drive"
            if problem:
                raise DriveSetError(f"drive {path} {problem}")
        return set_id

    def _expected_format(self, index: int) -> DriveFormat:
        return DriveFormat(self.set_id, index, len(self.drives), self.layout)

    def _drive_of(self, data_id: str, index: int) -> int:
        return (index + int(data_id[:8], 16)) % len(self.drives)

    def _shard_paths(self, data_id: str, part: int) -> list[Path]:
        name = f"{data_id[:2]}/{data_id}.{part}"
        return [self.drives[self._drive_of(data_id, index)] / name for index in range(len(self.drives))]

    def _inspect(self, data_id: str, part: int) -> tuple[ShardSetReport, ShardHeader | None]:
        """The verify report, and a header that agrees with the consensus size (for heal's labels)."""
        paths = self._shard_paths(data_id, part)
        found: dict[int, tuple[int, ShardHeader, int]] = {}
        states: dict[int, ShardState] = {}
        shards: dict[int, ShardReport] = {}
        try:
            for index, path in enumerate(paths):
                try:
                    found[index] = _open_shard(path, ShardHeader(data_id, part, index, self.layout, 0))
                except FileNotFoundError:
                    states[index] = "missing"
                except (OSError, ShardFormatError):
                    states[index] = "corrupt"
            sizes = Counter(header.size for _, header, _ in found.values()).most_common(1)
            size = sizes[0][0] if sizes else None
            every_stripe = tuple(range(self.layout.stripe_count(size or 0)))
            shards = {
                index: ShardReport(index, paths[index], state, every_stripe)
                for index, state in states.items()
            }
            for index, (fd, header, header_bytes) in found.items():
                bad, exact = every_stripe, False
                if header.size == size:
                    bad, exact = _scan_blocks(fd, self.layout, header_bytes, header.size)
                shards[index] = ShardReport(
                    index, paths[index], "ok" if exact and not bad else "corrupt", bad
                )
            usable = next((header for _, header, _ in found.values() if header.size == size), None)
        finally:
            for fd, _, _ in found.values():
                os.close(fd)
        report = ShardSetReport(data_id, part, size, tuple(shards[index] for index in range(len(paths))))
        return report, usable


class ShardWriter:
    """Streams one (data id, part) into its shard files. Not thread-safe: one per upload.

    The caller's thread cuts and encodes stripe s while a pool thread writes stripe s - 1, so the writer
    holds two stripes. Call `close()` to publish, or `abort()` to remove everything written (even after
    a close); leaving a `with` block without closing aborts.
    """

    def __init__(self, erasure: ErasureSet, data_id: str, part: int, labels: Mapping[str, str]) -> None:
        layout = erasure.layout
        self.data_id, self.part = data_id, part
        self._erasure = erasure
        self._layout = layout
        self._header = ShardHeader(data_id, part, 0, layout, 0, dict(labels))
        self._encoder = zfec.Encoder(layout.data_shards, layout.total_shards)
        self._buffers = (memoryview(bytearray(layout.block_bytes)), memoryview(bytearray(layout.block_bytes)))
        self._filled = 0
        self._size = 0
        self._stripes = 0
        self._pending: Future[list[_ShardFile]] | None = None
        self._state: Literal["open", "closed", "aborted"] = "open"
        self._failed: set[int] = set()
        self._files: dict[int, _ShardFile] = {}
        placeholder = b"\0" * len(encode_header(self._header))
        for index, path in enumerate(erasure._shard_paths(data_id, part)):
            file = _ShardFile(index, path, _WRITE_SUFFIX)
            try:
                if not erasure._prepare_drive(erasure._drive_of(data_id, index), False):
                    raise FileNotFoundError(path.parent.parent)
                file.create(placeholder)
                self._files[index] = file
            except OSError:
                self._fail(file)
        self._check_quorum()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._state == "open":
            self.abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Take any number of bytes; raises WriteQuorumError when too few shards are still writable."""
        if self._state != "open":
            raise ValueError(f"writer is {self._state}")
        view = memoryview(data).cast("B")
        block_bytes = self._layout.block_bytes
        while view:
            buffer, taken = self._buffers[self._stripes % 2], min(block_bytes - self._filled, len(view))
            buffer[self._filled : self._filled + taken] = view[:taken]
            self._filled += taken
            self._size += taken
            view = view[taken:]
            if self._filled == block_bytes:
                self._submit_stripe(buffer)

    def close(self) -> WriteResult:
        """Write the last stripe and the headers, fsync, and rename every shard file into place."""
        if self._state != "open":
            raise ValueError(f"writer is {self._state}")
        if self._filled:
            self._submit_stripe(self._buffers[self._stripes % 2][: self._filled])
        self._wait()
        files = list(self._files.values())
        for file, published in zip(files, self._erasure._pool.map(self._publish, files), strict=True):
            if not published:
                self._fail(file)
        self._check_quorum()
        self._state = "closed"
        return WriteResult(self.data_id, self.part, self._size, tuple(sorted(self._failed)))

    def abort(self) -> None:
        """Remove every file this writer made, published or not."""
        self._state = "aborted"
        pending, self._pending = self._pending, None
        if pending is not None:
            wait([pending])
        for file in self._files.values():
            file.discard(published_too=True)
        self._files.clear()

    def _submit_stripe(self, stripe: memoryview) -> None:
        k = self._layout.data_shards
        chunk_bytes = -(-len(stripe) // k)
        if chunk_bytes * k != len(stripe):
            padded = memoryview(bytearray(chunk_bytes * k))
            padded[: len(stripe)] = stripe
            stripe = padded
        chunks = [stripe[i * chunk_bytes : (i + 1) * chunk_bytes] for i in range(k)]
        parity_ids = tuple(index for index in self._files if index >= k)
        if parity_ids:
            chunks += self._encoder.encode(tuple(chunks), parity_ids)
        self._wait()
        blocks = [
            (self._files[index], chunk)
            for index, chunk in zip((*range(k), *parity_ids), chunks, strict=True)
            if index in self._files
        ]
        self._stripes += 1
        self._pending = self._erasure._pool.submit(_append_blocks, blocks)
        self._filled = 0

    def _wait(self) -> None:
        """Wait for the stripe in flight, and drop the shards it failed on."""
        pending, self._pending = self._pending, None
        failed = [] if pending is None else pending.result()
        if failed:
            for file in failed:
                self._fail(file)
            self._check_quorum()

    def _publish(self, file: _ShardFile) -> bool:
        header = encode_header(replace(self._header, index=file.index, size=self._size))
        try:
            file.publish(self._erasure.fsync, header)
        except OSError:
            return False
        return True

    def _fail(self, file: _ShardFile) -> None:
        self._failed.add(file.index)
        self._files.pop(file.index, None)
        file.discard(published_too=True)

    def _check_quorum(self) -> None:
        if len(self._files) < self._layout.data_shards:
            self.abort()
            raise WriteQuorumError(self.data_id, self.part, sorted(self._failed))


def _append_blocks(blocks: Sequence[tuple[_ShardFile, bytes | memoryview]]) -> list[_ShardFile]:
    """Append one stripe's blocks; returns the files that failed."""
    failed = []
    for file, chunk in blocks:
        try:
            file.append_block(chunk)
        except OSError:
            failed.append(file)
    return failed


class _ShardFile:
    """One shard file being written under a temp name, then published by rename."""

    def __init__(self, index: int, path: Path, suffix: str) -> None:
        self.index, self.path = index, path
        self.temp = path.with_name(path.name + suffix)
        self.fd: int | None = None
        self.made_dir = False
        self.published = False

    def create(self, header: bytes) -> None:
        try:
            self.path.parent.mkdir()
            self.made_dir = True
        except FileExistsError:
            pass
        self.fd = os.open(self.temp, _OPEN_WRITE, 0o644)
        _write_all(self.fd, [header])

    def append_block(self, chunk: bytes | memoryview) -> None:
        assert self.fd is not None
        _write_all(self.fd, [encode_block_crc(chunk), chunk])

    def publish(self, fsync: bool, header: bytes = b"") -> None:
        """Write `header` over the placeholder (if given), fsync, and rename into place."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        try:
            if header and os.pwrite(fd, header, 0) != len(header):
                raise OSError(f"short header write to {self.temp}")
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.temp, self.path)
        self.published = True
        if fsync:
            fsync_directory(self.path.parent)
            if self.made_dir:
                fsync_directory(self.path.parent.parent)

    def discard(self, *, published_too: bool) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.published:
            _unlink(self.temp)
        elif published_too:
            _unlink(self.path)
            self.published = False


class _StripeReader:
    """Reads the chunks of one shard set stripe by stripe, checking CRCs and decoding around bad shards.

    Files open on first use and stay open; each shard has one reusable buffer of a chunk.
    """

    def __init__(
        self, paths: Sequence[Path], layout: ErasureLayout, data_id: str, part: int, size: int
    ) -> None:
        self._paths, self._layout, self._size = paths, layout, size
        self._data_id, self._part = data_id, part
        self._files: dict[int, tuple[int, int, memoryview]] = {}
        self._dead: set[int] = set()
        self.bad: set[int] = set()
        self._decoder: Any = None

    def primaries(self, stripe: int, first: int, stop: int) -> list[bytes | memoryview]:
        """Data chunks `first` to `stop` of `stripe`, decoded from any good `data_shards` when needed."""
        k, n = self._layout.data_shards, self._layout.total_shards
        wanted = range(first, stop)
        chunks = {index: chunk for index in wanted if (chunk := self._chunk(index, stripe)) is not None}
        if len(chunks) == len(wanted):
            return [chunks[index] for index in wanted]
        for index in (*range(first), *range(stop, n)):
            if len(chunks) == k:
                break
            if (chunk := self._chunk(index, stripe)) is not None:
                chunks[index] = chunk
        if len(chunks) < k:
            raise ShardSetUnreadableError(
                self._data_id, self._part, stripe, sorted(set(range(n)) - chunks.keys())
            )
        if self._decoder is None:
            self._decoder = zfec.Decoder(k, n)
        ids = tuple(sorted(chunks))[:k]
        decoded: list[bytes | memoryview] = self._decoder.decode(tuple(chunks[i] for i in ids), ids)
        return decoded[first:stop]

    def close(self) -> None:
        for fd, _, _ in self._files.values():
            os.close(fd)
        self._files.clear()

    def _chunk(self, index: int, stripe: int) -> memoryview | None:
        opened = self._open(index)
        if opened is None:
            return None
        fd, header_bytes, buffer = opened
        block = buffer[: CRC_BYTES + self._layout.stripe_chunk_bytes(self._size, stripe)]
        try:
            complete = os.preadv(fd, [block], self._layout.block_offset(header_bytes, stripe)) == len(block)
        except OSError:
            complete = False
        if not complete:
            self._kill(index)
            return None
        if not check_block(block):
            self.bad.add(index)
            return None
        return block[CRC_BYTES:]

    def _open(self, index: int) -> tuple[int, int, memoryview] | None:
        if index in self._files:
            return self._files[index]
        if index in self._dead:
            return None
        expected = ShardHeader(self._data_id, self._part, index, self._layout, self._size)
        try:
            fd, header, header_bytes = _open_shard(self._paths[index], expected)
        except (OSError, ShardFormatError):
            self._kill(index)
            return None
        if header.size != self._size:
            os.close(fd)
            self._kill(index)
            return None
        self._files[index] = (fd, header_bytes, memoryview(bytearray(CRC_BYTES + self._layout.chunk_bytes)))
        return self._files[index]

    def _kill(self, index: int) -> None:
        self._dead.add(index)
        self.bad.add(index)
        if index in self._files:
            os.close(self._files.pop(index)[0])


def _open_shard(path: Path, expected: ShardHeader) -> tuple[int, ShardHeader, int]:
    """An open fd, the header and its length; raises ShardFormatError when the header is bad or not
    `expected`'s (ignoring size and labels)."""
    fd = os.open(path, _OPEN_READ)
    try:
        head = os.pread(fd, _HEAD_READ_BYTES, 0)
        header_bytes = decode_header_bytes(head)
        if header_bytes > len(head):
            head = os.pread(fd, header_bytes, 0)
        header = decode_header(head)
        if replace(header, size=0, labels={}) != replace(expected, size=0, labels={}):
            raise ShardFormatError(f"{path} holds {header}, expected {expected}")
    except BaseException:
        os.close(fd)
        raise
    return fd, header, header_bytes


def _scan_blocks(
    fd: int, layout: ErasureLayout, header_bytes: int, size: int
) -> tuple[tuple[int, ...], bool]:
    """The stripes whose blocks are bad or missing, and whether the file has exactly the right length."""
    stripes = layout.stripe_count(size)
    buffer = memoryview(bytearray(CRC_BYTES + layout.chunk_bytes))
    bad: list[int] = []
    for stripe in range(stripes):
        block = buffer[: CRC_BYTES + layout.stripe_chunk_bytes(size, stripe)]
        try:
            complete = os.preadv(fd, [block], layout.block_offset(header_bytes, stripe)) == len(block)
        except OSError:
            complete = False
        if not complete:
            bad.extend(range(stripe, stripes))
            break
        if not check_block(block):
            bad.append(stripe)
    return tuple(bad), os.fstat(fd).st_size == layout.shard_file_bytes(header_bytes, size)


def _probe_drive(path: Path) -> tuple[DriveState, DriveFormat | None]:
    """The drive's state before comparing its format file with the set: "ok" means it has one."""
    try:
        raw = (path / DRIVE_FORMAT_NAME).read_bytes()
    except FileNotFoundError:
        if not path.exists():
            return "missing", None
        leftovers = {DRIVE_FORMAT_NAME + _WRITE_SUFFIX}
        empty = path.is_dir() and all(name in leftovers for name in _list_names(path))
        return ("unformatted" if empty else "foreign"), None
    except OSError:
        return ("foreign" if path.exists() else "missing"), None
    try:
        return "ok", decode_drive_format(raw)
    except ValueError:
        return "foreign", None


def _format_problem(found: DriveFormat, expected: DriveFormat) -> str | None:
    if found.set_id != expected.set_id:
        return f"belongs to another erasure set ({found.set_id}, not {expected.set_id})"
    if found.drive_index != expected.drive_index:
        return (
            f"is drive {found.drive_index} of this set but was given as drive {expected.drive_index}:"
            " the drives are in the wrong order"
        )
    if found.drive_count != expected.drive_count or found.layout != expected.layout:
        return f"was formatted for {found.drive_count} drives with {found.layout}, not {expected.layout}"
    return None


def _check_ids(data_id: str, part: int) -> None:
    if not isinstance(data_id, str) or not _DATA_ID.fullmatch(data_id):
        raise ValueError(f"data id must be 32 lowercase hex characters, not {data_id!r}")
    if not isinstance(part, int) or part < 1:
        raise ValueError(f"part must be a positive integer, not {part!r}")


def _list_names(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _write_all(fd: int, parts: list[bytes | memoryview]) -> None:
    written = os.writev(fd, parts)
    rest = memoryview(b"".join(parts))[written:] if written < sum(len(part) for part in parts) else b""
    while rest:
        rest = rest[os.write(fd, rest) :]


def _write_durably(path: Path, data: bytes, fsync: bool) -> None:
    fd = os.open(path, _OPEN_WRITE, 0o644)
    try:
        _write_all(fd, [data])
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
