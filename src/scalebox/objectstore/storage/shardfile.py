"""The on-disk formats of erasure-coded object data: the layout, shard files and drive format files.

A shard file (version 1) holds shard `index` of every stripe of one (data id, part); integers are big-endian:

    magic       8 bytes  b"SBXSHARD"
    version     u16      1
    size        u64      object bytes in the whole shard set
    json_bytes  u32      length of the JSON that follows
    json        {"data_id", "part", "index", "data_shards", "parity_shards", "block_bytes",
                 "checksum": "crc32c", "labels": {str: str}}
    header_crc  u32      CRC32C of every header byte above it
    per stripe: u32 CRC32C of the chunk, then the chunk

Every chunk is `block_bytes // data_shards` long except the last stripe's, which is
ceil(rest / data_shards), so stripe s starts at `header_bytes + s * (4 + chunk_bytes)`. A flipped bit in
the header or in a chunk fails a CRC, and a torn file is shorter than `shard_file_bytes`. `size` sits
in the fixed part, not the JSON, so a writer streams blocks first and patches it in before publishing.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from awscrt.checksums import crc32c

from scalebox.core.errors import IntegrityError

MAGIC = b"SBXSHARD"
VERSION = 1
CHECKSUM = "crc32c"
CRC_BYTES = 4
HEADER_BYTES_MAX = 64 * 1024
DRIVE_FORMAT_NAME = ".scalebox-drive.json"
DRIVE_FORMAT = "scalebox-erasure-drive"

_PREAMBLE = struct.Struct(">8sHQI")
_CRC = struct.Struct(">I")
PREAMBLE_BYTES = _PREAMBLE.size


class ShardFormatError(IntegrityError):
    """A shard file's header is malformed, from another format version, or fails its checksum."""


