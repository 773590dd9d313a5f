"""The group coordinator's data: its requests and answers, the in-memory state of groups and members,
and their records in `__consumer_offsets`, in Apache Kafka's own binary layout.

Every record key and value starts with an int16 schema version; integers are big-endian, a string is an
int16 length then UTF-8 (length -1 = null), bytes are an int32 length then the bytes, an array is an
int32 count then its items. Kafka's GroupMetadataMessageFormatter reads them, and a log written by
Kafka 2.3+ loads here. A None value is a tombstone.

    offset commit key    v1: group string, topic string, partition int32
    offset commit value  v3: offset int64, leader_epoch int32, metadata string, commit_timestamp int64
                             (read: v0/v2 without leader epoch, v1 with a trailing expire_timestamp)
    group metadata key   v2: group string
    group metadata value v3: protocol_type string, generation int32, protocol nullable string,
                             leader nullable string, current_state_timestamp int64, members array of
                             [member_id string, group_instance_id nullable string, client_id string,
                              client_host string, rebalance_timeout int32, session_timeout int32,
                              subscription bytes, assignment bytes]
                             (read: v0 lacks rebalance_timeout, timestamp and instance id; v1 lacks the
                              last two; v2 lacks the instance id)
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from scalebox.core.errors import IntegrityError

_OFFSET_KEY_VERSION = 1
_GROUP_KEY_VERSION = 2
_OFFSET_VALUE_VERSION = 3
_GROUP_VALUE_VERSION = 3

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")


class GroupState(StrEnum):
    """Kafka's group states, spelled as DescribeGroups and ListGroups report them."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A JoinGroup request; `member_id` is "" for a member the group has not seen yet."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]  # (assignor name, metadata), the member's preference first
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str
    client_host: str
    require_known_member_id: bool  # JoinGroup v4+ (KIP-394): a new member first gets its id, then rejoins


@dataclass(frozen=True, slots=True)
class JoinedMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinResult:
    generation_id: int
    protocol_type: str
    protocol_name: str
    leader: str
    member_id: str
    members: tuple[JoinedMember, ...]  # only the leader gets the list, to compute the assignment


@dataclass(frozen=True, slots=True)
class SyncResult:
    protocol_type: str
    protocol_name: str
    assignment: bytes


@dataclass(frozen=True, slots=True)
class MemberDescription:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes  # empty unless the group is Stable, as Kafka answers DescribeGroups
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupDescription:
    group_id: str
    state: str  # "Empty", "PreparingRebalance", "CompletingRebalance", "Stable" or "Dead" (unknown group)
    protocol_type: str
    protocol_name: str  # "" unless Stable
    generation_id: int  # -1 for an unknown group
    members: tuple[MemberDescription, ...]


@dataclass(frozen=True, slots=True)
class GroupListing:
    group_id: str
    protocol_type: str  # "" for a group that only commits offsets
    state: str


class GroupLog(Protocol):
    """Where group state persists: a compacted log of (key, value) records, None being a tombstone."""

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Durable when it returns."""

    def replay(self) -> Iterable[tuple[bytes, bytes | None]]:
        """Every surviving record, oldest first (compaction may have kept only the latest per key)."""


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    """One partition's committed position for a group (OffsetFetch answers with these)."""

    offset: int
    leader_epoch: int  # -1 when the client sent none
    metadata: str
    commit_timestamp_ms: int


