"""KafkaEventBus on scalebox's own broker: what the contract suite cannot show. Several processes
sharing one cluster, acks=all, the offset translation as an independent client sees it, partition 0,
and clear errors from a cluster that is down or silent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError, TooLargeError
from scalebox.core.events import Event, EventBusUnavailableError, KafkaEventBus, open_event_bus
from tests.eventlog.harness import RunningBroker

TIMEOUT_SECONDS = 10.0  # bounds every wait on a condition


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bus(
    kafka_broker: RunningBroker, kafka_namespace: str, clock: FakeClock
) -> AsyncIterator[KafkaEventBus]:
    bus = KafkaEventBus([kafka_broker.bootstrap], clock, namespace=kafka_namespace)
    yield bus
    await bus.close()


@contextlib.asynccontextmanager
async def open_buses(broker: RunningBroker, namespace: str, count: int) -> AsyncIterator[list[KafkaEventBus]]:
    """Independent buses on one cluster, as separate app processes would have."""
    buses = [KafkaEventBus([broker.bootstrap], FakeClock(), namespace=namespace) for _ in range(count)]
    try:
        yield buses
    finally:
        for bus in buses:
            await bus.close()


@contextlib.asynccontextmanager
async def raw_consumer(broker: RunningBroker, **options: object) -> AsyncIterator[AIOKafkaConsumer]:
    """A plain aiokafka consumer: an independent view of what the bus wrote."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, **options)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def test_buses_share_events_and_committed_offsets(
    kafka_broker: RunningBroker, kafka_namespace: str
) -> None:
    async with open_buses(kafka_broker, kafka_namespace, 2) as (one, two):
        assert await one.publish("a", b"k", b"from one") == 0
        assert await two.publish("a", b"k", b"from two") == 1
        assert [event.value for event in await two.poll("a", "g")] == [b"from one", b"from two"]
        await two.commit("a", "g", 0)
        assert await one.committed("a", "g") == 0
        assert [event.offset for event in await one.poll("a", "g")] == [1]


async def test_wait_wakes_on_a_publish_by_another_bus(
    kafka_broker: RunningBroker, kafka_namespace: str
) -> None:
    async with open_buses(kafka_broker, kafka_namespace, 2) as (one, two):
        await two.publish("a", b"k", b"old")
        waiting = asyncio.create_task(one.wait("a", 0, timeout_seconds=TIMEOUT_SECONDS * 10))
        # Nothing newer yet: the waiter parks (only the broker can wake it: `one` publishes nothing).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiting), 0.3)
        await two.publish("a", b"k", b"new")
        assert await asyncio.wait_for(waiting, TIMEOUT_SECONDS)


async def test_wait_long_polls_rather_than_polling_often(
    bus: KafkaEventBus, kafka_broker: RunningBroker
) -> None:
    assert not await bus.wait("a", -1, timeout_seconds=0.5)  # creates the topic, starts the clients
    before = kafka_broker.eventlog.server.requests_total
    assert not await bus.wait("a", -1, timeout_seconds=1.0)
    # One ListOffsets, then Fetches the broker holds up to 500 ms each (3 in all); polling even ten
    # times a second would make a dozen.
    assert kafka_broker.eventlog.server.requests_total - before <= 6


async def test_publish_returns_once_the_broker_made_the_event_durable(
    bus: KafkaEventBus, kafka_broker: RunningBroker, kafka_namespace: str
) -> None:
    name = kafka_namespace + "a"
    offset = await bus.publish("a", b"k", b"acked")
    # acks=all: our broker answers only after the fsync that makes the offset durable.
    durable = kafka_broker.run(lambda: kafka_broker.eventlog.broker.partition(name, 0).log.durable_offset)
    assert durable > offset
    async with raw_consumer(kafka_broker) as consumer:
        partition = TopicPartition(name, 0)
        consumer.assign([partition])
        consumer.seek(partition, offset)
        record = await asyncio.wait_for(consumer.getone(), TIMEOUT_SECONDS)
    assert (record.offset, record.key, record.value) == (offset, b"k", b"acked")


async def test_concurrent_first_publishes_share_one_producer(bus: KafkaEventBus) -> None:
    offsets = await asyncio.gather(*(bus.publish("a", b"k", b"v%d" % i) for i in range(20)))
    assert sorted(offsets) == list(range(20))
    assert [event.value for event in await bus.poll("a", "g")] == [
        b"v%d" % offsets.index(offset) for offset in range(20)
    ]


async def test_kafka_commit_is_the_next_offset_to_read(
    bus: KafkaEventBus, kafka_broker: RunningBroker, kafka_namespace: str
) -> None:
    await bus.publish_batch("a", [(b"k", b"v%d" % i) for i in range(6)])
    await bus.commit("a", "g", 3)
    partition = TopicPartition(kafka_namespace + "a", 0)
    async with raw_consumer(kafka_broker, group_id=kafka_namespace + "g") as consumer:
        assert await consumer.committed(partition) == 4
        consumer.assign([partition])
        await consumer.commit({partition: 5})  # a Kafka client that has read offsets 0..4
    assert await bus.committed("a", "g") == 4
    assert [event.offset for event in await bus.poll("a", "g")] == [5]


