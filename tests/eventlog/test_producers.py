"""The idempotent producer at the broker: duplicates are acknowledged with their first offset and not
written again, gaps and old epochs are refused, and the table survives a restart because it is
rebuilt from the log. Also: committed group offsets survive a restart (they live in
__consumer_offsets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from scalebox.core.clock import FakeClock
from scalebox.eventlog.errors import InvalidProducerEpochError, OutOfOrderSequenceError
from scalebox.eventlog.protocol.records import NewRecord, encode_batch
from scalebox.eventlog.service.broker import Broker
from scalebox.eventlog.service.producers import ProducerStates
from tests.eventlog.harness import running_broker


def _batch(producer_id: int, epoch: int, sequence: int, count: int = 2) -> bytes:
    records = [NewRecord(key=b"k", value=f"{sequence}-{i}".encode(), timestamp=0) for i in range(count)]
    return encode_batch(records, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence)


def test_producer_states_rules() -> None:
    states = ProducerStates()
    states.record(7, 0, 0, 2, base_offset=0)
    states.record(7, 0, 2, 2, base_offset=2)
    with pytest.raises(OutOfOrderSequenceError):
        states.check(7, 0, 9, 1)
    with pytest.raises(InvalidProducerEpochError):
        states.check(7, -5, 4, 1)
    states.check(7, 0, 4, 1)  # the next sequence is fine
    states.check(7, 1, 0, 1)  # a new epoch starts at 0
    with pytest.raises(OutOfOrderSequenceError):
        states.check(7, 1, 3, 1)
    states.check(-1, -1, -1, 5)  # not idempotent: never checked


async def _open(directory: Path) -> Broker:
    broker = Broker(directory, FakeClock())
    broker.open()
    broker.create_topic("idem", 1, {})
    return broker


async def test_duplicates_are_acknowledged_not_written_and_survive_a_restart(tmp_path: Path) -> None:
    broker = await _open(tmp_path)
    partition = broker.partition("idem", 0)
    first = broker.append(partition, _batch(42, 0, 0))
    second = broker.append(partition, _batch(42, 0, 2))
    retry = broker.append(partition, _batch(42, 0, 0))
    assert (first.base_offset, second.base_offset) == (0, 2)
    assert retry.duplicate
    assert retry.base_offset == 0
    assert partition.log.log_end_offset == 4
    with pytest.raises(OutOfOrderSequenceError):
        broker.append(partition, _batch(42, 0, 7))
    await broker.close()

    reopened = Broker(tmp_path, FakeClock())
    reopened.open()
    partition = reopened.partition("idem", 0)
    again = reopened.append(partition, _batch(42, 0, 2))
    assert again.duplicate
    assert again.base_offset == 2
    assert reopened.append(partition, _batch(42, 0, 4)).base_offset == 4
    await reopened.close()


async def test_producer_ids_are_never_handed_out_twice_across_restarts(tmp_path: Path) -> None:
    broker = await _open(tmp_path)
    ids = {broker.allocate_producer_id() for _ in range(3)}
    await broker.close()
    reopened = Broker(tmp_path, FakeClock())
    reopened.open()
    assert reopened.allocate_producer_id() not in ids
    await reopened.close()


@pytest.mark.integration
def test_committed_offsets_survive_a_broker_restart(tmp_path: Path) -> None:
    with running_broker(tmp_path) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for i in range(10):
            producer.produce("restart", value=str(i).encode())
        producer.flush(30)
        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap, "group.id": "keeper", "enable.auto.commit": False}
        )
        consumer.commit(offsets=[TopicPartition("restart", 0, 7)], asynchronous=False)
        consumer.close()
    with running_broker(tmp_path) as broker:
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "keeper"})
        try:
            committed = consumer.committed([TopicPartition("restart", 0)], timeout=30)
        finally:
            consumer.close()
        assert committed[0].offset == 7


async def test_flush_ms_policy_syncs_within_the_interval_and_acks_all_waits_for_it(tmp_path: Path) -> None:
    broker = Broker(tmp_path, FakeClock())
    broker.open()
    broker.create_topic("timed", 1, {"flush.messages": "1000000", "flush.ms": "50"})
    partition = broker.partition("timed", 0)
    appended = broker.append(partition, _batch(-1, -1, -1, count=3))
    assert partition.log.durable_offset < appended.next_offset  # not synced on append
    await asyncio.wait_for(broker.wait_durable(partition, appended.next_offset), timeout=5)
    assert partition.log.durable_offset >= appended.next_offset
    await broker.close()


async def test_without_a_sync_policy_acks_all_does_not_wait(tmp_path: Path) -> None:
    broker = Broker(tmp_path, FakeClock())
    broker.open()
    broker.create_topic("lazy", 1, {"flush.messages": "1000000"})
    partition = broker.partition("lazy", 0)
    appended = broker.append(partition, _batch(-1, -1, -1))
    await asyncio.wait_for(broker.wait_durable(partition, appended.next_offset), timeout=1)
    assert partition.log.durable_offset < appended.next_offset  # page cache only, as configured
    await broker.close()
