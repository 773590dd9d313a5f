"""The command line's side of the Kafka protocol: aiokafka's admin client, producer and consumer
against a running broker (ours or any other), their answers turned into plain dataclasses and their
error codes into the DomainErrors the CLI's exit-code table knows. Only the CLI uses this module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    RequestTimedOutError,
    for_code,
)
from aiokafka.structs import OffsetAndMetadata

from scalebox.core.errors import ConflictError, DomainError, ForbiddenError, InvalidError, NotFoundError
from scalebox.eventlog.assignment import Assignment, AssignmentDecodeError, decode_assignment
from scalebox.eventlog.domain import validate_topic_name

REQUEST_TIMEOUT_MS = 15_000
POLL_TIMEOUT_MS = 500
IDLE_POLLS_MAX = 4  # empty polls before a tail without --follow gives up waiting for offsets no record holds
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs v1+ config_source: set on the topic itself
EMPTY_STATES = frozenset({"Empty", "Dead"})  # a group nobody consumes with right now

# Kafka error codes → the error tree; anything else is a plain DomainError (exit code 1).
_KINDS: dict[int, type[DomainError]] = {
    3: NotFoundError,  # UNKNOWN_TOPIC_OR_PARTITION
    17: InvalidError,  # INVALID_TOPIC_EXCEPTION
    29: ForbiddenError,  # TOPIC_AUTHORIZATION_FAILED
    36: ConflictError,  # TOPIC_ALREADY_EXISTS
    37: InvalidError,  # INVALID_PARTITIONS
    38: InvalidError,  # INVALID_REPLICATION_FACTOR
    40: InvalidError,  # INVALID_CONFIG
    42: InvalidError,  # INVALID_REQUEST
    58: ForbiddenError,  # SASL_AUTHENTICATION_FAILED
    68: ConflictError,  # NON_EMPTY_GROUP
    69: NotFoundError,  # GROUP_ID_NOT_FOUND
}


class BrokerUnreachableError(Exception):
    """No broker answered at the bootstrap address (not running, wrong address, or not responding)."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    partition: int
    start: int  # log start offset
    end: int  # high watermark


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    internal: bool
    partitions: tuple[PartitionOffsets, ...]
    configs: dict[str, tuple[str, bool]]  # Kafka name → (value, set on the topic)

    @property
    def messages(self) -> int:
        return sum(p.end - p.start for p in self.partitions)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    member_id: str
    client_id: str
    client_host: str
    assignment: Assignment | None  # None: another protocol, or bytes that do not decode


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberInfo, ...]
    committed: dict[tuple[str, int], int]
    ends: dict[tuple[str, int], int]

    def owner(self, topic: str, partition: int) -> MemberInfo | None:
        return next((m for m in self.members if m.assignment and m.assignment.owns(topic, partition)), None)


@dataclass(frozen=True, slots=True)
class OffsetReset:
    topic: str
    partition: int
    before: int | None
    after: int


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


ResetTarget = tuple[Literal["earliest", "latest", "offset"], int]


def raise_for_code(code: int, message: str | None, subject: str) -> None:
    """DomainError for a non-zero Kafka error code in an answer about `subject`."""
    if code:
        raise domain_error(code, message, subject)


def domain_error(code: int, message: str | None, subject: str) -> DomainError:
    kind = _KINDS.get(code, DomainError)
    known = for_code(code)
    return kind(f"{subject}: {message or known.description} ({known.__name__})")


