"""A compacted topic end to end: librdkafka writes several values per key and some tombstones, the
broker's cleaner runs, and a consumer reading from the beginning sees only the newest value of each
key (offsets unchanged, in order), while keyless records are refused as Kafka refuses them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.eventlog.harness import RunningBroker, running_broker

pytestmark = pytest.mark.integration

KEYS = 20
ROUNDS = 8


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    # The cleaner runs when the test says, not on its own schedule.
    with running_broker(tmp_path_factory.mktemp("compaction"), cleaner_interval_seconds=3600.0) as running:
        yield running


def _read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, low)])
        got: list[tuple[int, bytes, bytes | None]] = []
        while not got or got[-1][0] < high - 1:
            message = consumer.poll(10)
            assert message is not None, f"read stopped at {got[-1][0] if got else low} of {high}"
            assert not message.error(), message.error()
            got.append((message.offset(), message.key(), message.value()))
        return got
    finally:
        consumer.close()


def test_compaction_keeps_the_newest_value_per_key(broker: RunningBroker) -> None:
    topic = f"compact-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=1,
                config={"cleanup.policy": "compact", "segment.bytes": "1024", "delete.retention.ms": "0"},
            )
        ]
    )[topic].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for round_ in range(ROUNDS):
        for key in range(KEYS):
            producer.produce(topic, key=f"k{key}".encode(), value=f"v{round_}".encode())
        producer.flush(30)
    for key in range(0, KEYS, 5):  # tombstones for every fifth key
        producer.produce(topic, key=f"k{key}".encode(), value=None)
    producer.produce(topic, key=b"last", value=b"keeps the tombstones out of the active segment")
    producer.flush(30)
    before = _read_all(broker.bootstrap, topic)

    def clean() -> int:
        partition = broker.eventlog.broker.partition(topic, 0)
        assert partition.log.segment_count >= 3, "the topic should have rolled segments to clean"
        return partition.log.compact(broker.eventlog.broker.now_ms()).segments_cleaned

    assert broker.run(clean) > 0
    after = _read_all(broker.bootstrap, topic)

    assert len(after) < len(before)
    offsets = [offset for offset, _, _ in after]
    assert offsets == sorted(offsets)
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, key, value in before:
        latest[key] = (offset, value)
    kept = {key: (offset, value) for offset, key, value in after}
    for key, (offset, value) in latest.items():
        if value is None:
            assert key not in kept or kept[key] == (offset, None)
        else:
            assert kept[key] == (offset, value)  # the newest value, at its original offset
    # Only the active segment (never cleaned) may still hold superseded values: they all come after
    # every record the cleaner removed.
    removed = {offset for offset, _, _ in before} - set(offsets)
    # A record goes only when a newer one has its key, or when it is the key's tombstone and older than
    # delete.retention.ms (0 here).
    assert all(
        latest[key] != (offset, value) or value is None for offset, key, value in before if offset in removed
    )
    stale = [offset for offset, key, value in after if (offset, value) != latest[key]]
    assert all(offset > max(removed) for offset in stale), (stale, max(removed))


def test_keyless_records_are_refused_by_a_compacted_topic(broker: RunningBroker) -> None:
    topic = f"compact-keys-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, config={"cleanup.policy": "compact"})])[
        topic
    ].result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.send.max.retries": 0})
    errors: list[KafkaError | None] = []
    producer.produce(topic, value=b"no key", on_delivery=lambda error, _: errors.append(error))
    producer.flush(30)
    assert errors[0] is not None
    assert errors[0].code() == KafkaError.INVALID_RECORD