async def test_poll_reads_partition_0_of_a_topic_written_by_other_clients(
    bus: KafkaEventBus, kafka_broker: RunningBroker, kafka_namespace: str
) -> None:
    name = kafka_namespace + "a"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            name, b"tombstone-like", key=None, partition=0, timestamp_ms=1_700_000_000_123
        )
        await producer.send_and_wait(name, b"elsewhere", key=b"k", partition=1)
    finally:
        await producer.stop()
    stamped = datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)
    assert await bus.poll("a", "g") == [Event("a", b"", b"tombstone-like", 0, stamped)]
    assert await bus.latest_offset("a") == 0


async def test_trim_is_a_no_op_that_keeps_every_event(bus: KafkaEventBus, clock: FakeClock) -> None:
    await bus.publish_batch("a", [(b"k", b"1"), (b"k", b"2")])
    await bus.commit("a", "g", 1)
    clock.advance(seconds=3600)
    assert await bus.trim("a", keep_after=clock.now()) == 0
    assert [event.offset for event in await bus.poll("a", "newcomer")] == [0, 1]


async def test_publish_of_a_value_over_the_request_size_raises_too_large(bus: KafkaEventBus) -> None:
    with pytest.raises(TooLargeError):
        await bus.publish("a", b"k", b"x" * (2 * 1024 * 1024))


async def test_unreachable_cluster_raises_unavailable(clock: FakeClock) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bus = KafkaEventBus([f"127.0.0.1:{port}"], clock, timeout_seconds=2.0)
    try:
        with pytest.raises(EventBusUnavailableError, match=f"127.0.0.1:{port}"):
            await asyncio.wait_for(bus.publish("a", b"k", b"v"), TIMEOUT_SECONDS)
        with pytest.raises(EventBusUnavailableError):
            await asyncio.wait_for(bus.poll("a", "g"), TIMEOUT_SECONDS)
    finally:
        await bus.close()


async def test_silent_cluster_raises_unavailable_within_the_timeout(clock: FakeClock) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts requests and never answers one
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bus = KafkaEventBus([f"127.0.0.1:{port}"], clock, timeout_seconds=0.5)
    try:
        with pytest.raises(EventBusUnavailableError):
            await asyncio.wait_for(bus.latest_offset("a"), TIMEOUT_SECONDS)
    finally:
        await bus.close()
        server.close()
        await server.wait_closed()


async def test_close_ends_a_parked_wait(bus: KafkaEventBus) -> None:
    waiting = asyncio.create_task(bus.wait("a", -1, timeout_seconds=TIMEOUT_SECONDS * 10))
    with pytest.raises(TimeoutError):  # parked: the topic is empty
        await asyncio.wait_for(asyncio.shield(waiting), 0.3)
    await bus.close()
    with pytest.raises(EventBusUnavailableError, match="closed"):
        await asyncio.wait_for(waiting, TIMEOUT_SECONDS)


async def test_closed_bus_raises_unavailable(bus: KafkaEventBus) -> None:
    await bus.publish("a", b"k", b"v")
    await bus.close()
    with pytest.raises(EventBusUnavailableError, match="closed"):
        await bus.publish("a", b"k", b"v")


async def test_open_event_bus_reads_kafka_urls(
    kafka_broker: RunningBroker, kafka_namespace: str, clock: FakeClock
) -> None:
    with socket.socket() as probe:  # a dead first broker: the client goes on to the next one
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    url = (
        f"kafka://127.0.0.1:{dead},{kafka_broker.bootstrap}?namespace={kafka_namespace}&replication_factor=1"
    )
    bus = open_event_bus(url, clock=clock)
    try:
        assert isinstance(bus, KafkaEventBus)
        assert await bus.publish("a", b"k", b"v") == 0
    finally:
        await bus.close()
    other = KafkaEventBus([kafka_broker.bootstrap], clock, namespace=kafka_namespace)
    try:
        assert await other.latest_offset("a") == 0  # the namespace was applied
    finally:
        await other.close()


@pytest.mark.parametrize(
    "url",
    [
        "kafka://host",
        "kafka://host:0",
        "kafka://host:port",
        "kafka://:9092",
        "kafka://host:9092,",
        "kafka://host:9092/path",
        "kafka://host:9092?color=red",
        "kafka://host:9092?replication_factor=0",
    ],
)
def test_open_event_bus_rejects_malformed_kafka_urls(url: str, clock: FakeClock) -> None:
    with pytest.raises(InvalidError, match=r"event bus URL|replication_factor"):
        open_event_bus(url, clock=clock)
