"""KafkaEventBus: the EventBus over any Kafka-compatible cluster (ours, Apache Kafka, Redpanda).

A port topic is partition 0 of a Kafka topic, so ordering, offsets and wait() are partition 0's.
Group offsets live in the cluster's group coordinator, so every process sees the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from scalebox.core.clock import Clock
from scalebox.core.errors import DomainError, ForbiddenError, InvalidError, LimitExceededError, TooLargeError
from scalebox.core.events.kafka_watch import WATCH_FETCH_WAIT_MS, KafkaWatch
from scalebox.core.events.port import BATCH_RECORDS_MAX, Event

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_TOPIC_ALREADY_EXISTS = 36
PRODUCE_BATCH_BYTES_MAX = 1_000_000
_URL_OPTIONS = frozenset({"namespace", "replication_factor"})


class EventBusUnavailableError(LimitExceededError):
    """The Kafka cluster could not be reached or did not answer in time; retrying later may work."""

    code = "event_bus_unavailable"


# The one table from aiokafka's errors to ours; retriable errors not listed mean "unavailable", and
# anything else is a bug worth seeing as it is.
_ERRORS: tuple[tuple[type[Exception], type[DomainError]], ...] = (
    (kafka_errors.MessageSizeTooLargeError, TooLargeError),
    (kafka_errors.RecordTooLargeError, TooLargeError),
    (kafka_errors.InvalidTopicError, InvalidError),
    (kafka_errors.InvalidReplicationFactorError, InvalidError),
    (kafka_errors.PolicyViolationError, InvalidError),
    (kafka_errors.TopicAuthorizationFailedError, ForbiddenError),
    (kafka_errors.GroupAuthorizationFailedError, ForbiddenError),
    (kafka_errors.ClusterAuthorizationFailedError, ForbiddenError),
    (kafka_errors.KafkaConnectionError, EventBusUnavailableError),
    (kafka_errors.KafkaTimeoutError, EventBusUnavailableError),
)


class KafkaEventBus:
    """An EventBus on a Kafka cluster, through aiokafka; every client is started on first use.

    - Topics are created on first use (CreateTopics, 1 partition, `replication_factor`), so a read of
      a topic nobody wrote to sees an empty topic; a topic made elsewhere with more partitions works,
      but only its partition 0 is read and written. `namespace` prefixes topic names and group ids.
    - publish returns once the cluster acknowledged with acks=all (idempotent producer); records
      carry the clock's time as their CreateTime, so timestamps are whole milliseconds.
    - Each group is an aiokafka consumer with manual assignment: no group membership, its commits go
      to the coordinator as a simple consumer (generation -1). Kafka stores the next offset to read,
      the port the last one done: commit(n) stores n + 1.
    - wait() long-polls: one Fetch for every waited-on topic, held at the broker until data arrives.
    - trim() is a no-op: retention belongs to the broker (retention.ms / retention.bytes topic configs).
    - Every call is bounded by `timeout_seconds`; an unreachable or silent cluster raises
      EventBusUnavailableError.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        clock: Clock,
        *,
        namespace: str = "",
        replication_factor: int = 1,
        timeout_seconds: float = 30.0,
        client_id: str = "scalebox-events",
    ) -> None:
        assert bootstrap_servers, "at least one bootstrap server"
        assert replication_factor >= 1, replication_factor
        self._clock = clock
        self._namespace = namespace
        self._replication_factor = replication_factor
        self._timeout_seconds = timeout_seconds
        self._client_options: dict[str, Any] = {
            "bootstrap_servers": list(bootstrap_servers),
            "client_id": client_id,
            "request_timeout_ms": max(1, int(timeout_seconds * 1000)),
        }
        # Started clients by role: "producer", "admin", "reader" (end offsets), "watch", "group:<id>".
        self._clients: dict[str, Any] = {}
        self._start_lock = asyncio.Lock()  # one start per client, however many callers race for it
        self._group_locks: dict[str, asyncio.Lock] = {}
        self._topics: set[str] = set()  # Kafka topics known to exist
        self._watch = KafkaWatch()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, clock: Clock) -> KafkaEventBus:
        """`kafka://host:port[,host:port...][?namespace=app.&replication_factor=3]`."""
        parts = urlsplit(url)
        servers = parts.netloc.split(",")
        if parts.path not in {"", "/"} or not all(_is_host_port(server) for server in servers):
            raise InvalidError(
                f"event bus URL {url!r} must list brokers as kafka://host:port[,host:port]", field="url"
            )
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        if options.keys() - _URL_OPTIONS:
            raise InvalidError(
                f"unknown option in event bus URL {url!r}; kafka:// takes {sorted(_URL_OPTIONS)}", field="url"
            )
        factor = options.get("replication_factor", "1")
        if not factor.isdigit() or int(factor) == 0:
            raise InvalidError(f"replication_factor must be a positive integer, not {factor!r}", field="url")
        return cls(servers, clock, namespace=options.get("namespace", ""), replication_factor=int(factor))

    async def publish(self, topic: str, key: bytes, value: bytes) -> int:
        [offset] = await self.publish_batch(topic, [(key, value)])
        return offset

    async def publish_batch(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[int]:
        assert len(records) <= BATCH_RECORDS_MAX, len(records)
        if not records:
            return []
        timestamp_ms = (self._clock.now() - _EPOCH) // _MILLISECOND
        async with self._calling("publish"):
            name = await self._ensure_topic(topic)
            producer = await self._started("producer", self._make_producer)
            # send() only queues: queue the lot, so it leaves in as few produce requests as fit, then
            # collect every acknowledgement (return_exceptions: no failure is left unretrieved).
            futures = [
                await producer.send(name, value, key=key, partition=0, timestamp_ms=timestamp_ms)
                for key, value in records
            ]
            results = await asyncio.gather(*futures, return_exceptions=True)
            offsets: list[int] = []
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                offsets.append(int(result.offset))
        self._watch.advance(name, offsets[-1] + 1)  # wakes this process's waiters without a round trip
        return offsets

    async def poll(self, topic: str, group: str, max_events: int = 100) -> list[Event]:
        assert max_events > 0, max_events
        async with self._calling("poll"):
            name = await self._ensure_topic(topic)
            partition = TopicPartition(name, 0)
            async with self._group_consumer(group, partition) as consumer:
                committed = await consumer.committed(partition)
                start = 0 if committed is None else int(committed)
                end = int((await consumer.end_offsets([partition]))[partition])
                if start >= end:
                    return []
                # Fetch only now, from the committed position: poll moves nothing, and a paused
                # partition costs nothing between polls.
                consumer.seek(partition, start)
                consumer.resume(partition)
                try:
                    fetched = await consumer.getmany(
                        partition,
                        timeout_ms=self._client_options["request_timeout_ms"],
                        max_records=max_events,
                    )
                finally:
                    consumer.pause(partition)
        return [_decode_record(topic, record) for record in fetched.get(partition, [])]

    async def commit(self, topic: str, group: str, offset: int) -> None:
        assert offset >= -1, offset
        async with self._calling("commit"):
            name = await self._ensure_topic(topic)
            partition = TopicPartition(name, 0)
            async with self._group_consumer(group, partition) as consumer:
                await consumer.commit({partition: offset + 1})

    async def committed(self, topic: str, group: str) -> int | None:
        async with self._calling("committed"):
            name = await self._ensure_topic(topic)
            partition = TopicPartition(name, 0)
            async with self._group_consumer(group, partition) as consumer:
                next_offset = await consumer.committed(partition)
        return None if next_offset is None else int(next_offset) - 1

    async def latest_offset(self, topic: str) -> int:
        async with self._calling("latest_offset"):
            name = await self._ensure_topic(topic)
            return await self._end_offset(name) - 1

    async def wait(self, topic: str, after_offset: int, timeout_seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        async with self._calling("wait"):
            name = await self._ensure_topic(topic)
            self._watch.advance(name, await self._end_offset(name))
        if self._watch.latest_offset(name) > after_offset or loop.time() >= deadline:
            return self._watch.latest_offset(name) > after_offset
        async with self._calling("wait", timeout_seconds=deadline - loop.time() + self._timeout_seconds):
            consumer = await self._started("watch", self._make_watch_consumer)
            arrived = await self._watch.wait(consumer, name, after_offset, deadline)
        if self._closed:
            raise EventBusUnavailableError("the event bus was closed while waiting")
        return arrived

    async def trim(self, topic: str, keep_after: datetime) -> int:
        """A no-op that returns 0: on Kafka the broker enforces retention, configured per topic
        (retention.ms, retention.bytes). DeleteRecords could cut a prefix, but not every broker
        offers it (ours does not), and it would ignore which groups are still behind."""
        return 0

    async def close(self) -> None:
        self._closed = True
        await self._watch.close()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await _stop(client)

    # -- clients ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _calling(self, what: str, *, timeout_seconds: float | None = None) -> AsyncIterator[None]:
        """Bound a call in time and translate aiokafka's errors at this edge."""
        if self._closed:
            raise EventBusUnavailableError("the event bus is closed")
        seconds = self._timeout_seconds if timeout_seconds is None else timeout_seconds
        servers = ",".join(self._client_options["bootstrap_servers"])
        try:
            async with asyncio.timeout(seconds):
                yield
        except TimeoutError as exc:
            raise EventBusUnavailableError(
                f"{what}: no answer from kafka at {servers} in {seconds:g} s"
            ) from exc
        except kafka_errors.KafkaError as exc:
            translated = _translate_error(exc, f"{what} on kafka at {servers}")
            if translated is None:
                raise
            raise translated from exc

    async def _started(self, key: str, make: Callable[[], Any]) -> Any:
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._start_lock:
            if key not in self._clients:
                client = make()
                try:
                    await client.start()
                except BaseException:
                    await _stop(client)
                    raise
                if self._closed:  # closed while starting: nobody would stop it later
                    await _stop(client)
                    raise EventBusUnavailableError("the event bus is closed")
                self._clients[key] = client
        return self._clients[key]

    def _make_producer(self) -> AIOKafkaProducer:
        # Batches as large as a default broker takes (message.max.bytes is 1 MiB + 12), so that a
        # publish_batch leaves in as few produce requests as it can (aiokafka's default is 16 KiB).
        return AIOKafkaProducer(
            **self._client_options,
            acks="all",
            enable_idempotence=True,
            max_batch_size=PRODUCE_BATCH_BYTES_MAX,
        )

    def _make_consumer(self, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self._client_options, enable_auto_commit=False, **options)

    def _make_watch_consumer(self) -> AIOKafkaConsumer:
        # Tiny fetches: the watch wants the end offset, not the records (a broker still returns at
        # least one whole batch, KIP-74). Behind the log start (retention ran), it restarts there.
        return self._make_consumer(
            auto_offset_reset="earliest", fetch_max_wait_ms=WATCH_FETCH_WAIT_MS, max_partition_fetch_bytes=1
        )

    async def _ensure_topic(self, topic: str) -> str:
        """The Kafka name of `topic`, created (1 partition) unless this bus has seen it before."""
        name = self._namespace + topic
        if name not in self._topics:
            admin = await self._started("admin", lambda: AIOKafkaAdminClient(**self._client_options))
            response = await admin.create_topics([NewTopic(name, 1, self._replication_factor)])
            for entry in response.topic_errors:  # (name, error_code[, error_message])
                if entry[1] not in (0, _TOPIC_ALREADY_EXISTS):
                    raise kafka_errors.for_code(entry[1])(f"creating topic {name!r}: {entry[2:]}")
            self._topics.add(name)
        return name

    async def _end_offset(self, name: str) -> int:
        reader = await self._started("reader", self._make_consumer)
        partition = TopicPartition(name, 0)
        return int((await reader.end_offsets([partition]))[partition])

    @contextlib.asynccontextmanager
    async def _group_consumer(self, group: str, partition: TopicPartition) -> AsyncIterator[Any]:
        """The group's consumer with `partition` assigned (paused), used by one call at a time."""
        group_id = self._namespace + group
        consumer = await self._started(
            f"group:{group_id}", lambda: self._make_consumer(group_id=group_id, auto_offset_reset="earliest")
        )
        async with self._group_locks.setdefault(group_id, asyncio.Lock()):
            if partition not in consumer.assignment():
                # assign() replaces the assignment and forgets positions: give each partition a
                # valid one (poll seeks anyway) and pause it, so the fetcher never runs on its own.
                partitions = [*consumer.assignment(), partition]
                consumer.assign(partitions)
                for each in partitions:
                    consumer.seek(each, 0)
                consumer.pause(*partitions)
            yield consumer


def _decode_record(topic: str, record: Any) -> Event:
    # Records written by other clients may have a null key or value; the port's are bytes.
    timestamp = _EPOCH + int(record.timestamp) * _MILLISECOND
    return Event(topic, record.key or b"", record.value or b"", int(record.offset), timestamp)


def _translate_error(exc: Exception, context: str) -> DomainError | None:
    """Our error for one of aiokafka's, or None to let it through unchanged."""
    kind = next((kind for source, kind in _ERRORS if isinstance(exc, source)), None)
    if kind is None and getattr(exc, "retriable", False):
        kind = EventBusUnavailableError
    return None if kind is None else kind(f"{context}: {exc}")


def _is_host_port(server: str) -> bool:
    host, _, port = server.rpartition(":")
    # No userinfo: credentials (SASL) are not something this URL carries.
    return bool(host) and "@" not in host and port.isdigit() and 0 < int(port) < 65536


async def _stop(client: Any) -> None:
    with contextlib.suppress(kafka_errors.KafkaError, OSError):
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
