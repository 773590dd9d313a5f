"""Hostile and odd bytes on the Kafka listener, over a raw socket: every one closes that connection
or gets the protocol's error code, and the broker keeps serving everyone else."""

from __future__ import annotations

import datetime
import io
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kio.schema.api_versions.v0.response import ApiVersionsResponse as ApiVersionsV0
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.api_versions.v3.response import ApiVersionsResponse as ApiVersionsV3
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.metadata.v12.response import MetadataResponse
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.produce.v9.response import ProduceResponse
from kio.serial import entity_reader, entity_writer

from scalebox.eventlog.protocol.codec import SUPPORTED
from scalebox.eventlog.protocol.records import NewRecord, encode_batch
from tests.eventlog.harness import RunningBroker, running_broker
from tests.servers import HOST, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with running_broker(tmp_path_factory.mktemp("wire"), frame_bytes_max=1024 * 1024) as running:
        yield running


def _connect(broker: RunningBroker) -> socket.socket:
    sock = socket.create_connection((HOST, broker.port), timeout=10)
    sock.settimeout(10)
    return sock


def _header(
    api_key: int, version: int, correlation_id: int, *, flexible: bool, client_id: bytes = b"t"
) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    return header + (b"\x00" if flexible else b"")


def _request(header: bytes, body: bytes) -> bytes:
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _api_versions_v3(correlation_id: int) -> bytes:
    body = io.BytesIO()
    entity_writer(ApiVersionsRequest)(
        body, ApiVersionsRequest(client_software_name="t", client_software_version="1")
    )
    return _request(_header(18, 3, correlation_id, flexible=True), body.getvalue())


def _read_frame(sock: socket.socket) -> bytes:
    size = struct.unpack(">i", _read_exactly(sock, 4))[0]
    return _read_exactly(sock, size)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _still_serving(broker: RunningBroker) -> None:
    with _connect(broker) as sock:
        sock.sendall(_api_versions_v3(99))
        frame = _read_frame(sock)
        assert struct.unpack(">i", frame[:4])[0] == 99


def test_api_versions_v3_answers_with_header_v0_and_our_ranges(broker: RunningBroker) -> None:
    with _connect(broker) as sock:
        sock.sendall(_api_versions_v3(7))
        frame = _read_frame(sock)
    assert struct.unpack(">i", frame[:4])[0] == 7
    # Response header v0 even though v3 is flexible: the body starts right after the correlation id.
    response, _ = entity_reader(ApiVersionsV3)(frame, 4)
    assert response.error_code == 0
    advertised = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert advertised == {key: (low, high) for key, (_, low, high) in SUPPORTED.items()}


def test_unknown_api_versions_version_gets_unsupported_version_in_v0(broker: RunningBroker) -> None:
    with _connect(broker) as sock:
        sock.sendall(_request(_header(18, 99, 5, flexible=False), b"\x00\x00\x00\x00"))
        frame = _read_frame(sock)
    assert struct.unpack(">i", frame[:4])[0] == 5
    response, _ = entity_reader(ApiVersionsV0)(frame, 4)
    assert response.error_code == 35  # UNSUPPORTED_VERSION
    assert any(k.api_key == 18 and k.max_version == 4 for k in response.api_keys)


def test_pipelined_requests_are_answered_in_order(broker: RunningBroker) -> None:
    body = io.BytesIO()
    entity_writer(MetadataRequest)(
        body,
        MetadataRequest(
            topics=(MetadataRequestTopic(topic_id=None, name="pipelined"),),
            allow_auto_topic_creation=True,
            include_topic_authorized_operations=False,
        ),
    )
    metadata = _request(_header(3, 12, 2, flexible=True), body.getvalue())
    with _connect(broker) as sock:
        sock.sendall(_api_versions_v3(1) + metadata + _api_versions_v3(3))
        ids = []
        for _ in range(3):
            frame = _read_frame(sock)
            ids.append(struct.unpack(">i", frame[:4])[0])
            if ids[-1] == 2:
                response, _ = entity_reader(MetadataResponse)(frame, 5)  # header v1: one tagged-field byte
                assert [t.name for t in response.topics] == ["pipelined"]
                assert response.topics[0].error_code == 0
    assert ids == [1, 2, 3]


