"""The broker's use cases: topics and their partitions, produce, fetch (long poll), list offsets,
producer ids, and the fsync policy behind acks=all.

Every partition is a PartitionLog (storage/log.py) plus its idempotent-producer table and the
futures of fetchers and producers waiting on it. Appends run on the event loop in request order;
fsyncs run in a worker thread, one at a time per partition, each covering every append made
before it started (group commit), so a burst of acks=all produce requests shares one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from scalebox.core.clock import Clock
from scalebox.core.errors import IntegrityError
from scalebox.eventlog.domain import (
    OFFSETS_TOPIC,
    TopicConfig,
    is_internal,
    validate_topic_name,
)
from scalebox.eventlog.errors import (
    DuplicateSequenceError,
    InvalidPartitionsError,
    InvalidRecordError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    OffsetOutOfRangeError,
    TopicAuthorizationError,
    TopicExistsError,
    UnknownTopicError,
)
from scalebox.eventlog.protocol.records import BatchHeader, NewRecord, decode_records, parse_batches
from scalebox.eventlog.service.producers import ProducerStates
from scalebox.eventlog.storage.catalog import Catalog, CatalogState, TopicRecord, UserFile
from scalebox.eventlog.storage.log import PartitionLog

PRODUCER_ID_BLOCK = 1000
EARLIEST = -2
LATEST = -1
MAX_TIMESTAMP = -3


class StorageError(IntegrityError):
    """The partition's files could not be written or synced (a full or failing disk)."""


@dataclass(eq=False)
class Partition:
    topic: str
    index: int
    log: PartitionLog
    config: TopicConfig
    producers: ProducerStates = field(default_factory=ProducerStates)
    data_waiters: list[asyncio.Future[None]] = field(default_factory=list)
    durable_waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    unflushed_messages: int = 0
    flushing: asyncio.Task[None] | None = None
    flush_again: bool = False
    flush_timer: asyncio.TimerHandle | None = None

    @property
    def high_watermark(self) -> int:
        return self.log.log_end_offset


@dataclass(eq=False)
class Topic:
    record: TopicRecord
    config: TopicConfig
    partitions: list[Partition]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def internal(self) -> bool:
        return is_internal(self.record.name)


@dataclass(frozen=True, slots=True)
class Appended:
    base_offset: int
    next_offset: int  # the log end offset just after this append
    log_start_offset: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class FetchedPartition:
    high_watermark: int
    log_start_offset: int
    records: bytes


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    partitions_max: int = 10_000
    topics_max: int = 5_000
    num_partitions: int = 1
    auto_create_topics: bool = True


