"""What the console reads and writes behind the Kafka protocol for topics: summaries of each topic and
its partitions, the newest records of a topic (the live tail), and one test message published the
way a Kafka client's default partitioner would place it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from scalebox.core.errors import ForbiddenError, InvalidError, TooLargeError
from scalebox.eventlog.domain import TopicConfig
from scalebox.eventlog.protocol.records import NewRecord, decode_records, read_header
from scalebox.eventlog.service.broker import Broker, Partition, Topic

TAIL_RECORDS_MAX = 100  # records one tail answer may hold
TAIL_READ_BYTES = 1024 * 1024  # read from a partition per step while looking for its newest records
RECORD_OVERHEAD_BYTES = 128  # a one-record batch's header and framing, with room to spare


@dataclass(frozen=True, slots=True)
class PartitionSummary:
    index: int
    log_start_offset: int
    log_end_offset: int  # the high watermark: one broker, so every append is committed
    size_bytes: int
    segment_count: int

    @property
    def messages(self) -> int:
        """Offsets held (compaction leaves gaps, so at most this many records)."""
        return self.log_end_offset - self.log_start_offset


@dataclass(frozen=True, slots=True)
class TopicSummary:
    name: str
    topic_id: str
    created_ms: int
    internal: bool
    config: TopicConfig
    overrides: dict[str, str]  # Kafka-named configs set on the topic itself
    partitions: tuple[PartitionSummary, ...]

    @property
    def size_bytes(self) -> int:
        return sum(partition.size_bytes for partition in self.partitions)

    @property
    def messages(self) -> int:
        return sum(partition.messages for partition in self.partitions)


@dataclass(frozen=True, slots=True)
class TailRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    partition: int
    offset: int


def summarize_topic(topic: Topic) -> TopicSummary:
    partitions = tuple(
        PartitionSummary(
            p.index, p.log.log_start_offset, p.log.log_end_offset, p.log.size_bytes, p.log.segment_count
        )
        for p in topic.partitions
    )
    record = topic.record
    return TopicSummary(
        record.name,
        record.topic_id,
        record.created_ms,
        topic.internal,
        topic.config,
        record.configs,
        partitions,
    )


def list_topics(broker: Broker) -> list[TopicSummary]:
    """Every topic by name, the broker's own (internal) ones last."""
    topics = sorted(broker.topics.values(), key=lambda topic: (topic.internal, topic.name))
    return [summarize_topic(topic) for topic in topics]


def get_topic(broker: Broker, name: str) -> TopicSummary | None:
    topic = broker.topics.get(name)
    return None if topic is None else summarize_topic(topic)


def newest_records(broker: Broker, name: str, limit: int, partition: int | None = None) -> list[TailRecord]:
    """The newest `limit` records of a topic (of one partition when given), newest first by timestamp.

    Runs on the event loop: a read is bounded by TAIL_READ_BYTES a step and `limit` offsets a partition.
    """
    assert 1 <= limit <= TAIL_RECORDS_MAX, limit
    topic = broker.topic(name)
    chosen = topic.partitions if partition is None else [broker.partition(name, partition)]
    found = [record for p in chosen for record in _partition_tail(p, limit)]
    found.sort(key=lambda r: (r.timestamp_ms, r.offset, r.partition), reverse=True)
    return found[:limit]


def _partition_tail(partition: Partition, limit: int) -> deque[TailRecord]:
    log = partition.log
    end = log.log_end_offset
    offset = max(log.log_start_offset, end - limit)
    start = offset
    kept: deque[TailRecord] = deque(maxlen=limit)
    while offset < end:
        data = memoryview(log.read(offset, TAIL_READ_BYTES))
        if not data:
            break
        position = 0
        while position < len(data):
            header = read_header(data, position)
            if not header.is_control:  # transaction markers are not records anyone sent
                for record in decode_records(data[position : position + header.size]):
                    if record.offset >= start:
                        kept.append(
                            TailRecord(
                                partition.index,
                                record.offset,
                                record.timestamp,
                                record.key,
                                record.value,
                                record.headers,
                            )
                        )
            position += header.size
            offset = max(offset, header.next_offset)
    return kept


async def publish(
    broker: Broker, name: str, key: bytes | None, value: bytes, partition: int | None = None
) -> Published:
    """Append one record and return once it is as durable as the topic's fsync policy makes an
    acks=all produce. Without a partition, a key picks one as Kafka's default partitioner does
    (murmur2), and no key picks the partition holding the fewest offsets."""
    topic = broker.topic(name)
    if topic.internal:
        raise ForbiddenError(f"{name} is written by the broker only")
    if topic.config.compacted and key is None:
        raise InvalidError("a compacted topic keeps only records with a key; give one", field="key")
    size = len(key or b"") + len(value) + RECORD_OVERHEAD_BYTES
    if size > topic.config.max_message_bytes:
        raise TooLargeError(
            f"the message is over the topic's max.message.bytes of {topic.config.max_message_bytes}"
        )
    count = len(topic.partitions)
    if partition is None:
        partition = choose_partition(
            key, [p.log.log_end_offset - p.log.log_start_offset for p in topic.partitions]
        )
    elif not 0 <= partition < count:
        raise InvalidError(f"{name} has partitions 0 to {count - 1}, not {partition}", field="partition")
    target = topic.partitions[partition]
    offset = broker.append_records(target, [NewRecord(key=key, value=value, timestamp=broker.now_ms())])
    await broker.wait_durable(target, target.log.log_end_offset)
    return Published(name, partition, offset)


def choose_partition(key: bytes | None, held_offsets: list[int]) -> int:
    """Kafka's default partitioner for a keyed record (`toPositive(murmur2(key)) % partitions`, so the
    console's test messages land where Java, librdkafka's murmur2 mode and aiokafka put the same key);
    the emptiest partition for a record without one."""
    assert held_offsets, "a topic has at least one partition"
    if key is None:
        return min(range(len(held_offsets)), key=lambda index: (held_offsets[index], index))
    return (murmur2(key) & 0x7FFFFFFF) % len(held_offsets)


def murmur2(data: bytes) -> int:
    """MurmurHash2 as org.apache.kafka.common.utils.Utils.murmur2 computes it (seed 0x9747b28c), as a
    signed 32-bit integer."""
    mask = 0xFFFFFFFF
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = length % 4
    if rest:
        for shift, byte in reversed(list(enumerate(data[whole:]))):
            h ^= byte << (8 * shift)
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h