@dataclass(frozen=True, slots=True)
class ErasureLayout:
    """How an object is cut: stripes of `block_bytes`, each into `data_shards` chunks plus parity."""

    data_shards: int = 4
    parity_shards: int = 2
    block_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.data_shards < 1 or self.parity_shards < 0:
            raise ValueError(f"need data_shards >= 1 and parity_shards >= 0, not {self}")
        if self.data_shards + self.parity_shards > 256:
            raise ValueError(f"zfec codes at most 256 shards, not {self.data_shards + self.parity_shards}")
        if self.block_bytes < 4096 or self.block_bytes % self.data_shards:
            raise ValueError(f"block_bytes must be >= 4096 and a multiple of data_shards, not {self}")

    @property
    def total_shards(self) -> int:
        return self.data_shards + self.parity_shards

    @property
    def chunk_bytes(self) -> int:
        """The chunk length of every stripe but the last."""
        return self.block_bytes // self.data_shards

    def stripe_count(self, size: int) -> int:
        return -(-size // self.block_bytes)

    def stripe_bytes(self, size: int, stripe: int) -> int:
        """Object bytes in `stripe`."""
        return min(self.block_bytes, size - stripe * self.block_bytes)

    def stripe_chunk_bytes(self, size: int, stripe: int) -> int:
        return -(-self.stripe_bytes(size, stripe) // self.data_shards)

    def block_offset(self, header_bytes: int, stripe: int) -> int:
        """Where stripe `stripe`'s CRC starts in a shard file whose header is `header_bytes` long."""
        return header_bytes + stripe * (CRC_BYTES + self.chunk_bytes)

    def shard_file_bytes(self, header_bytes: int, size: int) -> int:
        full, rest = divmod(size, self.block_bytes)
        last = CRC_BYTES + -(-rest // self.data_shards) if rest else 0
        return self.block_offset(header_bytes, full) + last


@dataclass(frozen=True, slots=True)
class ShardHeader:
    """What a shard file says about itself; `labels` (bucket, key, version id) help rebuild metadata."""

    data_id: str
    part: int
    index: int
    layout: ErasureLayout
    size: int
    labels: Mapping[str, str] = field(default_factory=dict)


def encode_header(header: ShardHeader) -> bytes:
    """The header bytes; their length does not depend on `size`, so a writer can rewrite it in place."""
    layout = header.layout
    document = {
        "data_id": header.data_id,
        "part": header.part,
        "index": header.index,
        "data_shards": layout.data_shards,
        "parity_shards": layout.parity_shards,
        "block_bytes": layout.block_bytes,
        "checksum": CHECKSUM,
        "labels": dict(header.labels),
    }
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    head = _PREAMBLE.pack(MAGIC, VERSION, header.size, len(body)) + body
    if len(head) + CRC_BYTES > HEADER_BYTES_MAX:
        raise ValueError(f"shard header of {len(head)} bytes is over {HEADER_BYTES_MAX}: labels too long")
    return head + _CRC.pack(crc32c(head))


def decode_header_bytes(preamble: bytes | memoryview) -> int:
    """The whole header's length, from its first PREAMBLE_BYTES bytes."""
    if len(preamble) < PREAMBLE_BYTES:
        raise ShardFormatError("shard file is shorter than its preamble")
    magic, version, _size, body_bytes = _PREAMBLE.unpack_from(preamble)
    if magic != MAGIC or version != VERSION:
        raise ShardFormatError(f"not a version {VERSION} shard file (magic {magic!r}, version {version})")
    header_bytes: int = PREAMBLE_BYTES + body_bytes + CRC_BYTES
    if header_bytes > HEADER_BYTES_MAX:
        raise ShardFormatError(f"shard header claims {header_bytes} bytes")
    return header_bytes


def decode_header(data: bytes | memoryview) -> ShardHeader:
    """Parse and check a header; `data` may run on past it. Raises ShardFormatError."""
    header_bytes = decode_header_bytes(data)
    if len(data) < header_bytes:
        raise ShardFormatError("shard file is shorter than its header")
    end = header_bytes - CRC_BYTES
    (stored,) = _CRC.unpack_from(data, end)
    if crc32c(data[:end]) != stored:
        raise ShardFormatError("shard header fails its checksum")
    _magic, _version, size, _body_bytes = _PREAMBLE.unpack_from(data)
    try:
        document = json.loads(bytes(data[PREAMBLE_BYTES:end]))
        return _header_from_document(document, size)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ShardFormatError(f"shard header is malformed: {exc}") from exc


def _header_from_document(document: dict[str, Any], size: int) -> ShardHeader:
    if document["checksum"] != CHECKSUM:
        raise ValueError(f"unknown checksum {document['checksum']!r}")
    labels = document["labels"]
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in labels.items()):
        raise ValueError("labels must map strings to strings")
    layout = ErasureLayout(document["data_shards"], document["parity_shards"], document["block_bytes"])
    return ShardHeader(
        str(document["data_id"]), int(document["part"]), int(document["index"]), layout, size, labels
    )


def encode_block_crc(chunk: bytes | bytearray | memoryview) -> bytes:
    """The CRC that precedes a chunk."""
    return _CRC.pack(crc32c(chunk))


def check_block(block: bytes | bytearray | memoryview) -> bool:
    """Whether a block (CRC then chunk) is intact."""
    (stored,) = _CRC.unpack_from(block)
    return bool(crc32c(memoryview(block)[CRC_BYTES:]) == stored)


@dataclass(frozen=True, slots=True)
class DriveFormat:
    """What `.scalebox-drive.json` records: which erasure set a drive belongs to and where in it."""

    set_id: str
    drive_index: int
    drive_count: int
    layout: ErasureLayout


def encode_drive_format(drive: DriveFormat) -> bytes:
    document = {
        "format": DRIVE_FORMAT,
        "version": VERSION,
        "set_id": drive.set_id,
        "drive_index": drive.drive_index,
        "drive_count": drive.drive_count,
        "data_shards": drive.layout.data_shards,
        "parity_shards": drive.layout.parity_shards,
        "block_bytes": drive.layout.block_bytes,
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def decode_drive_format(data: bytes) -> DriveFormat:
    """Raises ValueError when `data` is not a drive format file this version understands."""
    try:
        document = json.loads(data)
        if document["format"] != DRIVE_FORMAT or document["version"] != VERSION:
            raise ValueError(f"format {document['format']!r} version {document['version']!r}")
        layout = ErasureLayout(document["data_shards"], document["parity_shards"], document["block_bytes"])
        return DriveFormat(str(document["set_id"]), document["drive_index"], document["drive_count"], layout)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a scalebox drive format file: {exc!r}") from exc
