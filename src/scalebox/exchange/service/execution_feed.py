"""Each participant's own execution reports and cancel rejects, live: a venue listener that hands
them to that participant's subscribers (web sockets), each behind a bounded queue. A subscriber
that falls behind is dropped with a reason, and reconnects to fetch its state again; the venue
never waits for anyone."""

from __future__ import annotations

import asyncio

from scalebox.core.errors import LimitExceededError
from scalebox.exchange.domain import CancelReject, Execution
from scalebox.exchange.posttrade import ExecutionRecord, execution_record
from scalebox.exchange.service.venue import Applied

FeedItem = ExecutionRecord | CancelReject


class FeedDroppedError(LimitExceededError):
    """The subscriber fell further behind than its queue allows."""


class ExecutionSubscription:
    """One subscriber's queue of its participant's reports."""

    def __init__(self, participant: str, queue_max: int) -> None:
        assert queue_max >= 1, queue_max
        self.participant = participant
        self.dropped_reason: str | None = None
        self._queue: asyncio.Queue[FeedItem | None] = asyncio.Queue(queue_max)

    async def next(self) -> FeedItem:
        """The next report; FeedDroppedError once dropped."""
        item = None if self.dropped_reason is not None else await self._queue.get()
        if item is None:
            raise FeedDroppedError(self.dropped_reason or "dropped")
        return item

    def offer(self, item: FeedItem) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def drop(self, reason: str) -> None:
        if self.dropped_reason is not None:
            return
        self.dropped_reason = reason
        while not self._queue.empty():  # never read now: make room for the wake-up
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class ExecutionFeed:
    """Wire as `venue.add_listener(feed.on_applied)`."""

    def __init__(self, *, subscribers_max: int = 1_000, queue_max: int = 10_000) -> None:
        self.subscribers_max = subscribers_max
        self.queue_max = queue_max
        self.dropped_total = 0
        self._by_participant: dict[str, list[ExecutionSubscription]] = {}

    @property
    def subscribers(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._by_participant.values())

    def subscribe(self, participant: str) -> ExecutionSubscription:
        if self.subscribers >= self.subscribers_max:
            raise LimitExceededError(f"at most {self.subscribers_max} execution subscribers")
        subscription = ExecutionSubscription(participant, self.queue_max)
        self._by_participant.setdefault(participant, []).append(subscription)
        return subscription

    def unsubscribe(self, subscription: ExecutionSubscription) -> None:
        subscriptions = self._by_participant.get(subscription.participant, [])
        if subscription in subscriptions:
            subscriptions.remove(subscription)
            if not subscriptions:
                del self._by_participant[subscription.participant]

    def on_applied(self, applied: Applied) -> None:
        """The venue listener. Reports are captured now: an order's fields change with later commands."""
        by_participant = self._by_participant
        if not by_participant:
            return
        for index, event in enumerate(applied.events):
            if isinstance(event, Execution):
                targets = by_participant.get(event.order.participant)
                if targets:
                    self._offer(
                        targets, execution_record(event, applied.sequence, index, applied.timestamp_ns)
                    )
            elif isinstance(event, CancelReject):
                targets = by_participant.get(event.participant)
                if targets:
                    self._offer(targets, event)

    def _offer(self, targets: list[ExecutionSubscription], item: FeedItem) -> None:
        for subscription in list(targets):
            if not subscription.offer(item):
                self.unsubscribe(subscription)
                subscription.drop(f"slow consumer: more than {self.queue_max} reports behind")
                self.dropped_total += 1
