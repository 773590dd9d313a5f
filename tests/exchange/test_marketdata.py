"""The market data service: subscriptions get snapshots then increments, a slow subscriber is
dropped without ever blocking the venue, limits hold, and `rebuild` starts from the engine."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scalebox.core.errors import InvalidError, LimitExceededError
from scalebox.exchange.domain import Command, DefineInstrument, Halt, Side
from scalebox.exchange.errors import UnknownInstrumentError
from scalebox.exchange.marketbook import (
    Channel,
    L1Update,
    L2Snapshot,
    L2Update,
    L3Update,
    Message,
    StatusUpdate,
)
from scalebox.exchange.service.marketdata import MarketData, SubscriberDroppedError, Subscription
from scalebox.exchange.service.venue import Applied
from tests.exchange.factories import SYMBOL, make_engine, make_instrument, make_order

TIMEOUT_SECONDS = 5.0


class Harness:
    def __init__(self, **limits: int) -> None:
        self.driver = make_engine()
        self.market_data = MarketData(**limits)
        self.market_data.rebuild(self.driver.engine)
        self.batches: list[list[Message]] = []
        self.market_data.add_sink(lambda messages: self.batches.append(list(messages)))

    def apply(self, command: Command) -> None:
        events = self.driver.apply(command)
        applied = Applied(self.driver.engine.last_sequence, self.driver.timestamp_ns, command, events)
        self.market_data.on_applied(applied)

    def rest(self, **overrides: Any) -> None:
        self.apply(make_order(**overrides))


async def next_message(subscription: Subscription) -> Message:
    async with asyncio.timeout(TIMEOUT_SECONDS):
        return await subscription.next()


async def test_subscription_gets_snapshots_then_only_its_channels_after_them():
    harness = Harness()
    harness.rest(side=Side.BUY, price=99, quantity=10)
    subscription = harness.market_data.subscribe([SYMBOL], ["l2"])

    harness.rest(side=Side.BUY, price=98, quantity=5)

    (snapshot,) = subscription.snapshots
    assert isinstance(snapshot, L2Snapshot)
    assert snapshot.seq == harness.market_data.sequence - 2  # L3 add + L2 level since
    update = await next_message(subscription)
    assert isinstance(update, L2Update)
    assert (update.price, update.quantity, update.order_count) == (98, 5, 1)
    assert update.seq > snapshot.seq
    assert subscription.pending() == 0


async def test_sinks_get_each_commands_messages_in_one_batch():
    harness = Harness()

    harness.rest(side=Side.SELL, price=101, quantity=3)

    (batch,) = harness.batches
    assert [type(m) for m in batch] == [L3Update, L2Update, L1Update]
    assert [m.seq for m in batch] == [1, 2, 3]


async def test_slow_subscriber_is_dropped_and_the_venue_carries_on():
    harness = Harness(subscriber_queue_max=2)
    slow = harness.market_data.subscribe([SYMBOL], ["l3"])
    other = harness.market_data.subscribe([SYMBOL], ["l1"])

    quotes = []
    for price in (95, 96, 97):
        harness.rest(side=Side.BUY, price=price, quantity=1)
        quotes.append(await next_message(other))  # keeps up: one L1 change per command

    assert slow.dropped_reason is not None
    assert "slow consumer" in slow.dropped_reason
    with pytest.raises(SubscriberDroppedError):
        await next_message(slow)
    assert await asyncio.wait_for(slow.wait_dropped(), TIMEOUT_SECONDS) == slow.dropped_reason
    assert harness.market_data.subscriptions == [other]
    assert harness.market_data.dropped_total == 1
    assert other.dropped_reason is None
    assert [m.quote.bid_price for m in quotes if isinstance(m, L1Update)] == [95, 96, 97]


async def test_market_wide_status_reaches_every_status_subscriber():
    harness = Harness()
    harness.apply(DefineInstrument(make_instrument(symbol="BETA")))
    acme = harness.market_data.subscribe([SYMBOL], ["status"])
    beta = harness.market_data.subscribe(["BETA"], ["status", "l1"])

    harness.apply(Halt(""))

    for subscription in (acme, beta):
        message = await next_message(subscription)
        assert isinstance(message, StatusUpdate)
        assert (message.symbol, message.halted) == ("", True)


@pytest.mark.parametrize(
    ("symbols", "channels", "error"),
    [
        ([], ["l1"], InvalidError),
        ([SYMBOL], [], InvalidError),
        ([SYMBOL], ["l4"], InvalidError),
        (["NOPE"], ["l1"], UnknownInstrumentError),
    ],
)
async def test_subscribe_refuses_bad_requests(symbols, channels, error):
    harness = Harness()
    with pytest.raises(error):
        harness.market_data.subscribe(symbols, channels)
    assert harness.market_data.subscriptions == []


async def test_subscribers_are_limited():
    harness = Harness(subscribers_max=1)
    first = harness.market_data.subscribe([SYMBOL], list(Channel))
    with pytest.raises(LimitExceededError):
        harness.market_data.subscribe([SYMBOL], ["l1"])
    harness.market_data.unsubscribe(first)
    harness.market_data.subscribe([SYMBOL], ["l1"])


async def test_rebuild_starts_from_the_engine_and_drops_subscribers():
    harness = Harness()
    harness.rest(side=Side.BUY, price=99, quantity=10, display=4)
    subscription = harness.market_data.subscribe([SYMBOL], ["l2"])

    fresh = MarketData()
    fresh.rebuild(harness.driver.engine)
    harness.market_data.rebuild(harness.driver.engine)

    assert subscription.dropped_reason is not None
    snapshot = fresh.snapshot(SYMBOL, Channel.L2)
    assert isinstance(snapshot, L2Snapshot)
    assert [(e.price, e.quantity, e.order_count) for e in snapshot.bids] == [(99, 4, 1)]
    assert fresh.book.symbols[SYMBOL].quote == harness.market_data.book.symbols[SYMBOL].quote
