"""SASL on a listener configured for it: PLAIN and SCRAM-SHA-256 with librdkafka, kafka-python and
aiokafka; wrong passwords and unauthenticated requests are refused, and the stored users file holds
no password."""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaProducer

from scalebox.eventlog.service.sasl import _check_plain, make_credential
from tests.eventlog.harness import RunningBroker, running_broker
from tests.servers import HOST

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with running_broker(tmp_path_factory.mktemp("sasl"), sasl_port=0, sasl_required=True) as running:
        running.eventlog.broker.users.save({USER: make_credential(PASSWORD)})
        yield running


def _confluent(broker: RunningBroker, mechanism: str, password: str) -> dict[str, object]:
    return {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": USER,
        "sasl.password": password,
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_confluent_authenticates_and_produces(broker: RunningBroker, mechanism: str) -> None:
    producer = Producer(_confluent(broker, mechanism, PASSWORD))
    errors: list[KafkaError] = []
    producer.produce(f"sasl-{uuid.uuid4().hex[:6]}", value=b"hi", on_delivery=lambda e, _: errors.append(e))
    assert producer.flush(30) == 0
    assert errors == [None]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_wrong_password_is_refused(broker: RunningBroker, mechanism: str) -> None:
    seen: list[KafkaError] = []
    admin = AdminClient({**_confluent(broker, mechanism, "wrong"), "error_cb": seen.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=2)
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        admin.poll(0.2)  # error callbacks are served from poll
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen
    assert any("invalid credentials" in e.str() for e in seen), seen


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_kafka_python_authenticates(broker: RunningBroker, mechanism: str) -> None:
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=USER,
        sasl_plain_password=PASSWORD,
    )
    metadata = producer.send(f"kp-sasl-{uuid.uuid4().hex[:6]}", b"x").get(30)
    producer.close()
    assert metadata.offset == 0


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_aiokafka_authenticates_and_is_refused_with_a_wrong_password(
    broker: RunningBroker, mechanism: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=USER,
        sasl_plain_password=PASSWORD,
    )
    await producer.start()
    try:
        record = await producer.send_and_wait(f"aio-sasl-{uuid.uuid4().hex[:6]}", b"x")
    finally:
        await producer.stop()
    assert record.offset == 0
    refused = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=USER,
        sasl_plain_password="nope",
        request_timeout_ms=5000,
    )
    with pytest.raises(AioKafkaError):
        await refused.start()
    await refused.stop()


def test_requests_before_authentication_close_the_connection(broker: RunningBroker) -> None:
    # Metadata v1 (api key 3) straight away, without SaslHandshake: the broker hangs up.
    payload = struct.pack(">hhih", 3, 1, 1, 1) + b"t" + struct.pack(">i", -1)
    with socket.create_connection((HOST, broker.port), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        assert sock.recv(1) == b""


def test_users_file_holds_scram_keys_not_passwords(broker: RunningBroker) -> None:
    text = broker.eventlog.broker.users.path.read_text()
    assert PASSWORD not in text
    assert '"stored_key"' in text
    users = broker.eventlog.broker.users.load()
    assert _check_plain(f"\x00{USER}\x00{PASSWORD}".encode(), users) == USER
