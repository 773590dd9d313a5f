"""kill -9 under load: an idempotent acks=all producer (librdkafka) keeps producing while the broker
process is killed and started again on the same port. Afterwards every acknowledged record is
readable, offsets are contiguous, and the retries that crossed the crash wrote nothing twice."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from tests.servers import HOST, free_port, scalebox_argv, scalebox_env, wait_until

pytestmark = pytest.mark.integration

TOPIC = "crash"
BEFORE_KILL = 3000
AFTER_RESTART = 1000


class BrokerProcess:
    def __init__(self, data_dir: Path, port: int, log_path: Path) -> None:
        self.env = scalebox_env(
            data_dir,
            SCALEBOX_EVENTLOG_PORT=str(port),
            SCALEBOX_EVENTLOG_CONSOLE_PORT="-1",
            SCALEBOX_EVENTLOG_NUM_PARTITIONS="2",
        )
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                scalebox_argv("eventlog", "serve"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        wait_until(
            self._accepts, timeout_seconds=45, describe=lambda: self.log_path.read_text(errors="replace")
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def _accepts(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"broker exited with {self.process.returncode}: {self.log_path.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1):
            return True
        return False


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(tmp_path / "data", free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_acknowledged_records_survive_kill_9_without_duplicates(  # noqa: PLR0915 - one scenario, told in order
    broker_process: BrokerProcess,
) -> None:
    bootstrap = f"{HOST}:{broker_process.port}"
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "message.timeout.ms": 120_000,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
        }
    )
    acknowledged: dict[bytes, tuple[int, int]] = {}
    failures: list[KafkaError] = []
    lock = threading.Lock()

    def delivered(error: KafkaError | None, message: object) -> None:
        with lock:
            if error is not None:
                failures.append(error)
            else:
                acknowledged[message.value()] = (message.partition(), message.offset())  # type: ignore[attr-defined]

    sent = 0

    def produce(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            while True:
                try:
                    producer.produce(
                        TOPIC, key=str(sent % 13).encode(), value=str(sent).encode(), on_delivery=delivered
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            sent += 1
            producer.poll(0)

    produce(BEFORE_KILL)
    deadline = time.monotonic() + 30
    while len(acknowledged) < BEFORE_KILL // 2 and time.monotonic() < deadline:
        producer.poll(0.05)
    assert len(acknowledged) >= BEFORE_KILL // 2, "the broker acknowledged too little before the crash"
    broker_process.kill()  # while requests are in flight
    acknowledged_at_kill = dict(acknowledged)
    produce(AFTER_RESTART)  # buffered by the client while the broker is down
    broker_process.start()
    assert producer.flush(90) == 0, "records still unacknowledged after the restart"
    assert not failures, failures

    values: list[bytes] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify", "enable.auto.commit": False})
    try:
        for partition in (0, 1):
            low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=30)
            consumer.assign([TopicPartition(TOPIC, partition, low)])
            offsets = []
            while len(offsets) < high - low:
                message = consumer.poll(5)
                assert message is not None, f"partition {partition}: read {len(offsets)} of {high - low}"
                assert not message.error(), message.error()
                offsets.append(message.offset())
                values.append(message.value())
                assert acknowledged.get(message.value()) in (None, (partition, message.offset()))
            assert offsets == list(range(low, high)), "offsets are not contiguous"
    finally:
        consumer.close()
    assert len(values) == len(set(values)), "a retried record was written twice"
    assert set(acknowledged_at_kill) <= set(values), "an acknowledged record was lost"
    assert {str(i).encode() for i in range(sent)} == set(values)