class Broker:
    """One Kafka broker's data plane and topic admin. Not thread-safe: call it from the event loop."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        *,
        defaults: TopicConfig | None = None,
        limits: BrokerLimits | None = None,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.defaults = defaults or TopicConfig()
        self.limits = limits or BrokerLimits()
        self.catalog = Catalog(directory / "catalog.json")
        self.users = UserFile(directory / "users.json")
        self.state = CatalogState()
        self.topics: dict[str, Topic] = {}
        self._next_producer_id = 0
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Load the catalog, recover every partition log, rebuild idempotent-producer state."""
        self.state = self.catalog.load()
        self._next_producer_id = self.state.producer_id_block_end
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        for record in self.state.topics.values():
            self.topics[record.name] = self._open_topic(record)
        self._remove_orphan_logs()
        if OFFSETS_TOPIC not in self.topics:
            self.create_topic(
                OFFSETS_TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": str(100 * 1024**2)}
            )

    async def close(self) -> None:
        self._closed = True
        for topic in self.topics.values():
            for partition in topic.partitions:
                if partition.flushing is not None:
                    with contextlib.suppress(Exception):
                        await partition.flushing
                if partition.flush_timer is not None:
                    partition.flush_timer.cancel()
                self._wake(partition, StorageError("the broker is shutting down"))
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(partition.log.flush)
                partition.log.close()

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    @property
    def cluster_id(self) -> str:
        return self.state.cluster_id

    # -- topics ------------------------------------------------------------------------------------

    def topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise UnknownTopicError(f"unknown topic {name!r}")
        return topic

    def partition(self, name: str, index: int) -> Partition:
        partitions = self.topic(name).partitions
        if not 0 <= index < len(partitions):
            raise UnknownTopicError(f"topic {name!r} has no partition {index}")
        return partitions[index]

    def topic_for_metadata(self, name: str, *, allow_create: bool) -> Topic:
        """The topic, auto-created with the default partition count when allowed (Kafka's
        auto.create.topics.enable with the request's allow_auto_topic_creation)."""
        validate_topic_name(name)
        if name not in self.topics and allow_create and self.limits.auto_create_topics:
            self.create_topic(name, -1, {})
        return self.topic(name)

    def create_topic(
        self,
        name: str,
        partitions: int,
        configs: Mapping[str, str | None],
        *,
        replication_factor: int = -1,
        validate_only: bool = False,
    ) -> Topic | TopicConfig:
        """Create a topic (or only check that it could be, returning its config)."""
        validate_topic_name(name)
        if name in self.topics:
            raise TopicExistsError(f"topic {name!r} already exists")
        count = self.limits.num_partitions if partitions == -1 else partitions
        if count < 1:
            raise InvalidPartitionsError(f"number of partitions must be at least 1, got {partitions}")
        if replication_factor not in (-1, 1):
            raise InvalidReplicationFactorError(
                f"replication factor {replication_factor} is larger than the 1 available broker"
            )
        if len(self.topics) >= self.limits.topics_max:
            raise InvalidRequestError(f"the broker already holds {self.limits.topics_max} topics")
        if self._partition_count() + count > self.limits.partitions_max:
            raise InvalidPartitionsError(
                f"{count} more partitions would pass the broker's limit of {self.limits.partitions_max}"
            )
        config = self.defaults.with_kafka(configs, self.defaults)
        if validate_only:
            return config
        record = TopicRecord(
            name=name,
            topic_id=str(uuid.uuid4()),
            partitions=count,
            configs=config.overridden(self.defaults),
            created_ms=self.now_ms(),
        )
        topic = self._open_topic(record)
        self.state.topics[name] = record
        self.catalog.save(self.state)
        self.topics[name] = topic
        return topic

    async def delete_topic(self, name: str) -> None:
        topic = self.topic(name)
        if topic.internal:
            raise TopicAuthorizationError(f"{name} is internal and cannot be deleted")
        del self.state.topics[name]
        self.catalog.save(self.state)
        del self.topics[name]
        for partition in topic.partitions:
            if partition.flushing is not None:
                with contextlib.suppress(Exception):
                    await partition.flushing
            self._wake(partition, UnknownTopicError(f"topic {name!r} was deleted"))
            partition.log.delete()

    def create_partitions(self, name: str, count: int, *, validate_only: bool = False) -> None:
        topic = self.topic(name)
        current = len(topic.partitions)
        if count <= current:
            raise InvalidPartitionsError(
                f"topic {name!r} has {current} partitions; the new count {count} must be larger"
            )
        if self._partition_count() + count - current > self.limits.partitions_max:
            raise InvalidPartitionsError(f"the broker's limit is {self.limits.partitions_max} partitions")
        if validate_only:
            return
        record = replace(topic.record, partitions=count)
        for index in range(current, count):
            topic.partitions.append(self._open_partition(name, index, topic.config))
        topic.record = record
        self.state.topics[name] = record
        self.catalog.save(self.state)

    def alter_configs(
        self, name: str, changes: Mapping[str, str | None], *, validate_only: bool = False
    ) -> None:
        """Apply Kafka-named config changes (None resets to the broker default)."""
        topic = self.topic(name)
        config = topic.config.with_kafka(changes, self.defaults)
        if validate_only:
            return
        topic.config = config
        topic.record = replace(topic.record, configs=config.overridden(self.defaults))
        self.state.topics[name] = topic.record
        self.catalog.save(self.state)
        for partition in topic.partitions:
            partition.config = config
            partition.log.reconfigure(config)

    # -- produce -----------------------------------------------------------------------------------

    def append(self, partition: Partition, records: bytes, *, internal_allowed: bool = False) -> Appended:
        """Validate and append the batches of one produce request to one partition (no fsync)."""
        if self._closed:
            raise StorageError("the broker is shutting down")
        if is_internal(partition.topic) and not internal_allowed:
            raise TopicAuthorizationError(f"{partition.topic} is written by the broker only")
        headers = parse_batches(records, batch_bytes_max=partition.config.max_message_bytes)
        if partition.config.compacted:  # Kafka refuses keyless records in compacted topics
            _require_keys(records, headers)
        first = headers[0]
        if first.producer_id >= 0:
            try:
                for header in headers:
                    partition.producers.check(
                        header.producer_id, header.producer_epoch, header.base_sequence, header.records_count
                    )
            except DuplicateSequenceError as duplicate:
                return Appended(
                    duplicate.base_offset, partition.log.log_end_offset, partition.log.log_start_offset, True
                )
        try:
            base_offset = partition.log.append(records, headers, self.now_ms())
        except OSError as exc:
            raise StorageError(f"writing {partition.topic}-{partition.index}: {exc}") from exc
        offset = base_offset
        for header in headers:
            partition.producers.record(
                header.producer_id, header.producer_epoch, header.base_sequence, header.records_count, offset
            )
            offset += header.last_offset_delta + 1
        self._appended(partition, sum(h.records_count for h in headers))
        return Appended(base_offset, partition.log.log_end_offset, partition.log.log_start_offset)

    def append_records(self, partition: Partition, records: list[NewRecord]) -> int:
        """Append records the broker itself writes (group state); returns the first offset."""
        try:
            base_offset = partition.log.append_records(records, self.now_ms())
        except OSError as exc:
            raise StorageError(f"writing {partition.topic}-{partition.index}: {exc}") from exc
        self._appended(partition, len(records))
        return base_offset

    async def wait_durable(self, partition: Partition, end_offset: int) -> None:
        """Return once every offset below `end_offset` is on disk, as the topic's fsync policy says.
        When the policy never syncs on its own (flush.messages > 1 and no flush.ms), there is
        nothing to wait for."""
        if partition.log.durable_offset >= end_offset or not _policy_syncs(partition.config):
            return
        future = asyncio.get_running_loop().create_future()
        partition.durable_waiters.append((end_offset, future))
        await future

    def _appended(self, partition: Partition, records: int) -> None:
        waiters, partition.data_waiters = partition.data_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        partition.unflushed_messages += records
        config = partition.config
        if partition.unflushed_messages >= config.flush_messages:
            self._start_flush(partition)
        elif config.flush_ms >= 0 and partition.flush_timer is None:
            loop = asyncio.get_running_loop()
            partition.flush_timer = loop.call_later(config.flush_ms / 1000, self._start_flush, partition)

    def _start_flush(self, partition: Partition) -> None:
        if partition.flushing is not None:
            partition.flush_again = True
            return
        partition.flushing = asyncio.get_running_loop().create_task(self._flush(partition))

    async def _flush(self, partition: Partition) -> None:
        try:
            while True:
                partition.flush_again = False
                partition.unflushed_messages = 0
                if partition.flush_timer is not None:
                    partition.flush_timer.cancel()
                    partition.flush_timer = None
                try:
                    durable = await asyncio.to_thread(partition.log.flush)
                except OSError as exc:
                    self._wake(
                        partition, StorageError(f"fsync of {partition.topic}-{partition.index}: {exc}")
                    )
                    return
                still: list[tuple[int, asyncio.Future[None]]] = []
                for end_offset, future in partition.durable_waiters:
                    if end_offset <= durable:
                        if not future.done():
                            future.set_result(None)
                    else:
                        still.append((end_offset, future))
                partition.durable_waiters = still
                if not partition.flush_again and not still:
                    return
        finally:
            partition.flushing = None

    def _wake(self, partition: Partition, error: Exception) -> None:
        for _, future in partition.durable_waiters:
            if not future.done():
                future.set_exception(error)
        partition.durable_waiters = []
        for waiter in partition.data_waiters:
            if not waiter.done():
                waiter.set_result(None)
        partition.data_waiters = []

    # -- fetch -------------------------------------------------------------------------------------

    def read(self, partition: Partition, offset: int, max_bytes: int) -> FetchedPartition:
        log = partition.log
        if offset < log.log_start_offset or offset > log.log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside {partition.topic}-{partition.index}'s range "
                f"[{log.log_start_offset}, {log.log_end_offset}]"
            )
        records = log.read(offset, max_bytes) if offset < log.log_end_offset else b""
        return FetchedPartition(log.log_end_offset, log.log_start_offset, records)

    async def wait_for_data(self, partitions: Iterable[Partition], timeout_seconds: float) -> None:
        """Wait until any of `partitions` is appended to, or the timeout passes."""
        loop = asyncio.get_running_loop()
        futures = []
        for partition in partitions:
            future = loop.create_future()
            partition.data_waiters.append(future)
            futures.append(future)
        if not futures:
            return
        try:
            await asyncio.wait(futures, timeout=timeout_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in futures:
                future.cancel()

    def list_offset(self, partition: Partition, timestamp: int) -> tuple[int, int]:
        """(offset, timestamp) for ListOffsets: -2 earliest, -1 latest, -3 max timestamp, or the first
        record at or after `timestamp`; (-1, -1) when there is none."""
        log = partition.log
        if timestamp == EARLIEST:
            return log.log_start_offset, -1
        if timestamp == LATEST:
            return partition.high_watermark, -1
        if timestamp == MAX_TIMESTAMP:
            found = log.max_timestamp()
        elif timestamp < 0:
            raise InvalidRequestError(f"unknown ListOffsets timestamp {timestamp}")
        else:
            found = log.offset_for_timestamp(timestamp)
        return found if found is not None else (-1, -1)

    # -- producer ids ------------------------------------------------------------------------------

    def allocate_producer_id(self) -> int:
        """A producer id never handed out before, even across restarts (blocks are reserved on disk)."""
        if self._next_producer_id >= self.state.producer_id_block_end:
            self.state.producer_id_block_end = self._next_producer_id + PRODUCER_ID_BLOCK
            self.catalog.save(self.state)
        producer_id = self._next_producer_id
        self._next_producer_id += 1
        return producer_id

    # -- background --------------------------------------------------------------------------------

    def enforce_retention(self) -> int:
        now = self.now_ms()
        deleted = 0
        for topic in list(self.topics.values()):
            for partition in topic.partitions:
                partition.log.roll_if_due(now)
                if topic.config.deletes:
                    deleted += partition.log.enforce_retention(now)
        return deleted

    def compacted_partitions(self) -> list[Partition]:
        return [p for t in self.topics.values() if t.config.compacted for p in t.partitions]

    # -- internals ---------------------------------------------------------------------------------

    def _open_topic(self, record: TopicRecord) -> Topic:
        config = self.defaults.with_kafka(record.configs, self.defaults)
        partitions = [self._open_partition(record.name, index, config) for index in range(record.partitions)]
        return Topic(record, config, partitions)

    def _open_partition(self, topic: str, index: int, config: TopicConfig) -> Partition:
        log = PartitionLog.open(self.directory / "logs" / f"{topic}-{index}", config, self.now_ms())
        partition = Partition(topic, index, log, config)
        for header in log.batch_headers(log.log_start_offset):
            partition.producers.record(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.records_count,
                header.base_offset,
            )
        return partition

    def _remove_orphan_logs(self) -> None:
        """Partition folders of topics the catalog no longer has (a crash mid-delete)."""
        expected = {f"{name}-{p}" for name, t in self.state.topics.items() for p in range(t.partitions)}
        for folder in (self.directory / "logs").iterdir():
            if folder.is_dir() and folder.name not in expected:
                shutil.rmtree(folder, ignore_errors=True)

    def _partition_count(self) -> int:
        return sum(len(t.partitions) for t in self.topics.values())


def _policy_syncs(config: TopicConfig) -> bool:
    return config.flush_messages == 1 or config.flush_ms >= 0


def _require_keys(records: bytes, headers: list[BatchHeader]) -> None:
    position = 0
    view = memoryview(records)
    for header in headers:
        batch = view[position : position + header.size]
        position += header.size
        if any(record.key is None for record in decode_records(batch)):
            raise InvalidRecordError("compacted topics accept only records with a key")
