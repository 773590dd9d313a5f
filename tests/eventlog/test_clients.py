"""Our broker, other people's clients: confluent-kafka (librdkafka), kafka-python, aiokafka and kcat,
unmodified, over real sockets. Each produces with every codec it supports, consumes a partition,
consumes as a group and resumes from committed offsets; the idempotent producer and topic admin
are driven through them too."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as ConfluentPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin import NewPartitions as ConfluentNewPartitions
from confluent_kafka.admin import NewTopic as ConfluentNewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPythonPartition
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KafkaPythonNewTopic

from tests.eventlog.harness import RunningBroker, running_broker

pytestmark = pytest.mark.integration

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with running_broker(tmp_path_factory.mktemp("broker")) as running:
        yield running


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _confluent_consume(
    bootstrap: str, topic: str, count: int, **config: object
) -> list[tuple[bytes, bytes, int]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": config.pop("group.id", f"g-{uuid.uuid4().hex[:6]}"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            **config,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes, int]] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(got) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            got.append((message.key(), message.value(), message.offset()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return got


# -- confluent-kafka (librdkafka) ------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_produce_and_consume_each_codec(broker: RunningBroker, codec: str) -> None:
    topic = _topic(f"ck-{codec}")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 5})
    acknowledged: list[int] = []

    def delivered(error: KafkaError | None, message: object) -> None:
        assert error is None, error
        acknowledged.append(message.offset())  # type: ignore[attr-defined]

    for i in range(200):
        producer.produce(topic, key=f"k{i}".encode(), value=f"value {i} ".encode() * 5, on_delivery=delivered)
    assert producer.flush(TIMEOUT) == 0
    assert sorted(acknowledged) == list(range(200))
    got = _confluent_consume(broker.bootstrap, topic, 200)
    assert [offset for _, _, offset in got] == list(range(200))
    assert got[7] == (b"k7", b"value 7 " * 5, 7)


def test_confluent_group_commit_and_resume(broker: RunningBroker) -> None:
    topic = _topic("ck-resume")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        producer.produce(topic, value=str(i).encode())
    producer.flush(TIMEOUT)
    group = f"resume-{uuid.uuid4().hex[:6]}"
    first = _confluent_consume(broker.bootstrap, topic, 20, **{"group.id": group})
    assert [int(v) for _, v, _ in first] == list(range(20))
    rest = _confluent_consume(broker.bootstrap, topic, 30, **{"group.id": group})
    assert [int(v) for _, v, _ in rest] == list(range(20, 50))


def test_confluent_idempotent_producer(broker: RunningBroker) -> None:
    topic = _topic("ck-idem")
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2}
    )
    for i in range(1000):
        producer.produce(topic, key=str(i % 7).encode(), value=str(i).encode())
    assert producer.flush(TIMEOUT) == 0
    got = _confluent_consume(broker.bootstrap, topic, 1000)
    assert [int(v) for _, v, _ in got] == list(range(1000))


def test_confluent_assign_and_seek(broker: RunningBroker) -> None:
    topic = _topic("ck-assign")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(30):
        producer.produce(topic, value=str(i).encode())
    producer.flush(TIMEOUT)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    consumer.assign([ConfluentPartition(topic, 0, 12)])
    try:
        messages = consumer.consume(num_messages=18, timeout=TIMEOUT)
        while len(messages) < 18:
            messages += consumer.consume(num_messages=18 - len(messages), timeout=TIMEOUT)
        assert [int(m.value()) for m in messages] == list(range(12, 30))
        low, high = consumer.get_watermark_offsets(ConfluentPartition(topic, 0), timeout=TIMEOUT)
        assert (low, high) == (0, 30)
    finally:
        consumer.close()


def test_confluent_admin(broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = _topic("ck-admin")
    futures = admin.create_topics(
        [ConfluentNewTopic(topic, num_partitions=3, config={"retention.ms": "3600000"})]
    )
    futures[topic].result(TIMEOUT)
    again = admin.create_topics([ConfluentNewTopic(topic, num_partitions=1)])
    with pytest.raises(KafkaException) as exists:
        again[topic].result(TIMEOUT)
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    metadata = admin.list_topics(timeout=TIMEOUT)
    assert len(metadata.topics[topic].partitions) == 3
    admin.create_partitions([ConfluentNewPartitions(topic, 5)])[topic].result(TIMEOUT)
    assert len(admin.list_topics(timeout=TIMEOUT).topics[topic].partitions) == 5
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"
    change = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[])
    change.add_incremental_config(
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)
    )
    admin.incremental_alter_configs([change])[change].result(TIMEOUT)
    assert admin.describe_configs([resource])[resource].result(TIMEOUT)["retention.ms"].value == "60000"
    bad = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[])
    bad.add_incremental_config(
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)
    )
    with pytest.raises(KafkaException):
        admin.incremental_alter_configs([bad])[bad].result(TIMEOUT)
    admin.delete_topics([topic])[topic].result(TIMEOUT)
    assert topic not in admin.list_topics(timeout=TIMEOUT).topics


def test_confluent_refuses_bad_topic_names(broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([ConfluentNewTopic("bad name!", num_partitions=1)])
    with pytest.raises(KafkaException) as refused:
        futures["bad name!"].result(TIMEOUT)
    assert refused.value.args[0].code() == KafkaError.TOPIC_EXCEPTION


# -- kafka-python --------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_produce_and_consume_each_codec(broker: RunningBroker, codec: str | None) -> None:
    topic = _topic(f"kp-{codec}")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, linger_ms=5)
    futures = [producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(100)]
    producer.flush(TIMEOUT)
    assert sorted(f.get(TIMEOUT).offset for f in futures) == list(range(100))
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=int(TIMEOUT * 1000))
    consumer.assign([KafkaPythonPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    for message in consumer:
        got.append((message.key, message.value, message.offset))
        if len(got) == 100:
            break
    consumer.close()
    assert got[42] == (b"k42", b"v42", 42)
    assert [offset for _, _, offset in got] == list(range(100))


def test_kafka_python_group_and_idempotence(broker: RunningBroker) -> None:
    topic = _topic("kp-group")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all")
    for i in range(60):
        producer.send(topic, value=str(i).encode())
    producer.flush(TIMEOUT)
    producer.close()
    group = f"kp-{uuid.uuid4().hex[:6]}"

    def consume(count: int) -> list[int]:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=int(TIMEOUT * 1000),
            session_timeout_ms=6000,
        )
        got = []
        for message in consumer:
            got.append(int(message.value))
            if len(got) == count:
                break
        consumer.commit()
        consumer.close()
        return got

    assert consume(25) == list(range(25))
    assert consume(35) == list(range(25, 60))


def test_kafka_python_admin(broker: RunningBroker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    topic = _topic("kp-admin")
    admin.create_topics([KafkaPythonNewTopic(topic, num_partitions=2, replication_factor=1)])
    assert topic in admin.list_topics()
    described = admin.describe_topics([topic])
    assert len(described[0]["partitions"]) == 2
    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    admin.close()


# -- aiokafka ------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
async def test_aiokafka_produce_and_group_consume(broker: RunningBroker, codec: str | None) -> None:
    topic = _topic(f"aio-{codec}")
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, linger_ms=5)
    await producer.start()
    try:
        batch = [producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(100)]
        results = await asyncio.gather(*[await future for future in batch])
    finally:
        await producer.stop()
    assert sorted(r.offset for r in results) == list(range(100))
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"aio-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got = []
        while len(got) < 100:
            records = await consumer.getmany(timeout_ms=int(TIMEOUT * 1000), max_records=100)
            assert records, "no records within the timeout"
            for messages in records.values():
                got.extend((m.key, m.value, m.offset) for m in messages)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    assert got[99] == (b"k99", b"v99", 99)
    assert committed == 100


async def test_aiokafka_idempotent_producer_and_admin(broker: RunningBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    topic = _topic("aio-admin")
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        assert topic in await admin.list_topics()
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for i in range(40):
                await producer.send_and_wait(topic, value=str(i).encode(), partition=i % 2)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
            assert await consumer.end_offsets(partitions) == {partitions[0]: 20, partitions[1]: 20}
            assert await consumer.beginning_offsets(partitions) == {partitions[0]: 0, partitions[1]: 0}
        finally:
            await consumer.stop()
        await admin.delete_topics([topic])
    finally:
        await admin.close()


# -- kcat ----------------------------------------------------------------------------------------


def test_kcat_produce_and_consume(broker: RunningBroker, tmp_path: Path) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("kcat is not installed (make system-deps installs it)")
    topic = _topic("kcat")
    lines = "\n".join(f"key{i}:value{i}" for i in range(25)) + "\n"
    subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", topic, "-P", "-K:", "-z", "lz4"],
        input=lines.encode(),
        check=True,
        timeout=TIMEOUT,
    )
    consumed = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%k=%s@%o\n"],
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
    )
    assert consumed.stdout.decode().splitlines() == [f"key{i}=value{i}@{i}" for i in range(25)]
    listed = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-L", "-t", topic], capture_output=True, check=True, timeout=TIMEOUT
    )
    assert f'topic "{topic}" with 1 partitions' in listed.stdout.decode()
