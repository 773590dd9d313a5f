"""Consumer group state kept in the internal compacted topic `__consumer_offsets`, as Kafka does:
the coordinator's records (offset commits, group metadata, tombstones) are appended durably and
replayed at start."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from scalebox.eventlog.domain import OFFSETS_TOPIC
from scalebox.eventlog.protocol.records import NewRecord, decode_records, read_header
from scalebox.eventlog.service.broker import Broker

_READ_BYTES = 4 * 1024 * 1024


class TopicGroupLog:
    """The GroupLog port over partition 0 of `__consumer_offsets`."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        if not records:
            return
        partition = self.broker.partition(OFFSETS_TOPIC, 0)
        now = self.broker.now_ms()
        self.broker.append_records(partition, [NewRecord(key=k, value=v, timestamp=now) for k, v in records])
        await self.broker.wait_durable(partition, partition.log.log_end_offset)

    def replay(self) -> Iterator[tuple[bytes, bytes | None]]:
        log = self.broker.partition(OFFSETS_TOPIC, 0).log
        offset = log.log_start_offset
        while offset < log.log_end_offset:
            data = memoryview(log.read(offset, _READ_BYTES))
            if not data:
                return
            position = 0
            while position < len(data):
                header = read_header(data, position)
                for record in decode_records(data[position : position + header.size]):
                    if record.offset >= offset and record.key is not None:
                        yield record.key, record.value
                position += header.size
                offset = max(offset, header.last_offset + 1)