class BrokerClient:
    """One command's connection to a running broker: the admin client, plus a consumer without a
    group (for offsets and reads), started on first use."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
        self._reader: Any = None

    async def __aenter__(self) -> BrokerClient:
        await self._start(self._admin.start(), self._admin.close)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._reader is not None:
            await self._reader.stop()
        await self._admin.close()

    async def _reach(self, call: Awaitable[Any], subject: str = "the broker") -> Any:
        """`call`'s answer; a broker that does not answer is BrokerUnreachableError, and a Kafka error
        code a DomainError."""
        try:
            return await call
        except (KafkaConnectionError, KafkaTimeoutError, RequestTimedOutError) as exc:
            raise BrokerUnreachableError(
                f"no Kafka broker answered at {self.bootstrap} ({exc}); is `scalebox eventlog serve` running?"
            ) from exc
        except KafkaError as exc:
            code = getattr(exc, "errno", None)
            if isinstance(code, int) and code > 0:
                raise domain_error(code, str(exc), subject) from exc
            raise

    async def _start(self, starting: Awaitable[Any], close: Callable[[], Awaitable[Any]]) -> None:
        """Start an aiokafka client; one that fails to start is closed (its sockets too) at once."""
        try:
            await self._reach(starting)
        except BaseException:
            await close()
            raise

    async def _consumer(self) -> Any:
        if self._reader is None:
            reader = _consumer(self.bootstrap)
            await self._start(reader.start(), reader.stop)
            self._reader = reader
        return self._reader

    # -- topics ------------------------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> None:
        topic = NewTopic(name, partitions, replication_factor=1, topic_configs=configs)
        answer = (await self._reach(self._admin.create_topics([topic]))).to_object()
        for row in answer["topic_errors"]:
            raise_for_code(row["error_code"], row.get("error_message"), f"topic {row['topic']!r}")

    async def delete_topic(self, name: str) -> None:
        answer = (await self._reach(self._admin.delete_topics([name]))).to_object()
        for row in answer["topic_error_codes"]:
            raise_for_code(row["error_code"], row.get("error_message"), f"topic {row['topic']!r}")

    async def list_topics(self, names: Sequence[str] | None = None) -> list[TopicInfo]:
        """Topics with their partitions' offsets and their configs (every topic when `names` is None)."""
        # Always every topic: a Metadata request naming an unknown topic would create it.
        described = await self._reach(self._admin.describe_topics(None))
        if names is not None:
            missing = set(names) - {row["topic"] for row in described}
            if missing:
                raise NotFoundError(f"there is no topic named {sorted(missing)[0]!r}")
            described = [row for row in described if row["topic"] in names]
        for row in described:
            raise_for_code(row["error_code"], None, f"topic {row['topic']!r}")
        if not described:
            return []
        partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
        reader = await self._consumer()
        starts = await self._reach(reader.beginning_offsets(partitions))
        ends = await self._reach(reader.end_offsets(partitions))
        configs = await self._configs([t["topic"] for t in described])
        return sorted(
            (
                TopicInfo(
                    t["topic"],
                    bool(t.get("is_internal", False)),
                    tuple(
                        PartitionOffsets(
                            p, starts[TopicPartition(t["topic"], p)], ends[TopicPartition(t["topic"], p)]
                        )
                        for p in sorted(p["partition"] for p in t["partitions"])
                    ),
                    configs.get(t["topic"], {}),
                )
                for t in described
            ),
            key=lambda topic: (topic.internal, topic.name),
        )

    async def _configs(self, names: list[str]) -> dict[str, dict[str, tuple[str, bool]]]:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        found: dict[str, dict[str, tuple[str, bool]]] = {}
        for answer in await self._reach(self._admin.describe_configs(resources)):
            for resource in answer.to_object()["resources"]:
                subject = f"topic {resource['resource_name']!r}"
                raise_for_code(resource["error_code"], resource.get("error_message"), subject)
                found[resource["resource_name"]] = {
                    entry["config_names"]: (entry["config_value"] or "", _overridden(entry))
                    for entry in resource["config_entries"]
                }
        return found

    # -- groups ------------------------------------------------------------------------------------

    async def list_groups(self) -> list[GroupInfo]:
        listed = await self._reach(self._admin.list_consumer_groups())
        return [await self.describe_group(str(row[0])) for row in sorted(listed)]

    async def describe_group(self, group_id: str) -> GroupInfo:
        answers = await self._reach(self._admin.describe_consumer_groups([group_id]))
        described = answers[0].to_object()["groups"][0]
        raise_for_code(described["error_code"], None, f"group {group_id!r}")
        consumer = described["protocol_type"] == "consumer"
        members = tuple(
            MemberInfo(
                m["member_id"],
                m["client_id"],
                m["client_host"],
                _assignment(m["member_assignment"]) if consumer else None,
            )
            for m in described["members"]
        )
        offsets = await self._reach(self._admin.list_consumer_group_offsets(group_id))
        committed = {
            (tp.topic, tp.partition): int(meta.offset) for tp, meta in offsets.items() if meta.offset >= 0
        }
        state = str(described["state"])
        if state == "Dead" and not committed:
            raise NotFoundError(f"there is no consumer group named {group_id!r}")
        owned = {
            (t, p) for m in members if m.assignment for t, numbers in m.assignment.partitions for p in numbers
        }
        wanted = [TopicPartition(t, p) for t, p in sorted(set(committed) | owned)]
        ends: dict[tuple[str, int], int] = {}
        if wanted:
            reader = await self._consumer()
            try:
                found = await self._reach(reader.end_offsets(wanted))
            except KafkaError:  # a committed topic that was deleted since: no end offset to show
                found = {}
            ends = {(tp.topic, tp.partition): int(offset) for tp, offset in found.items()}
        return GroupInfo(
            group_id, state, described["protocol_type"], described["protocol"], members, committed, ends
        )

    async def reset_offsets(self, group_id: str, topic: str, target: ResetTarget) -> list[OffsetReset]:
        """Commit new offsets for every partition of `topic` as the (empty) group; Kafka refuses this
        while members consume, and so does this command, before asking."""
        group = await self._group_or_empty(group_id)
        if group.state not in EMPTY_STATES:
            raise ConflictError(
                f"group {group_id!r} is {group.state} with {len(group.members)} member(s); "
                "stop its consumers first"
            )
        [info] = await self.list_topics([topic])
        after = {p.partition: _reset_offset(target, p) for p in info.partitions}
        committer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )
        await self._start(committer.start(), committer.stop)
        try:
            committer.assign([TopicPartition(topic, p) for p in after])
            await self._reach(
                committer.commit(
                    {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in after.items()}
                )
            )
        finally:
            await committer.stop()
        return [OffsetReset(topic, p, group.committed.get((topic, p)), o) for p, o in sorted(after.items())]

    async def _group_or_empty(self, group_id: str) -> GroupInfo:
        try:
            return await self.describe_group(group_id)
        except NotFoundError:
            return GroupInfo(group_id, "Dead", "", "", (), {}, {})

    # -- records -----------------------------------------------------------------------------------

    async def produce(self, topic: str, key: bytes | None, values: Sequence[bytes]) -> list[tuple[int, int]]:
        """Send every value with acks=all; (partition, offset) of each, in order."""
        validate_topic_name(topic)  # an illegal name would only time out waiting for its metadata
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=REQUEST_TIMEOUT_MS
        )
        await self._start(producer.start(), producer.stop)
        subject = f"topic {topic!r}"
        try:
            sent = [
                await self._reach(producer.send(topic, value=value, key=key), subject) for value in values
            ]
            written = await self._reach(asyncio.gather(*sent), subject)
        finally:
            await producer.stop()
        return [(int(meta.partition), int(meta.offset)) for meta in written]

    async def tail(
        self,
        topic: str,
        *,
        partition: int | None,
        from_beginning: bool,
        count: int,
        follow: bool,
    ) -> AsyncIterator[ConsumedRecord]:
        """The last `count` records of each partition (all of them `from_beginning`), then, with
        `follow`, every new one until the caller stops iterating (Ctrl-C)."""
        [info] = await self.list_topics([topic])
        chosen = [p for p in info.partitions if partition is None or p.partition == partition]
        if not chosen:
            raise NotFoundError(f"topic {topic!r} has no partition {partition}")
        reader = await self._consumer()
        reader.assign([TopicPartition(topic, p.partition) for p in chosen])
        for p in chosen:
            reader.seek(
                TopicPartition(topic, p.partition), p.start if from_beginning else max(p.start, p.end - count)
            )
        # Without `follow`, done once every partition's position reaches the end offset it had at the
        # start, or after a few empty polls (a log may end in offsets no record holds: compaction).
        pending = {TopicPartition(topic, p.partition): p.end for p in chosen}
        idle_polls = 0
        while follow or (pending and idle_polls < IDLE_POLLS_MAX):
            batches = await self._reach(reader.getmany(timeout_ms=POLL_TIMEOUT_MS))
            idle_polls = 0 if batches else idle_polls + 1
            for tp, messages in sorted(batches.items(), key=lambda item: item[0].partition):
                for message in messages:
                    yield ConsumedRecord(
                        tp.partition, message.offset, message.timestamp, message.key, message.value
                    )
            for tp, end in list(pending.items()):
                if await reader.position(tp) >= end:
                    del pending[tp]


def _reset_offset(target: ResetTarget, partition: PartitionOffsets) -> int:
    """Where a reset puts one partition; an offset outside the log is moved to its nearer end, as
    Kafka's kafka-consumer-groups.sh does."""
    kind, offset = target
    if kind == "earliest":
        return partition.start
    if kind == "latest":
        return partition.end
    return min(max(offset, partition.start), partition.end)


def _consumer(bootstrap: str) -> Any:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def _overridden(entry: dict[str, Any]) -> bool:
    if "config_source" in entry:
        return bool(entry["config_source"] == DYNAMIC_TOPIC_CONFIG)
    return not entry.get("is_default", True)


def _assignment(data: bytes | None) -> Assignment | None:
    try:
        return decode_assignment(data or b"")
    except AssignmentDecodeError:
        return None
