"""The on-disk format of one filesystem blob: a header, a CRC32 per data block, then the data.

Pure code (no I/O): FilesystemBlobStore reads and writes the bytes, this module lays them out and
checks them, so a range read verifies only the blocks it touches.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from scalebox.core.errors import IntegrityError

MAGIC = b"SBXB"
FORMAT_VERSION = 1
BLOCK_BYTES_MAX = 1 << 30

# Header fields, big-endian, in file order:
#   magic (4s) | format version (B) | 3 reserved zero bytes | block size (I) | data length (Q)
# then a CRC32 (I) of those 20 bytes, so a damaged length or block size is caught, not trusted.
_FIELDS = struct.Struct(">4sB3xIQ")
_CRC = struct.Struct(">I")
HEADER_BYTES = _FIELDS.size + _CRC.size

ReadAt = Callable[[int, int], bytes]
"""Read `length` bytes at `offset` of the stored file: `read_at(offset, length)`."""


@dataclass(frozen=True, slots=True)
class BlockLayout:
    """Where things are in a stored file, decoded from its header."""

    block_bytes: int
    data_bytes: int

    @property
    def block_count(self) -> int:
        return -(-self.data_bytes // self.block_bytes)

    @property
    def data_offset(self) -> int:
        return HEADER_BYTES + _CRC.size * self.block_count

    @property
    def file_bytes(self) -> int:
        return self.data_offset + self.data_bytes


def encode_prefix(data: bytes, block_bytes: int) -> bytes:
    """Header plus CRC table for `data`; the stored file is this prefix followed by `data`."""
    assert 0 < block_bytes <= BLOCK_BYTES_MAX, block_bytes
    fields = _FIELDS.pack(MAGIC, FORMAT_VERSION, block_bytes, len(data))
    view = memoryview(data)
    crcs = [zlib.crc32(view[at : at + block_bytes]) for at in range(0, len(data), block_bytes)]
    return fields + _CRC.pack(zlib.crc32(fields)) + struct.pack(f">{len(crcs)}I", *crcs)


def decode_layout(header: bytes, file_bytes: int, key: str) -> BlockLayout:
    """Check the header and the file's total size; raise IntegrityError naming `key` if either is off."""
    if len(header) < HEADER_BYTES:
        raise IntegrityError(f"blob {key!r}: file is shorter than its header")
    magic, version, block_bytes, data_bytes = _FIELDS.unpack_from(header)
    (header_crc,) = _CRC.unpack_from(header, _FIELDS.size)
    if zlib.crc32(header[: _FIELDS.size]) != header_crc:
        raise IntegrityError(f"blob {key!r}: header fails its CRC32 check")
    if magic != MAGIC or version != FORMAT_VERSION or not 0 < block_bytes <= BLOCK_BYTES_MAX:
        raise IntegrityError(f"blob {key!r}: not a version {FORMAT_VERSION} blob file")
    layout = BlockLayout(block_bytes=block_bytes, data_bytes=data_bytes)
    if layout.file_bytes != file_bytes:
        raise IntegrityError(f"blob {key!r}: file holds {file_bytes} bytes, header says {layout.file_bytes}")
    return layout


def decode_blob(stored: bytes, key: str) -> bytes:
    """The data of a whole stored file, every block verified."""
    layout = decode_layout(stored[:HEADER_BYTES], len(stored), key)
    view = memoryview(stored)
    data = view[layout.data_offset :]
    _verify_blocks(view[HEADER_BYTES : layout.data_offset], data, 0, layout.block_bytes, key)
    return bytes(data)


def decode_blob_range(read_at: ReadAt, file_bytes: int, key: str, start: int, end: int) -> bytes:
    """Data bytes [start, end) clamped to the blob, reading and verifying only the blocks they touch."""
    assert start >= 0, start
    assert end >= 0, end
    layout = decode_layout(read_at(0, HEADER_BYTES), file_bytes, key)
    end = min(end, layout.data_bytes)
    if start >= end:
        return b""
    first, last = start // layout.block_bytes, (end - 1) // layout.block_bytes
    crcs_bytes = _CRC.size * (last - first + 1)
    crcs = read_at(HEADER_BYTES + _CRC.size * first, crcs_bytes)
    span_start = first * layout.block_bytes
    span_end = min((last + 1) * layout.block_bytes, layout.data_bytes)
    data = read_at(layout.data_offset + span_start, span_end - span_start)
    if len(crcs) != crcs_bytes or len(data) != span_end - span_start:
        # Only if something other than this store shortened the file after its size was checked.
        raise IntegrityError(f"blob {key!r}: file ends inside its data")
    _verify_blocks(memoryview(crcs), memoryview(data), first, layout.block_bytes, key)
    return data[start - span_start : end - span_start]


def decode_size(header: bytes, file_bytes: int, key: str) -> int:
    """The data length recorded in a verified header (used by listings, which read no data)."""
    return decode_layout(header, file_bytes, key).data_bytes


def _verify_blocks(crcs: memoryview, data: memoryview, first_block: int, block_bytes: int, key: str) -> None:
    expected = [crc for (crc,) in _CRC.iter_unpack(crcs)]
    assert len(expected) == -(-len(data) // block_bytes), (len(expected), len(data))
    for index, crc in enumerate(expected):
        block = data[index * block_bytes : (index + 1) * block_bytes]
        if zlib.crc32(block) != crc:
            raise IntegrityError(f"blob {key!r}: block {first_block + index} fails its CRC32 check")
