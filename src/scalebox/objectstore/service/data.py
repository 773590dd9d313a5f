"""Moving object bytes between a request and the drives: hashing, inlining small objects, streaming.

Small objects (up to `inline_bytes_max`) are kept whole and go into their metadata row. Larger
ones stream to an erasure writer stripe by stripe in a worker thread, hashed there (MD5 for the
ETag, the requested checksum) while the event loop already receives the next stripe, so memory
stays at about two stripes per upload whatever the object's size.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scalebox.objectstore.checksum import Checksummer, new_checksummer
from scalebox.objectstore.domain import Part, new_data_id
from scalebox.objectstore.errors import EntityTooLargeError, IncompleteBodyError, ServiceUnavailableError
from scalebox.objectstore.storage.erasure import ErasureSet, WriteQuorumError


@dataclass(frozen=True, slots=True)
class StoredData:
    """What a body became: its size, MD5 (hex), checksum (base64 digest, or "") and where it lives."""

    size: int
    md5_hex: str
    checksum: str
    checksum_digest: bytes
    inline: bytes | None
    parts: tuple[Part, ...]


class _Sink:
    """Hashes and writes stripes, one stripe at a time, the hashing and the erasure coding in two
    worker threads at once (hashlib and zfec both let go of the GIL on large buffers)."""

    def __init__(self, writer: Any, md5: Any, summer: Checksummer | None) -> None:
        self.writer = writer
        self.md5 = md5
        self.summer = summer

    def _hash(self, data: bytes) -> None:
        self.md5.update(data)
        if self.summer is not None:
            self.summer.update(data)

    async def absorb(self, data: bytes) -> None:
        await asyncio.gather(asyncio.to_thread(self._hash, data), asyncio.to_thread(self.writer.write, data))


class DataPlane:
    """Stores request bodies as inline bytes or erasure-coded shard sets, and reads them back."""

    def __init__(
        self,
        erasure: ErasureSet,
        *,
        inline_bytes_max: int,
        stripe_bytes: int,
        on_degraded: Callable[[str, int, Sequence[int]], None] | None = None,
        on_spill: Callable[[str, int], Awaitable[None]] | None = None,
    ) -> None:
        self.erasure = erasure
        self._inline_bytes_max = inline_bytes_max
        self._stripe_bytes = stripe_bytes
        self._on_degraded = on_degraded
        self._on_spill = on_spill

    async def store(
        self,
        body: AsyncIterator[bytes | memoryview],
        *,
        size_max: int,
        checksum_algorithm: str = "",
        part_number: int = 1,
        expected_size: int | None = None,
        labels: Mapping[str, str] | None = None,
        inline_allowed: bool = True,
    ) -> StoredData:
        """Hash and keep a body: inline when small (and allowed), else as one erasure-coded shard set."""
        md5 = hashlib.md5(usedforsecurity=False)
        summer = new_checksummer(checksum_algorithm) if checksum_algorithm else None
        pieces: list[bytes | memoryview] = []
        buffered = 0
        total = 0
        sink: _Sink | None = None
        pending: asyncio.Future[None] | None = None
        inline_max = self._inline_bytes_max if inline_allowed else -1
        data_id = new_data_id()
        shard_labels = dict(labels or {})
        try:
            async for chunk in body:
                total += len(chunk)
                _check_size(total, size_max)
                pieces.append(chunk)
                buffered += len(chunk)
                if sink is None and buffered > inline_max:
                    sink = await self._sink(data_id, part_number, shard_labels, md5, summer)
                if sink is not None and buffered >= self._stripe_bytes:
                    stripe = b"".join(pieces)  # the one copy a stripe costs here
                    pieces.clear()
                    buffered = 0
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(sink.absorb(stripe))
            _check_complete(total, expected_size)
            if pending is not None:
                await pending
                pending = None
            if sink is None and inline_allowed:
                return _inline(b"".join(pieces), md5, summer)
            if sink is None:
                sink = await self._sink(data_id, part_number, shard_labels, md5, summer)
            if pieces:
                await sink.absorb(b"".join(pieces))
            result = await _close(sink)
        except BaseException:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            if sink is not None:
                await asyncio.to_thread(sink.writer.abort)
            raise
        if result.degraded and self._on_degraded is not None:
            self._on_degraded(data_id, part_number, result.degraded)
        part = Part(part_number, total, data_id, md5.hexdigest(), summer.b64() if summer else "")
        return StoredData(total, part.etag, part.checksum, summer.digest() if summer else b"", None, (part,))

    async def _sink(
        self, data_id: str, part_number: int, labels: dict[str, str], md5: Any, summer: Checksummer | None
    ) -> _Sink:
        if self._on_spill is not None:
            await self._on_spill(data_id, part_number)
        try:
            writer = await asyncio.to_thread(self.erasure.writer, data_id, part_number, labels)
        except WriteQuorumError as exc:
            raise ServiceUnavailableError(
                "Too few drives are online to store this object; try again once they are back"
            ) from exc
        return _Sink(writer, md5, summer)

    async def read(
        self, inline: bytes | None, parts: Sequence[Part], start: int, end: int
    ) -> AsyncIterator[bytes]:
        """The bytes [start, end) of an object stored as `inline` or as `parts`, in pieces."""
        if inline is not None:
            if end > start:
                yield inline[start:end]
            return
        offset = 0
        for part in parts:
            part_start, part_end = max(start - offset, 0), min(end - offset, part.size)
            if part_start < part_end:
                pieces = self.erasure.read(part.data_id, part.number, part.size, part_start, part_end)
                try:
                    while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                        yield piece
                finally:
                    if isinstance(pieces, Generator):
                        await asyncio.to_thread(pieces.close)
            offset += part.size
            if offset >= end:
                return

    async def delete(self, data_id: str, number: int) -> None:
        await asyncio.to_thread(self.erasure.delete, data_id, number)


def _inline(data: bytes, md5: Any, summer: Checksummer | None) -> StoredData:
    md5.update(data)
    if summer is not None:
        summer.update(data)
    return StoredData(
        len(data),
        md5.hexdigest(),
        summer.b64() if summer else "",
        summer.digest() if summer else b"",
        data,
        (),
    )


def _check_size(total: int, size_max: int) -> None:
    if total > size_max:
        raise EntityTooLargeError(
            "Your proposed upload exceeds the maximum allowed size",
            ProposedSize=str(total),
            MaxSizeAllowed=str(size_max),
        )


def _check_complete(total: int, expected_size: int | None) -> None:
    if expected_size is not None and total != expected_size:
        raise IncompleteBodyError(
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ExpectedSize=str(expected_size),
            ReceivedSize=str(total),
        )


async def _close(sink: _Sink) -> Any:
    """Finish a shard set: flush, fsync, rename into place (the writer removes its files on failure)."""
    try:
        return await asyncio.to_thread(sink.writer.close)
    except WriteQuorumError as exc:
        raise ServiceUnavailableError(
            "Too few drives took the object's shards; try again once they are back"
        ) from exc
