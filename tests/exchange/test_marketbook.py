"""The market book, pure: engine events in, L1/L2/L3, trades and status out; a snapshot plus the
increments after it always equals the state rebuilt from the engine's books."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalebox.exchange.domain import (
    BookAction,
    Command,
    Halt,
    OrderType,
    Phase,
    Resume,
    SetPhase,
    Side,
    TimeInForce,
)
from scalebox.exchange.errors import UnknownInstrumentError
from scalebox.exchange.marketbook import (
    Channel,
    L1Snapshot,
    L1Update,
    L2Snapshot,
    L2Update,
    L3Snapshot,
    L3Update,
    LevelEntry,
    MarketBook,
    Message,
    OrderEntry,
    Quote,
    Snapshot,
    StatusSnapshot,
    StatusUpdate,
    TradesSnapshot,
    TradeUpdate,
)
from scalebox.exchange.service.marketdata import MarketData
from tests.exchange.factories import SYMBOL, EngineDriver, make_cancel, make_engine, make_order, make_replace

BOOK_CHANNELS = (Channel.L1, Channel.L2, Channel.L3)


class Feed:
    """An engine driver whose every command also goes through a MarketBook."""

    def __init__(self) -> None:
        self.driver = make_engine()
        self.book = rebuilt(self.driver)
        self.messages: list[Message] = []

    def apply(self, command: Command) -> list[Message]:
        events = self.driver.apply(command)
        messages = self.book.apply(events, self.driver.timestamp_ns)
        self.messages += messages
        return messages

    def rest(self, **overrides: Any) -> tuple[Any, list[Message]]:
        order = make_order(**overrides)
        return order, self.apply(order)

    def snapshot(self, channel: Channel) -> Snapshot:
        return self.book.snapshot(SYMBOL, channel)


def rebuilt(driver: EngineDriver) -> MarketBook:
    market_data = MarketData()
    market_data.rebuild(driver.engine)
    return market_data.book


def of(messages: list[Message], kind: type) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def without_seq(snapshot: Snapshot) -> tuple[object, ...]:
    fields = [f for f in snapshot.__dataclass_fields__ if f != "seq"]
    return tuple(getattr(snapshot, f) for f in fields)


# -- L1 / L2 / L3 ---------------------------------------------------------------------------------


def test_resting_orders_build_every_level_of_the_book():
    feed = Feed()
    a, _ = feed.rest(side=Side.BUY, price=99, quantity=10)
    b, _ = feed.rest(side=Side.BUY, price=99, quantity=5, participant="bob")
    c, _ = feed.rest(side=Side.BUY, price=98, quantity=7)
    d, _ = feed.rest(side=Side.SELL, price=101, quantity=3, participant="bob")

    l1, l2, l3 = (feed.snapshot(c) for c in BOOK_CHANNELS)

    assert isinstance(l1, L1Snapshot)
    assert l1.quote == Quote(99, 15, 101, 3)
    assert isinstance(l2, L2Snapshot)
    assert l2.bids == (LevelEntry(99, 15, 2), LevelEntry(98, 7, 1))
    assert l2.asks == (LevelEntry(101, 3, 1),)
    assert isinstance(l3, L3Snapshot)
    assert l3.bids == (
        OrderEntry(a.order_id, 99, 10),
        OrderEntry(b.order_id, 99, 5),
        OrderEntry(c.order_id, 98, 7),
    )
    assert l3.asks == (OrderEntry(d.order_id, 101, 3),)


def test_l1_is_sent_only_when_the_best_bid_or_offer_changes():
    feed = Feed()
    _, first = feed.rest(side=Side.BUY, price=99, quantity=10)
    _, worse = feed.rest(side=Side.BUY, price=98, quantity=10)
    _, same_level = feed.rest(side=Side.BUY, price=99, quantity=1, participant="bob")

    assert [m.quote for m in of(first, L1Update)] == [Quote(99, 10, 0, 0)]
    assert of(worse, L1Update) == []
    assert [m.quote for m in of(same_level, L1Update)] == [Quote(99, 11, 0, 0)]


def test_messages_of_one_command_are_l3_and_trades_in_event_order_then_l2_then_l1():
    feed = Feed()
    maker, _ = feed.rest(side=Side.SELL, price=101, quantity=5, participant="bob")
    feed.rest(side=Side.SELL, price=102, quantity=5, participant="bob")

    taker, messages = feed.rest(side=Side.BUY, price=102, quantity=7)

    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["TradeUpdate", "L3Update", "TradeUpdate", "L3Update", "L2Update", "L2Update", "L1Update"]
    assert [m.seq for m in messages] == list(range(messages[0].seq, messages[0].seq + len(messages)))
    assert of(messages, L3Update)[0].action is BookAction.DELETE
    assert of(messages, L3Update)[0].order_id == maker.order_id
    assert [(m.price, m.quantity, m.order_count) for m in of(messages, L2Update)] == [
        (101, 0, 0),
        (102, 3, 1),
    ]
    assert of(messages, L1Update)[0].quote == Quote(0, 0, 102, 3)
    trade = of(messages, TradeUpdate)[0]
    assert (trade.buy_order_id, trade.sell_order_id, trade.aggressor) == (
        taker.order_id,
        maker.order_id,
        Side.BUY,
    )


def test_cancel_of_the_last_order_at_a_level_reports_the_level_gone():
    feed = Feed()
    order, _ = feed.rest(side=Side.BUY, price=99, quantity=10)

    messages = feed.apply(make_cancel(order))

    assert [(m.action, m.order_id) for m in of(messages, L3Update)] == [(BookAction.DELETE, order.order_id)]
    assert [(m.side, m.price, m.quantity, m.order_count) for m in of(messages, L2Update)] == [
        (Side.BUY, 99, 0, 0)
    ]
    assert of(messages, L1Update)[0].quote == Quote()


def test_iceberg_refill_goes_to_the_back_of_its_level():
    feed = Feed()
    iceberg, _ = feed.rest(side=Side.SELL, price=101, quantity=30, display=10, participant="bob")
    behind, _ = feed.rest(side=Side.SELL, price=101, quantity=4, participant="carol")

    messages = feed.rest(side=Side.BUY, price=101, quantity=10)[1]

    assert [(m.action, m.order_id, m.visible) for m in of(messages, L3Update)] == [
        (BookAction.DELETE, iceberg.order_id, 0),
        (BookAction.ADD, iceberg.order_id, 10),
    ]
    assert of(messages, L2Update) == []  # 14 in 2 orders before and after
    assert of(messages, L1Update) == []
    l3 = feed.snapshot(Channel.L3)
    assert isinstance(l3, L3Snapshot)
    assert [e.order_id for e in l3.asks] == [behind.order_id, iceberg.order_id]


def test_partial_fill_updates_the_maker_in_place():
    feed = Feed()
    maker, _ = feed.rest(side=Side.SELL, price=101, quantity=10, participant="bob")
    feed.rest(side=Side.SELL, price=101, quantity=2, participant="carol")

    messages = feed.rest(side=Side.BUY, price=101, quantity=4)[1]

    assert [(m.action, m.order_id, m.visible) for m in of(messages, L3Update)] == [
        (BookAction.UPDATE, maker.order_id, 6)
    ]
    assert [(m.quantity, m.order_count) for m in of(messages, L2Update)] == [(8, 2)]
    assert of(messages, L1Update)[0].quote == Quote(0, 0, 101, 8)


def test_replace_down_in_size_keeps_priority_and_a_new_price_moves_the_order():
    feed = Feed()
    first, _ = feed.rest(side=Side.BUY, price=99, quantity=10)
    second, _ = feed.rest(side=Side.BUY, price=99, quantity=10, participant="bob")

    smaller = feed.apply(make_replace(first, quantity=6))
    moved = feed.apply(make_replace(second, price=100))

    assert [(m.action, m.visible) for m in of(smaller, L3Update)] == [(BookAction.UPDATE, 6)]
    assert [(m.action, m.price) for m in of(moved, L3Update)] == [
        (BookAction.DELETE, 99),
        (BookAction.ADD, 100),
    ]
    assert [(m.price, m.quantity, m.order_count) for m in of(moved, L2Update)] == [(99, 6, 1), (100, 10, 1)]
    assert of(moved, L1Update)[0].quote == Quote(100, 10, 0, 0)


def test_auction_uncross_prints_trades_without_an_aggressor():
    feed = Feed()
    feed.apply(SetPhase(SYMBOL, Phase.AUCTION))
    feed.rest(side=Side.BUY, price=101, quantity=10)
    feed.rest(side=Side.SELL, price=100, quantity=6, participant="bob")

    messages = feed.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))

    trade = of(messages, TradeUpdate)[0]
    assert (trade.quantity, trade.aggressor) == (6, None)
    assert of(messages, StatusUpdate)[0].phase is Phase.CONTINUOUS
    trades = feed.snapshot(Channel.TRADES)
    assert isinstance(trades, TradesSnapshot)
    assert trades.last == trade
    assert trades.last_price == trade.price


def test_market_wide_halt_is_a_status_message_for_symbol_blank():
    feed = Feed()

    halted = feed.apply(Halt(""))
    resumed = feed.apply(Resume(""))

    assert [(m.symbol, m.halted) for m in of(halted, StatusUpdate)] == [("", True)]
    assert [(m.symbol, m.halted, m.phase) for m in of(resumed, StatusUpdate)] == [
        ("", False, Phase.CONTINUOUS),
        (SYMBOL, False, Phase.AUCTION),
    ]
    status = feed.snapshot(Channel.STATUS)
    assert isinstance(status, StatusSnapshot)
    assert (status.phase, status.halted, status.market_halted) == (Phase.AUCTION, False, False)


def test_snapshot_is_stamped_with_the_last_sequence_handed_out():
    feed = Feed()
    _, messages = feed.rest(side=Side.BUY, price=99, quantity=10)

    assert feed.snapshot(Channel.L2).seq == messages[-1].seq == feed.book.sequence


def test_snapshot_of_an_unknown_symbol_raises():
    with pytest.raises(UnknownInstrumentError):
        MarketBook().snapshot("NOPE", Channel.L1)


# -- snapshot + increments == rebuilt ------------------------------------------------------------


class Replica:
    """A consumer's copy: a snapshot of each book channel, then the increments after it."""

    def __init__(self, l1: L1Snapshot, l2: L2Snapshot, l3: L3Snapshot) -> None:
        assert l1.seq == l2.seq == l3.seq
        self.seq = l1.seq
        self.quote = l1.quote
        self.levels = {(side, e.price): (e.quantity, e.order_count) for side, es in _sides(l2) for e in es}
        self.orders: dict[tuple[Side, int], dict[int, int]] = {}
        for side, entries in _sides(l3):
            for e in entries:
                self.orders.setdefault((side, e.price), {})[e.order_id] = e.visible

    def apply(self, m: Message) -> None:
        assert m.seq > self.seq
        self.seq = m.seq
        if isinstance(m, L1Update):
            self.quote = m.quote
        elif isinstance(m, L2Update):
            if m.quantity:
                self.levels[m.side, m.price] = (m.quantity, m.order_count)
            else:
                del self.levels[m.side, m.price]
        elif isinstance(m, L3Update):
            level = self.orders.setdefault((m.side, m.price), {})
            if m.action is BookAction.DELETE:
                del level[m.order_id]
                if not level:
                    del self.orders[m.side, m.price]
            else:
                level[m.order_id] = m.visible

    def l2(self, side: Side) -> tuple[LevelEntry, ...]:
        prices = sorted((p for s, p in self.levels if s is side), reverse=side is Side.BUY)
        return tuple(LevelEntry(p, *self.levels[side, p]) for p in prices)

    def l3(self, side: Side) -> tuple[OrderEntry, ...]:
        prices = sorted((p for s, p in self.orders if s is side), reverse=side is Side.BUY)
        return tuple(OrderEntry(i, p, v) for p in prices for i, v in self.orders[side, p].items())