@dataclass(eq=False, slots=True)
class MemberMetadata:
    """A member as the coordinator tracks it (Kafka's MemberMetadata); only GroupCoordinator mutates it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    deadline: float  # monotonic seconds; past it a member that is not waiting in a rebalance expires
    is_new: bool = False  # has not completed a join phase yet: expires at `deadline` even while waiting
    assignment: bytes = b""
    join_waiter: asyncio.Future[JoinResult] | None = None  # set while the member waits in JoinGroup
    sync_waiter: asyncio.Future[SyncResult] | None = None  # set while it waits in SyncGroup

    def metadata(self, protocol: str) -> bytes:
        return next(metadata for name, metadata in self.protocols if name == protocol)

    def supports(self, protocol: str) -> bool:
        return any(name == protocol for name, _ in self.protocols)

    def keeps_alive(self) -> bool:
        # A member blocked in JoinGroup or SyncGroup cannot heartbeat; a new one still gets only its
        # five minutes, so clients that gave up on a long rebalance do not pile up as defunct members.
        return not self.is_new and (self.join_waiter is not None or self.sync_waiter is not None)


@dataclass(eq=False, slots=True)
class GroupMetadata:
    """One group's state (Kafka's GroupMetadata); only GroupCoordinator mutates it."""

    group_id: str
    state: GroupState = GroupState.EMPTY
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, MemberMetadata] = field(default_factory=dict)  # in joining order
    static_members: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    pending_members: dict[str, float] = field(default_factory=dict)  # KIP-394 ids handed out -> deadline
    pending_sync: set[str] = field(default_factory=set)  # joined this generation, not synced yet
    offsets: dict[tuple[str, int], CommittedOffset] = field(default_factory=dict)
    commits_in_flight: int = 0  # offset records being written: the group must not be forgotten meanwhile
    join_deadline: float | None = None  # while PreparingRebalance
    initial_delay_remaining_ms: int | None = None  # set while the join waits out the initial delay
    new_member_added: bool = False  # a member arrived during the initial delay: extend it
    sync_deadline: float | None = None  # members that have not synced by then are removed

    def add(self, member: MemberMetadata) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.members[member.member_id] = member
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> MemberMetadata:
        member = self.members.pop(member_id)
        instance_id = member.group_instance_id
        if instance_id is not None and self.static_members.get(instance_id) == member_id:
            del self.static_members[instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_sync.discard(member_id)
        return member

    def awaiting_join(self) -> int:
        return sum(1 for member in self.members.values() if member.join_waiter is not None)

    def all_joined(self) -> bool:
        return not self.pending_members and self.awaiting_join() == len(self.members)

    def rebalance_timeout_ms(self) -> int:
        return max((member.rebalance_timeout_ms for member in self.members.values()), default=0)

    def supports(self, protocol_type: str, protocols: Iterable[str]) -> bool:
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and any(True for _ in protocols)
        if protocol_type != self.protocol_type:
            return False
        size = len(self.members)
        return any(sum(m.supports(name) for m in self.members.values()) == size for name in protocols)

    def select_protocol(self) -> str:
        """Each member votes for its favourite protocol that every member supports; most votes wins."""
        members = list(self.members.values())
        assert members, "no protocol for an empty group"
        candidates = {name for name, _ in members[0].protocols if all(m.supports(name) for m in members)}
        votes = Counter(next(n for n, _ in m.protocols if n in candidates) for m in members)
        return votes.most_common(1)[0][0]  # ties go to the earliest joiner's vote

    def elect_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else promote any member that did; False if nobody did."""
        leader = self.members.get(self.leader_id) if self.leader_id is not None else None
        if leader is not None and leader.join_waiter is not None:
            return True
        joined = next((m for m in self.members.values() if m.join_waiter is not None), None)
        if joined is None:
            return False
        self.leader_id = joined.member_id
        return True

    def is_vacant(self) -> bool:
        """Created by a request that then failed, and holding nothing worth listing."""
        return (
            self.state is GroupState.EMPTY
            and self.generation_id == 0
            and not self.members
            and not self.pending_members
            and not self.offsets
            and not self.commits_in_flight
        )


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group_id: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class StoredMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes  # the member's metadata for the group's protocol
    assignment: bytes


@dataclass(frozen=True, slots=True)
class StoredGroup:
    """A group's last stable generation (or its Empty state): what a restart restores."""

    protocol_type: str
    generation_id: int
    protocol_name: str | None
    leader: str | None
    current_state_timestamp_ms: int
    members: tuple[StoredMember, ...]


def encode_offset_key(group_id: str, topic: str, partition: int) -> bytes:
    return _INT16.pack(_OFFSET_KEY_VERSION) + _string(group_id) + _string(topic) + _INT32.pack(partition)


def encode_group_key(group_id: str) -> bytes:
    return _INT16.pack(_GROUP_KEY_VERSION) + _string(group_id)


def encode_offset_value(committed: CommittedOffset) -> bytes:
    return (
        _INT16.pack(_OFFSET_VALUE_VERSION)
        + _INT64.pack(committed.offset)
        + _INT32.pack(committed.leader_epoch)
        + _string(committed.metadata)
        + _INT64.pack(committed.commit_timestamp_ms)
    )


