"""Three librdkafka consumers join and leave one group while records flow, with each assignor
(range, roundrobin, cooperative-sticky). Every record is consumed, and no partition is ever held by
two members at once: each member logs its assignments and revocations, and the intervals during
which members hold a partition never overlap."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.eventlog.harness import RunningBroker, running_broker

pytestmark = pytest.mark.integration

PARTITIONS = 6
RECORDS = 1200


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with running_broker(tmp_path_factory.mktemp("groups")) as running:
        yield running


class Member:
    """One consumer on its own thread, committing each record before taking the next."""

    def __init__(
        self, name: str, bootstrap: str, group: str, topic: str, *, assignor: str, ledger: Ledger
    ) -> None:
        self.name = name
        self.ledger = ledger
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": name,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "partition.assignment.strategy": assignor,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 200,
            }
        )
        self.topic = topic
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), f"{self.name} did not stop"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self.consumer.subscribe(
                [self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
            )
            while not self.stopping.is_set():
                message = self.consumer.poll(0.1)
                if message is None:
                    continue
                if message.error():
                    raise KafkaException(message.error())
                self.ledger.consumed(self.name, message.partition(), message.offset())
                try:
                    committed = self.consumer.commit(message=message, asynchronous=False)
                except KafkaException as exc:
                    # A commit that races a rebalance is refused (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION),
                    # as Kafka refuses it: the record may then be delivered again, at least once.
                    self.ledger.commit_refused(message.partition(), message.offset(), exc)
                    continue
                # A refusal can also come back as the partition's own error in the returned list.
                for part in committed or ():
                    if part.error is not None:
                        self.ledger.commit_refused(message.partition(), message.offset(), part.error)
                self.ledger.note(f"{self.name} committed past {message.partition()}@{message.offset()}")
        except BaseException as exc:
            self.error = exc
        finally:
            self.consumer.close()  # revokes (logged) and leaves the group

    # The client applies the (incremental) assignment itself once these callbacks return.
    def _assigned(self, consumer: Consumer, partitions: list[object]) -> None:
        self.ledger.event(self.name, "assign", [p.partition for p in partitions])  # type: ignore[attr-defined]

    def _revoked(self, consumer: Consumer, partitions: list[object]) -> None:
        self.ledger.event(self.name, "revoke", [p.partition for p in partitions])  # type: ignore[attr-defined]


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders: dict[int, str] = {}
        self.overlaps: list[str] = []
        self.records: dict[tuple[int, int], list[str]] = {}
        self.history: list[str] = []  # shown when a wait times out or a record was read twice
        self.refused: set[tuple[int, int]] = set()

    def event(self, member: str, kind: str, partitions: list[int]) -> None:
        with self.lock:
            self._log(f"{member} {kind} {sorted(partitions)}")
            for partition in partitions:
                holder = self.holders.get(partition)
                if kind == "assign":
                    if holder not in (None, member):
                        self.overlaps.append(f"{member} got partition {partition} while {holder} held it")
                    self.holders[partition] = member
                elif holder == member:
                    del self.holders[partition]

    def note(self, text: str) -> None:
        with self.lock:
            self._log(text)

    def commit_refused(self, partition: int, offset: int, error: object) -> None:
        with self.lock:
            self._log(f"commit of {partition}@{offset} refused: {error}")
            self.refused.add((partition, offset))

    def _log(self, text: str) -> None:
        """A line of history, stamped; the caller holds the lock."""
        self.history.append(f"{time.monotonic():.2f} {text}")

    def consumed(self, member: str, partition: int, offset: int) -> None:
        with self.lock:
            self.records.setdefault((partition, offset), []).append(member)
            if self.holders.get(partition) != member:
                self.overlaps.append(f"{member} read {partition}@{offset} without holding it")


def _wait(predicate: object, timeout: float, what: str, ledger: Ledger) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}: " + "\n".join(ledger.history)
        time.sleep(0.05)


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_three_members_join_and_leave_without_loss_or_double_ownership(
    broker: RunningBroker, assignor: str
) -> None:
    topic = f"grp-{assignor}-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: futures die with their client
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS)])[topic].result(30)
    ledger = Ledger()
    group = f"g-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})

    def produce(start: int, count: int) -> None:
        for i in range(start, start + count):
            producer.produce(topic, key=str(i).encode(), value=str(i).encode())
        assert producer.flush(30) == 0

    members = [
        Member(f"m{i}", broker.bootstrap, group, topic, assignor=assignor, ledger=ledger) for i in range(3)
    ]
    try:
        produce(0, RECORDS // 4)
        members[0].start()
        _wait(lambda: len(ledger.records) >= RECORDS // 8, 30, "the first member to consume", ledger)
        members[1].start()
        produce(RECORDS // 4, RECORDS // 4)
        _wait(
            lambda: len({m for m in ledger.holders.values()}) == 2,
            30,
            "the second member to get partitions",
            ledger,
        )
        members[2].start()
        produce(RECORDS // 2, RECORDS // 4)
        _wait(
            lambda: len({m for m in ledger.holders.values()}) == 3,
            30,
            "the third member to get partitions",
            ledger,
        )
        members[0].stop()  # leaves the group: its partitions move to the others
        produce(3 * RECORDS // 4, RECORDS // 4)
        _wait(lambda: len(ledger.records) == RECORDS, 60, "every record to be consumed", ledger)
        for member in members[1:]:
            member.stop()

    finally:
        for member in members:
            if member.thread.is_alive():
                member.stopping.set()
                member.thread.join(timeout=30)

    assert not ledger.overlaps, ledger.overlaps
    assert len(ledger.records) == RECORDS, "records were lost"
    # Each record is committed before the next is read and partitions are revoked before they move,
    # so a record is read twice only after its commit was refused by a rebalance.
    doubles = {key: who for key, who in ledger.records.items() if len(who) > 1}
    assert set(doubles) <= {(p, o) for p, o in ledger.refused}, (doubles, "\n".join(ledger.history))
