"""KafkaWatch: the long poll behind KafkaEventBus.wait, one Fetch for every topic waited on."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors

# Kafka's own fetch.max.wait.ms default: how long one watch Fetch may sit at the broker. It bounds
# only the rare case of a topic first waited on while a Fetch for other topics is out.
WATCH_FETCH_WAIT_MS = 500


@dataclass
class KafkaWatch:
    """KafkaEventBus.wait's long poll: one consumer follows the end of every topic someone waits on.

    Its fetcher sends one Fetch for all of them, which the broker holds until one grows; each answer
    moves the known end offsets forward and wakes the waiters, which then look at their own topic.
    Publishes of this process move the ends too (`advance`), without a round trip.
    """

    ends: dict[str, int] = field(default_factory=dict)  # Kafka topic -> next offset, as far as known
    waiting: dict[str, int] = field(default_factory=dict)  # Kafka topic -> waiters
    # Replaced on every change after being set, so a waiter that grabbed it before checking cannot
    # miss a change that lands between its check and its wait.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    closed: bool = False

    def latest_offset(self, name: str) -> int:
        return self.ends.get(name, 0) - 1

    def advance(self, name: str, end: int) -> None:
        if end > self.ends.get(name, 0):
            self.ends[name] = end
            self._notify()

    async def wait(self, consumer: Any, name: str, after_offset: int, deadline: float) -> bool:
        """True once `name` holds an offset above `after_offset`; False at `deadline` or on close."""
        loop = asyncio.get_running_loop()
        partition = TopicPartition(name, 0)
        self.waiting[name] = self.waiting.get(name, 0) + 1
        try:
            self._follow(consumer, partition)
            while True:
                changed = self.changed
                if self.latest_offset(name) > after_offset:
                    return True
                if self.closed:
                    return False  # the bus tells a closed watch from a timeout
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                if self.task is not None and self.task.done() and not self.task.cancelled():
                    self.task.result()  # the watch failed: raise its error here rather than sleep on
                    self._follow(consumer, partition)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            self.waiting[name] -= 1
            if not self.waiting[name]:
                del self.waiting[name]
                if partition in consumer.assignment():
                    consumer.pause(partition)

    def _follow(self, consumer: Any, partition: TopicPartition) -> None:
        """Fetch `partition` from its known end, and make sure the fetch loop runs."""
        if partition not in consumer.assignment():
            partitions = [*consumer.assignment(), partition]
            consumer.assign(partitions)  # forgets positions and pauses: set them all again
            for each in partitions:
                consumer.seek(each, self.ends.get(each.topic, 0))
                if each.topic not in self.waiting:
                    consumer.pause(each)
        else:
            consumer.seek(partition, self.ends.get(partition.topic, 0))
            consumer.resume(partition)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(consumer))
            self.task.add_done_callback(self._finished)

    async def _run(self, consumer: Any) -> None:
        while self.waiting:
            fetched = await consumer.getmany(timeout_ms=WATCH_FETCH_WAIT_MS)
            for partition, records in fetched.items():
                end = max(records[-1].offset + 1, consumer.highwater(partition) or 0)
                consumer.seek(partition, end)  # skip ahead: waiters need the end, not the records
                self.advance(partition.topic, end)

    async def close(self) -> None:
        self.closed = True
        self._notify()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, kafka_errors.KafkaError):
                await self.task

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: the waiters raise it (when none is left, nobody needs it)
        self._notify()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()