def _sides(snapshot: L2Snapshot | L3Snapshot) -> tuple[tuple[Side, tuple[Any, ...]], ...]:
    return ((Side.BUY, snapshot.bids), (Side.SELL, snapshot.asks))


def book_snapshots(book: MarketBook) -> tuple[L1Snapshot, L2Snapshot, L3Snapshot]:
    l1, l2, l3 = (book.snapshot(SYMBOL, c) for c in BOOK_CHANNELS)
    assert isinstance(l1, L1Snapshot)
    assert isinstance(l2, L2Snapshot)
    assert isinstance(l3, L3Snapshot)
    return l1, l2, l3


def assert_matches_engine(feed: Feed) -> None:
    fresh = rebuilt(feed.driver)
    for channel in (*BOOK_CHANNELS, Channel.STATUS):
        assert without_seq(feed.book.snapshot(SYMBOL, channel)) == without_seq(
            fresh.snapshot(SYMBOL, channel)
        )
    trades, fresh_trades = feed.book.snapshot(SYMBOL, Channel.TRADES), fresh.snapshot(SYMBOL, Channel.TRADES)
    assert isinstance(trades, TradesSnapshot)
    assert isinstance(fresh_trades, TradesSnapshot)
    assert trades.last_price == fresh_trades.last_price


