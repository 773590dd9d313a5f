"""The consumer protocol's embedded bytes, decoded for people: which topics a member of a "consumer"
group subscribed to, and which partitions the leader assigned it. Pure; no I/O.

Kafka's ConsumerProtocolSubscription and ConsumerProtocolAssignment (clients/.../consumer/*.json);
integers are big-endian, a string is an int16 length then UTF-8 (-1 = null), bytes are an int32
length then the bytes (-1 = null), an array is an int32 count then its items.

    Assignment   v0-v3: version int16, assigned_partitions array of [topic string,
                        partitions array of int32], user_data nullable bytes
    Subscription v0-v3: version int16, topics array of string, user_data nullable bytes,
                        (v1+) owned_partitions, (v2+) generation_id, (v3) rack_id: not read here

Later versions only append fields, so a newer member's bytes decode here too (as Kafka reads them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scalebox.core.errors import ProtocolError

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
ITEMS_MAX = 100_000  # topics or partitions in one member's bytes; more is garbage, not a real group


class AssignmentDecodeError(ProtocolError):
    """The member's bytes are not a consumer protocol assignment or subscription."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """The partitions a group leader gave one member, topic by topic, in the order it sent them."""

    version: int
    partitions: tuple[tuple[str, tuple[int, ...]], ...]
    user_data: bytes | None

    def owns(self, topic: str, partition: int) -> bool:
        return any(name == topic and partition in numbers for name, numbers in self.partitions)


@dataclass(frozen=True, slots=True)
class Subscription:
    version: int
    topics: tuple[str, ...]


def decode_assignment(data: bytes) -> Assignment:
    """The assignment in `data`; empty bytes (a member not yet synced) is an empty assignment."""
    if not data:
        return Assignment(0, (), None)
    reader = _Reader(data)
    version = reader.int16()
    if version < 0:
        raise AssignmentDecodeError(f"assignment version {version} is negative")
    partitions = tuple(
        (reader.string(), tuple(reader.int32() for _ in range(reader.count()))) for _ in range(reader.count())
    )
    return Assignment(version, partitions, reader.nullable_bytes())


def decode_subscription(data: bytes) -> Subscription:
    """The topics a member subscribed to (its JoinGroup metadata for a "consumer" group)."""
    reader = _Reader(data)
    version = reader.int16()
    if version < 0:
        raise AssignmentDecodeError(f"subscription version {version} is negative")
    return Subscription(version, tuple(reader.string() for _ in range(reader.count())))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def _take(self, size: int) -> bytes:
        end = self._position + size
        if end > len(self._data):
            raise AssignmentDecodeError(f"truncated at byte {self._position}: {size} more bytes expected")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def int16(self) -> int:
        value: int = _INT16.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = _INT32.unpack(self._take(4))[0]
        return value

    def count(self) -> int:
        count = self.int32()
        if count == -1:
            return 0  # a null array
        if not 0 <= count <= ITEMS_MAX:
            raise AssignmentDecodeError(f"array of {count} items at byte {self._position - 4}")
        return count

    def string(self) -> str:
        size = self.int16()
        if size < 0:
            raise AssignmentDecodeError(f"null or negative string length {size}")
        try:
            return self._take(size).decode()
        except UnicodeDecodeError as exc:
            raise AssignmentDecodeError(f"a name that is not UTF-8: {exc}") from exc

    def nullable_bytes(self) -> bytes | None:
        if self._position == len(self._data):
            return None  # some clients stop after the partitions
        size = self.int32()
        if size == -1:
            return None
        if size < 0:
            raise AssignmentDecodeError(f"negative bytes length {size}")
        return self._take(size)
