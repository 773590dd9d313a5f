"""What the console shows of consumer groups: each group's state and members, the partitions each
member was assigned (decoded from the consumer protocol's bytes), and per partition the committed
offset, the high watermark and the lag between them."""

from __future__ import annotations

from dataclasses import dataclass

from scalebox.eventlog.assignment import (
    Assignment,
    AssignmentDecodeError,
    decode_assignment,
    decode_subscription,
)
from scalebox.eventlog.display import compute_lag
from scalebox.eventlog.service.broker import Broker
from scalebox.eventlog.service.group_records import MemberDescription
from scalebox.eventlog.service.groups import GroupCoordinator

CONSUMER_PROTOCOL = "consumer"
DEAD = "Dead"  # what the coordinator answers for a group it does not know


@dataclass(frozen=True, slots=True)
class GroupMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    subscribed: tuple[str, ...]
    assignment: Assignment | None  # None: not the consumer protocol, or bytes that do not decode
    undecodable: str  # why the assignment could not be read, when it could not

    @property
    def partition_count(self) -> int:
        if self.assignment is None:
            return 0
        return sum(len(numbers) for _, numbers in self.assignment.partitions)


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed_offset: int | None
    end_offset: int | None  # None once the topic or partition is gone
    lag: int | None
    owner: GroupMember | None
    commit_timestamp_ms: int


@dataclass(frozen=True, slots=True)
class GroupView:
    group_id: str
    state: str
    protocol_type: str
    protocol_name: str
    generation_id: int
    members: tuple[GroupMember, ...]
    partitions: tuple[PartitionLag, ...]  # by topic, then partition

    @property
    def total_lag(self) -> int:
        return sum(row.lag or 0 for row in self.partitions)


def list_group_views(broker: Broker, groups: GroupCoordinator) -> list[GroupView]:
    """Every group the coordinator knows, by id."""
    listings = sorted(groups.list_groups(), key=lambda listing: listing.group_id)
    return [view for listing in listings if (view := get_group_view(broker, groups, listing.group_id))]


def get_group_view(broker: Broker, groups: GroupCoordinator, group_id: str) -> GroupView | None:
    """The group, or None when the coordinator knows neither it nor any offset it committed."""
    description = groups.describe(group_id)
    committed = groups.fetch_offsets(group_id, None)
    if description.state == DEAD and not description.members and not committed:
        return None
    consumer = description.protocol_type == CONSUMER_PROTOCOL
    members = tuple(_member(member, consumer) for member in description.members)
    owned = {
        (topic, number): member
        for member in members
        if member.assignment is not None
        for topic, numbers in member.assignment.partitions
        for number in numbers
    }
    rows = []
    for topic, partition in sorted(set(committed) | set(owned)):
        offset = committed.get((topic, partition))
        end = _end_offset(broker, topic, partition)
        committed_offset = offset.offset if offset is not None else None
        rows.append(
            PartitionLag(
                topic,
                partition,
                committed_offset,
                end,
                compute_lag(end, committed_offset),
                owned.get((topic, partition)),
                offset.commit_timestamp_ms if offset is not None else -1,
            )
        )
    return GroupView(
        description.group_id,
        description.state,
        description.protocol_type,
        description.protocol_name,
        description.generation_id,
        members,
        tuple(rows),
    )


def _member(member: MemberDescription, consumer: bool) -> GroupMember:
    subscribed: tuple[str, ...] = ()
    assignment: Assignment | None = None
    undecodable = ""
    if consumer:
        try:
            subscribed = decode_subscription(member.metadata).topics if member.metadata else ()
            assignment = decode_assignment(member.assignment)
        except AssignmentDecodeError as exc:
            undecodable = str(exc)
    return GroupMember(
        member.member_id,
        member.group_instance_id,
        member.client_id,
        member.client_host,
        subscribed,
        assignment,
        undecodable,
    )


def _end_offset(broker: Broker, topic: str, partition: int) -> int | None:
    found = broker.topics.get(topic)
    if found is None or not 0 <= partition < len(found.partitions):
        return None
    return found.partitions[partition].high_watermark