_participants = st.sampled_from(["alice", "bob", "carol"])
_sides_st = st.sampled_from([Side.BUY, Side.SELL])
_prices = st.integers(96, 104)


@st.composite
def commands(draw: st.DrawFn, feed: Feed) -> Command:
    """A command that makes sense against the current book (cancel and replace pick a live order)."""
    live = sorted(feed.driver.engine.orders.values(), key=lambda o: o.order_id)
    kind = draw(
        st.sampled_from(["limit", "limit", "limit", "iceberg", "market", "cancel", "replace", "phase"])
    )
    if kind in ("cancel", "replace") and live:
        order = draw(st.sampled_from(live))
        if kind == "cancel":
            return make_cancel(order)
        quantity = order.cum + draw(st.integers(1, 20))
        return make_replace(order, quantity=quantity, price=draw(_prices) if order.price else 0)
    if kind == "phase":
        phases: list[Command] = [SetPhase(SYMBOL, Phase.AUCTION), SetPhase(SYMBOL, Phase.CONTINUOUS),
                                 Halt(SYMBOL), Resume(SYMBOL)]  # fmt: skip
        return draw(st.sampled_from(phases))
    common = {
        "participant": draw(_participants),
        "side": draw(_sides_st),
        "quantity": draw(st.integers(1, 30)),
    }
    if kind == "market":
        return make_order(order_type=OrderType.MARKET, tif=TimeInForce.IOC, price=0, **common)
    tif = draw(st.sampled_from([TimeInForce.GTC, TimeInForce.DAY, TimeInForce.IOC]))
    display = draw(st.integers(1, 5)) if kind == "iceberg" else 0
    return make_order(price=draw(_prices), tif=tif, display=display, **common)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), steps=st.integers(1, 60), cut=st.integers(0, 60))
def test_snapshot_plus_increments_equals_the_rebuilt_book(data: st.DataObject, steps: int, cut: int):
    feed = Feed()
    replica: Replica | None = None
    for step in range(steps):
        if step == min(cut, steps - 1):
            replica = Replica(*book_snapshots(feed.book))
        messages = feed.apply(data.draw(commands(feed)))
        if replica is not None:
            for message in messages:
                replica.apply(message)
        assert_matches_engine(feed)
    assert replica is not None
    l1, l2, l3 = book_snapshots(rebuilt(feed.driver))
    assert replica.quote == l1.quote
    assert (replica.l2(Side.BUY), replica.l2(Side.SELL)) == (l2.bids, l2.asks)
    assert (replica.l3(Side.BUY), replica.l3(Side.SELL)) == (l3.bids, l3.asks)
