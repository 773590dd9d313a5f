"""The Kafka API in process, for what is awkward to provoke over a socket: a group log whose disk
fails answers COORDINATOR_NOT_AVAILABLE (the client finds the coordinator again and retries) rather
than dropping the connection."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kio.index import load_request_schema
from kio.schema.errors import ErrorCode

from scalebox.core.clock import FakeClock
from scalebox.core.errors import IntegrityError
from scalebox.eventlog.api import Connection, KafkaApi, Listener
from scalebox.eventlog.protocol.codec import Request, build
from scalebox.eventlog.service.broker import Broker
from scalebox.eventlog.service.groups import GroupCoordinator


class BrokenGroupLog:
    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        raise IntegrityError("disk full")

    def replay(self) -> list[tuple[bytes, bytes | None]]:
        return []


async def test_offset_commit_on_a_failing_group_log_answers_coordinator_not_available(tmp_path: Path) -> None:
    clock = FakeClock()
    broker = Broker(tmp_path, clock)
    broker.open()
    broker.create_topic("orders", 1, {})
    groups = GroupCoordinator(BrokenGroupLog(), clock)
    await groups.load()
    api = KafkaApi(
        broker,
        groups,
        advertised=Listener("127.0.0.1", 9092, False),
        fetch_bytes_max=1 << 20,
        sasl_mechanisms=(),
    )
    body = build(
        load_request_schema(8, 8),
        {
            "group_id": "billing",
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "group_instance_id": None,
            "topics": [
                {
                    "name": "orders",
                    "partitions": [{"partition_index": 0, "committed_offset": 5, "committed_metadata": ""}],
                }
            ],
        },
    )
    response = await api.handle(
        Request(8, 8, 1, "test", body), Connection(Listener("127.0.0.1", 9092, False), "127.0.0.1")
    )
    assert response.topics[0].partitions[0].error_code == ErrorCode.coordinator_not_available  # type: ignore[attr-defined]
    await groups.close()
    await broker.close()
