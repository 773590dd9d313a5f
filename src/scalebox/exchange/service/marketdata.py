"""Market data fan-out: a venue listener that folds every applied command into the MarketBook and
hands its messages to sinks (the UDP feed) and to subscribers (WebSocket clients), each behind a
bounded queue. A subscriber that falls behind is dropped with a reason; the venue never waits.

Sequence numbers are the MarketBook's: one counter over every channel and symbol (see marketbook).
A subscription's snapshots are taken when it is made, on the event loop's thread, between two
applied commands, so the first queued message of the subscription is the first after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from scalebox.core.errors import InvalidError, LimitExceededError
from scalebox.exchange.domain import DefineInstrument
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.marketbook import Channel, MarketBook, Message, Snapshot
from scalebox.exchange.service.venue import Applied

Sink = Callable[[Sequence[Message]], None]

SYMBOLS_PER_SUBSCRIPTION_MAX = 1_000


class SubscriberDroppedError(LimitExceededError):
    """The subscriber fell further behind than its queue allows (or market data was rebuilt)."""


class Subscription:
    """Snapshots taken at subscribe time, then the increments after them through a bounded queue."""

    def __init__(self, symbols: tuple[str, ...], channels: tuple[Channel, ...], queue_max: int) -> None:
        assert queue_max >= 1, queue_max
        self.symbols = symbols
        self.channels = channels
        self.snapshots: list[Snapshot] = []
        self.dropped_reason: str | None = None
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(queue_max)
        self._dropped = asyncio.Event()

    async def next(self) -> Message:
        """The next increment; raises SubscriberDroppedError once dropped."""
        if self.dropped_reason is not None:
            raise SubscriberDroppedError(self.dropped_reason)
        message = await self._queue.get()
        if message is None:  # the wake-up put there by `drop`
            raise SubscriberDroppedError(self.dropped_reason or "dropped")
        return message

    async def wait_dropped(self) -> str:
        """Return the reason once the subscription is dropped."""
        await self._dropped.wait()
        assert self.dropped_reason is not None
        return self.dropped_reason

    def pending(self) -> int:
        return self._queue.qsize()

    def offer(self, message: Message) -> bool:
        """Queue without waiting; False when the queue is full."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    def drop(self, reason: str) -> None:
        if self.dropped_reason is not None:
            return
        self.dropped_reason = reason
        while not self._queue.empty():  # what is queued will never be read: make room to wake it
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._dropped.set()


class MarketData:
    """The market data service. Wire it as `venue.add_listener(market_data.on_applied)`, after
    `rebuild(engine)` once the journal has been replayed into the engine."""

    def __init__(self, *, subscribers_max: int = 1_000, subscriber_queue_max: int = 10_000) -> None:
        self.book = MarketBook()
        self.subscribers_max = subscribers_max
        self.subscriber_queue_max = subscriber_queue_max
        self.subscriptions: list[Subscription] = []
        self.dropped_total = 0
        self._routes: dict[tuple[str, Channel], list[Subscription]] = {}
        self._sinks: list[Sink] = []

    @property
    def sequence(self) -> int:
        return self.book.sequence

    def add_sink(self, sink: Sink) -> None:
        """Call `sink` with each applied command's messages (when there are any), synchronously."""
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def rebuild(self, engine: MatchingEngine) -> None:
        """Replace the state with the engine's books (a restart does not replay market data).
        The sequence number carries on; subscribers, whose state would be stale, are dropped."""
        for subscription in list(self.subscriptions):
            self._drop(subscription, "market data was rebuilt; subscribe again")
        book = self.book
        book.symbols.clear()
        book.market_halted = engine.market_halted
        for symbol in sorted(engine.instruments):
            inst = engine.instruments[symbol]
            orders = [(o.order_id, o.side, o.price, o.visible) for o in inst.book.bids.orders()]
            orders += [(o.order_id, o.side, o.price, o.visible) for o in inst.book.asks.orders()]
            book.restore(symbol, phase=inst.phase, halted=inst.halted, reason=inst.halt_reason,
                         last_price=inst.last_price, orders=orders)  # fmt: skip

    def on_applied(self, applied: Applied) -> None:
        """The venue listener: fold the command in, then hand its messages out without waiting."""
        if isinstance(applied.command, DefineInstrument):
            self.book.define(applied.command.instrument.symbol)
        messages = self.book.apply(applied.events, applied.timestamp_ns)
        if not messages:
            return
        for sink in self._sinks:
            sink(messages)
        if self.subscriptions:
            self._fan_out(messages)

    def _fan_out(self, messages: Sequence[Message]) -> None:
        for message in messages:
            if message.symbol:
                targets: Iterable[Subscription] = self._routes.get((message.symbol, message.channel), ())
            else:  # market-wide status goes to every status subscriber
                targets = [s for s in self.subscriptions if Channel.STATUS in s.channels]
            for subscription in list(targets):
                if not subscription.offer(message):
                    self._drop(subscription, f"slow consumer: more than {self.subscriber_queue_max} "
                                             "messages behind")  # fmt: skip

    def snapshot(self, symbol: str, channel: Channel) -> Snapshot:
        return self.book.snapshot(symbol, channel)

    def subscribe(self, symbols: Iterable[str], channels: Iterable[Channel | str]) -> Subscription:
        """Snapshots of every (symbol, channel) now, then increments. Raises UnknownInstrumentError,
        InvalidError (no symbols or channels, or an unknown channel) or LimitExceededError."""
        wanted_symbols = tuple(dict.fromkeys(symbols))
        wanted_channels = tuple(dict.fromkeys(_channel(c) for c in channels))
        if not wanted_symbols or not wanted_channels:
            raise InvalidError("subscribe to at least one symbol and one channel")
        if len(wanted_symbols) > SYMBOLS_PER_SUBSCRIPTION_MAX:
            raise LimitExceededError(f"at most {SYMBOLS_PER_SUBSCRIPTION_MAX} symbols per subscription")
        if len(self.subscriptions) >= self.subscribers_max:
            raise LimitExceededError(f"at most {self.subscribers_max} market data subscribers")
        snapshots = [self.book.snapshot(s, c) for s in wanted_symbols for c in wanted_channels]
        subscription = Subscription(wanted_symbols, wanted_channels, self.subscriber_queue_max)
        subscription.snapshots = snapshots
        self.subscriptions.append(subscription)
        for symbol in wanted_symbols:
            for channel in wanted_channels:
                self._routes.setdefault((symbol, channel), []).append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription not in self.subscriptions:
            return
        self.subscriptions.remove(subscription)
        for symbol in subscription.symbols:
            for channel in subscription.channels:
                route = self._routes[symbol, channel]
                route.remove(subscription)
                if not route:
                    del self._routes[symbol, channel]

    def _drop(self, subscription: Subscription, reason: str) -> None:
        self.unsubscribe(subscription)
        subscription.drop(reason)
        self.dropped_total += 1


def _channel(value: Channel | str) -> Channel:
    try:
        return Channel(value)
    except ValueError as exc:
        names = ", ".join(c.value for c in Channel)
        raise InvalidError(f"unknown channel {value!r} (one of {names})", field="channels") from exc