def test_half_closed_connection_still_gets_its_answer(broker: RunningBroker) -> None:
    with _connect(broker) as sock:
        sock.sendall(_api_versions_v3(11))
        sock.shutdown(socket.SHUT_WR)
        frame = _read_frame(sock)
        assert struct.unpack(">i", frame[:4])[0] == 11
        assert _closed(sock)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(struct.pack(">i", -5), id="negative-size"),
        pytest.param(struct.pack(">i", 50 * 1024 * 1024) + b"x" * 10, id="over-the-frame-limit"),
        pytest.param(struct.pack(">i", 3) + b"abc", id="shorter-than-a-header"),
        pytest.param(_request(_header(999, 0, 1, flexible=False), b""), id="unknown-api-key"),
        pytest.param(_request(_header(0, 99, 1, flexible=False), b""), id="unsupported-produce-version"),
        pytest.param(_request(_header(3, 12, 1, flexible=True), b"\x05\x01"), id="truncated-metadata-body"),
        pytest.param(
            _request(_header(3, 1, 1, flexible=False), b"\x7f\xff\xff\xff"), id="absurd-array-length"
        ),
        pytest.param(
            _request(struct.pack(">hhih", 18, 3, 1, 40) + b"short", b""), id="client-id-past-the-end"
        ),
        pytest.param(
            _request(_header(3, 12, 1, flexible=False) + b"\xff\xff\xff\xff\x0f", b""), id="bad-tags"
        ),
    ],
)
def test_malformed_frames_close_the_connection_and_nothing_else(
    broker: RunningBroker, payload: bytes
) -> None:
    with _connect(broker) as sock:
        sock.sendall(payload)
        assert _closed(sock)
    _still_serving(broker)


def test_produce_of_corrupt_batch_gets_corrupt_message(broker: RunningBroker) -> None:
    """A well-formed produce request whose record batch has a wrong CRC, sent by hand."""
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("corrupt", value=b"warm-up")
    producer.flush(10)
    batch = bytearray(encode_batch([NewRecord(key=b"k", value=b"v", timestamp=0)]))
    batch[-1] ^= 0xFF
    request = ProduceRequest(
        transactional_id=None,
        acks=-1,
        timeout=datetime.timedelta(seconds=5),
        topic_data=(
            TopicProduceData(
                name="corrupt", partition_data=(PartitionProduceData(index=0, records=bytes(batch)),)
            ),
        ),
    )
    body = io.BytesIO()
    entity_writer(ProduceRequest)(body, request)
    with _connect(broker) as sock:
        sock.sendall(_request(_header(0, 9, 21, flexible=True), body.getvalue()))
        frame = _read_frame(sock)
    response, _ = entity_reader(ProduceResponse)(frame, 5)
    partition = response.responses[0].partition_responses[0]
    assert partition.error_code == 2  # CORRUPT_MESSAGE
    assert broker.run(lambda: broker.eventlog.broker.partition("corrupt", 0).log.log_end_offset) == 1


def test_connections_over_the_limit_are_closed_and_the_others_served(tmp_path: Path) -> None:
    # Counted by outcome, not by exact numbers: a Kafka client of another test that still reconnects
    # to the port this broker now has may hold a slot for a moment; it can only add refusals.
    with running_broker(tmp_path, connections_max=2) as small:
        wait_until(lambda: small.eventlog.server.connections == 0, timeout_seconds=10)  # the harness's probe
        sockets = [_connect(small) for _ in range(4)]
        try:
            refused = [_refused_within(sock, 1.0) for sock in sockets]
            served = [sock for sock, was_refused in zip(sockets, refused, strict=True) if not was_refused]
            assert sum(refused) >= 2, refused
            assert len(served) <= 2
            for number, sock in enumerate(served):
                sock.sendall(_api_versions_v3(number))
                assert struct.unpack(">i", _read_frame(sock)[:4])[0] == number
        finally:
            for sock in sockets:
                sock.close()
        _still_serving(small)


def _refused_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds`; False when it stays open."""
    sock.settimeout(seconds)
    try:
        return _closed(sock)
    except TimeoutError:
        return False
    finally:
        sock.settimeout(10)


def test_many_pipelined_requests_past_the_read_ahead_limit_are_all_answered(tmp_path: Path) -> None:
    with running_broker(tmp_path, in_flight_requests_max=4) as small, _connect(small) as sock:
        sock.sendall(b"".join(_api_versions_v3(i) for i in range(200)))
        ids = [struct.unpack(">i", _read_frame(sock)[:4])[0] for _ in range(200)]
    assert ids == list(range(200))