def encode_group_value(group: StoredGroup) -> bytes:
    parts = [
        _INT16.pack(_GROUP_VALUE_VERSION),
        _string(group.protocol_type),
        _INT32.pack(group.generation_id),
        _string(group.protocol_name),
        _string(group.leader),
        _INT64.pack(group.current_state_timestamp_ms),
        _INT32.pack(len(group.members)),
    ]
    for member in group.members:
        parts += [
            _string(member.member_id),
            _string(member.group_instance_id),
            _string(member.client_id),
            _string(member.client_host),
            _INT32.pack(member.rebalance_timeout_ms),
            _INT32.pack(member.session_timeout_ms),
            _INT32.pack(len(member.subscription)),
            member.subscription,
            _INT32.pack(len(member.assignment)),
            member.assignment,
        ]
    return b"".join(parts)


def decode_key(key: bytes) -> OffsetKey | GroupKey | None:
    """The key's meaning, or None for a record kind this coordinator does not own (newer Kafka's)."""
    reader = _Reader(key)
    version = reader.int16()
    if version in (0, 1):
        return OffsetKey(reader.string(), reader.string(), reader.int32())
    if version == 2:
        return GroupKey(reader.string())
    return None


def decode_offset_value(value: bytes) -> CommittedOffset:
    reader = _Reader(value)
    version = reader.int16()
    if not 0 <= version <= 3:
        raise IntegrityError(f"unknown offset commit value version {version}")
    offset = reader.int64()
    leader_epoch = reader.int32() if version >= 3 else -1
    metadata = reader.string()
    timestamp_ms = reader.int64()
    return CommittedOffset(offset, leader_epoch, metadata, timestamp_ms)


def decode_group_value(value: bytes) -> StoredGroup:
    reader = _Reader(value)
    version = reader.int16()
    if not 0 <= version <= 3:
        raise IntegrityError(f"unknown group metadata value version {version}")
    protocol_type = reader.string()
    generation_id = reader.int32()
    protocol_name = reader.nullable_string()
    leader = reader.nullable_string()
    timestamp_ms = reader.int64() if version >= 2 else -1
    members = tuple(_read_member(reader, version) for _ in range(reader.int32()))
    return StoredGroup(protocol_type, generation_id, protocol_name, leader, timestamp_ms, members)


def _read_member(reader: _Reader, version: int) -> StoredMember:
    member_id = reader.string()
    instance_id = reader.nullable_string() if version >= 3 else None
    client_id = reader.string()
    client_host = reader.string()
    if version >= 1:
        rebalance_timeout_ms = reader.int32()
        session_timeout_ms = reader.int32()
    else:
        session_timeout_ms = reader.int32()
        rebalance_timeout_ms = session_timeout_ms  # v0 had one timeout for both
    subscription = reader.bytes()
    assignment = reader.bytes()
    return StoredMember(
        member_id,
        instance_id,
        client_id,
        client_host,
        rebalance_timeout_ms,
        session_timeout_ms,
        subscription,
        assignment,
    )


def _string(text: str | None) -> bytes:
    if text is None:
        return _INT16.pack(-1)
    encoded = text.encode()
    return _INT16.pack(len(encoded)) + encoded


class _Reader:
    """Reads Kafka's fixed schema types; any short or malformed field is an IntegrityError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def _take(self, size: int) -> bytes:
        end = self._position + size
        if size < 0 or end > len(self._data):
            raise IntegrityError(f"record truncated at byte {self._position} of {len(self._data)}")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def int16(self) -> int:
        value: int = _INT16.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = _INT32.unpack(self._take(4))[0]
        return value

    def int64(self) -> int:
        value: int = _INT64.unpack(self._take(8))[0]
        return value

    def nullable_string(self) -> str | None:
        size = self.int16()
        if size == -1:
            return None
        try:
            return self._take(size).decode()
        except UnicodeDecodeError as exc:
            raise IntegrityError("record holds a string that is not UTF-8") from exc

    def string(self) -> str:
        text = self.nullable_string()
        if text is None:
            raise IntegrityError("record holds a null where a string is required")
        return text

    def bytes(self) -> bytes:
        return self._take(self.int32())
