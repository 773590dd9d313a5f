"""The matching engine, one rule at a time: execution reports, order types, time in force, replace,
self-trade prevention, pre-trade risk, auctions, the close, and halts."""

from __future__ import annotations

import pytest

from scalebox.exchange.domain import (
    BookAction,
    BookUpdate,
    CancelOrder,
    CancelReject,
    ExecType,
    Halt,
    OrderType,
    OrdStatus,
    Phase,
    RejectReason,
    Resume,
    SelfTradePrevention,
    SetPhase,
    Side,
    StatusChange,
    TimeInForce,
    Trade,
)
from tests.exchange.factories import (
    SYMBOL,
    executions,
    make_cancel,
    make_engine,
    make_instrument,
    make_order,
    make_participant,
    make_replace,
    of_type,
    queue,
    trades,
)

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, STOP, STOP_LIMIT = OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT
DAY, GTC, IOC, FOK = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


def assert_bookkeeping_is_zero(driver, participant: str) -> None:
    account = driver.engine.accounts[participant]
    assert account.credit_used == 0
    for position in account.positions.values():
        assert (position.open_buy, position.open_sell) == (0, 0)


# -- new orders and execution reports -------------------------------------------------------------


def test_limit_order_rests_when_nothing_crosses() -> None:
    driver = make_engine()
    order, events = driver.submit(side=BUY, price=99, quantity=10)
    (new,) = executions(events)
    assert (new.exec_type, new.status, new.leaves, new.cum) == (ExecType.NEW, OrdStatus.NEW, 10, 0)
    assert new.order.order_id == order.order_id == 1
    assert of_type(events, BookUpdate) == [BookUpdate(SYMBOL, BookAction.ADD, 1, BUY, 99, 10)]
    assert driver.book.best_bid() == 99
    assert driver.engine.orders == {1: order}
    assert driver.engine.order("alice", order.cl_ord_id) is order


def test_partial_fill_reports_leaves_cum_and_last_fields() -> None:
    driver = make_engine()
    maker = driver.rest(participant="bob", side=SELL, price=100, quantity=10)
    taker, events = driver.submit(participant="alice", side=BUY, price=100, quantity=4)
    (trade,) = trades(events)
    assert trade == Trade(1, SYMBOL, 100, 4, taker.order_id, maker.order_id, "alice", "bob", BUY)
    taker_fill = executions(events, taker)[-1]
    maker_fill = executions(events, maker)[-1]
    assert (taker_fill.exec_type, taker_fill.status, taker_fill.leaves, taker_fill.cum) == (
        ExecType.TRADE,
        OrdStatus.FILLED,
        0,
        4,
    )
    assert (taker_fill.last_quantity, taker_fill.last_price, taker_fill.trade_id) == (4, 100, 1)
    assert (maker_fill.status, maker_fill.leaves, maker_fill.cum, maker_fill.last_quantity) == (
        OrdStatus.PARTIALLY_FILLED,
        6,
        4,
        4,
    )
    assert of_type(events, BookUpdate) == [
        BookUpdate(SYMBOL, BookAction.UPDATE, maker.order_id, SELL, 100, 6)
    ]
    assert queue(driver, SELL) == [(100, maker.cl_ord_id, 6)]


def test_aggressor_trades_at_each_resting_price_best_first() -> None:
    driver = make_engine()
    for price in (102, 100, 101):
        driver.rest(participant="bob", side=SELL, price=price, quantity=5)
    _, events = driver.submit(side=BUY, price=102, quantity=12)
    assert [(t.price, t.quantity) for t in trades(events)] == [(100, 5), (101, 5), (102, 2)]
    assert [(e.leaves, e.cum) for e in executions(events) if e.order.participant == "alice"][1:] == [
        (7, 5),
        (2, 10),
        (0, 12),
    ]


def test_taker_rest_rests_after_partial_fill() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=5)
    taker, events = driver.submit(side=BUY, price=101, quantity=15)
    assert executions(events, taker)[-1].status is OrdStatus.PARTIALLY_FILLED
    assert of_type(events, BookUpdate)[-1] == BookUpdate(SYMBOL, BookAction.ADD, taker.order_id, BUY, 101, 10)
    assert queue(driver, BUY) == [(101, taker.cl_ord_id, 10)]
    assert driver.book.best_ask() is None


def test_filled_orders_leave_the_engine_when_filled() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=10)
    taker, _ = driver.submit(side=BUY, price=100, quantity=10)
    assert taker.status is OrdStatus.FILLED
    assert driver.engine.orders == {}
    assert driver.engine.by_client == {}
    assert driver.book.resting_quantity() == 0


def test_fills_move_open_quantity_into_net_position_when_traded() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=10)
    driver.submit(side=BUY, price=100, quantity=4)
    bob = driver.engine.accounts["bob"].positions[SYMBOL]
    alice = driver.engine.accounts["alice"].positions[SYMBOL]
    assert (bob.net, bob.open_sell, alice.net, alice.open_buy) == (-4, 6, 4, 0)
    assert driver.engine.accounts["bob"].credit_used == 600
    assert driver.engine.accounts["alice"].credit_used == 0


# -- market orders --------------------------------------------------------------------------------


def test_market_order_walks_the_book_and_cancels_rest_with_no_liquidity() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=101, quantity=5)
    driver.rest(participant="carol", side=SELL, price=103, quantity=5)
    order, events = driver.submit(side=BUY, order_type=MARKET, price=0, tif=DAY, quantity=25)
    assert [(t.price, t.quantity) for t in trades(events)] == [(101, 5), (103, 5)]
    last = executions(events, order)[-1]
    assert (last.exec_type, last.status, last.leaves, last.cum) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        0,
        10,
    )
    assert last.reason is RejectReason.NO_LIQUIDITY
    assert driver.book.best_ask() is None
    assert driver.engine.orders == {}
    assert_bookkeeping_is_zero(driver, "alice")


def test_market_order_is_cancelled_with_no_liquidity_when_book_empty() -> None:
    driver = make_engine()
    _, events = driver.submit(side=SELL, order_type=MARKET, price=0, quantity=5)
    assert [e.exec_type for e in executions(events)] == [ExecType.NEW, ExecType.CANCELED]
    assert executions(events)[-1].reason is RejectReason.NO_LIQUIDITY
    assert trades(events) == []


def test_market_order_reserves_credit_at_the_collar_edge_while_live() -> None:
    driver = make_engine(participants=[make_participant(participant_id="alice", credit_limit_ticks=1_000)])
    # A market buy of 10 reserves 10 x 110 (the collar's top) = 1,100 > 1,000.
    _, events = driver.submit(side=BUY, order_type=MARKET, price=0, quantity=10)
    assert executions(events)[0].reason is RejectReason.CREDIT_LIMIT


# -- IOC and FOK ----------------------------------------------------------------------------------


def test_ioc_cancels_the_unfilled_rest() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=4)
    order, events = driver.submit(side=BUY, price=100, quantity=10, tif=IOC)
    last = executions(events, order)[-1]
    assert (last.exec_type, last.leaves, last.cum, last.reason) == (ExecType.CANCELED, 0, 4, None)
    assert driver.book.best_bid() is None
    assert driver.engine.orders == {}


def test_ioc_does_not_rest_when_nothing_crosses() -> None:
    driver = make_engine()
    _, events = driver.submit(side=BUY, price=100, quantity=10, tif=IOC)
    assert [e.exec_type for e in executions(events)] == [ExecType.NEW, ExecType.CANCELED]
    assert of_type(events, BookUpdate) == []


def test_fok_fills_in_full_across_levels_when_enough_liquidity() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=4)
    driver.rest(participant="carol", side=SELL, price=101, quantity=6)
    order, events = driver.submit(side=BUY, price=101, quantity=10, tif=FOK)
    assert sum(t.quantity for t in trades(events)) == 10
    assert order.status is OrdStatus.FILLED


def test_fok_is_killed_without_trading_when_not_fillable_in_full() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=4)
    driver.rest(participant="carol", side=SELL, price=102, quantity=6)
    order, events = driver.submit(side=BUY, price=101, quantity=10, tif=FOK)
    assert trades(events) == []
    last = executions(events, order)[-1]
    assert (last.exec_type, last.cum, last.reason) == (ExecType.CANCELED, 0, RejectReason.NOT_FILLABLE)
    assert [(price, leaves) for price, _, leaves in queue(driver, SELL)] == [(100, 4), (102, 6)]


def test_fok_counts_hidden_iceberg_quantity_when_checking_fillable() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=20, display=5)
    order, events = driver.submit(side=BUY, price=100, quantity=15, tif=FOK)
    assert order.status is OrdStatus.FILLED
    assert [t.quantity for t in trades(events)] == [5, 5, 5]


def test_fok_is_killed_when_own_resting_order_would_stop_it() -> None:
    driver = make_engine()
    driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=10)
    order, events = driver.submit(participant="alice", side=BUY, price=101, quantity=10, tif=FOK)
    assert trades(events) == []
    assert executions(events, order)[-1].reason is RejectReason.NOT_FILLABLE
    assert len(queue(driver, SELL)) == 2


def test_fok_is_killed_when_an_iceberg_refill_would_queue_behind_its_own_order() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=20, display=5)
    driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    # 5 from bob's tranche, then his refill queues behind alice's own order, which stops her.
    order, events = driver.submit(participant="alice", side=BUY, price=100, quantity=15, tif=FOK)
    assert trades(events) == []
    assert (order.cum, executions(events, order)[-1].reason) == (0, RejectReason.NOT_FILLABLE)


def test_fok_with_cancel_resting_skips_own_orders_when_checking_fillable() -> None:
    driver = make_engine()
    own = driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=10)
    order, events = driver.submit(
        participant="alice", side=BUY, price=101, quantity=10, tif=FOK, stp=SelfTradePrevention.CANCEL_RESTING
    )
    assert order.status is OrdStatus.FILLED
    assert executions(events, own)[-1].reason is RejectReason.SELF_TRADE
    assert queue(driver, SELL) == []


# -- icebergs -------------------------------------------------------------------------------------


def test_iceberg_rests_showing_only_its_display_quantity() -> None:
    driver = make_engine()
    order, events = driver.submit(side=SELL, price=100, quantity=20, display=5)
    assert of_type(events, BookUpdate) == [BookUpdate(SYMBOL, BookAction.ADD, order.order_id, SELL, 100, 5)]
    level = driver.book.asks.levels[100]
    assert (level.visible, level.live, order.visible, order.leaves) == (5, 1, 5, 20)
    assert driver.book.asks.depth(5) == [(100, 5, 1)]


def test_iceberg_refill_goes_to_the_back_of_the_queue() -> None:
    driver = make_engine()
    iceberg = driver.rest(participant="bob", side=SELL, price=100, quantity=20, display=5)
    plain = driver.rest(participant="carol", side=SELL, price=100, quantity=10)
    _, events = driver.submit(side=BUY, price=100, quantity=7)
    # 5 from the iceberg's tranche; its refill queues behind carol, who gives the other 2.
    assert [(t.sell_order_id, t.quantity) for t in trades(events)] == [
        (iceberg.order_id, 5),
        (plain.order_id, 2),
    ]
    assert queue(driver, SELL) == [(100, plain.cl_ord_id, 8), (100, iceberg.cl_ord_id, 15)]
    assert [(u.action, u.order_id, u.visible) for u in of_type(events, BookUpdate)] == [
        (BookAction.DELETE, iceberg.order_id, 0),
        (BookAction.ADD, iceberg.order_id, 5),
        (BookAction.UPDATE, plain.order_id, 8),
    ]


def test_iceberg_partial_tranche_fill_keeps_its_place() -> None:
    driver = make_engine()
    iceberg = driver.rest(participant="bob", side=SELL, price=100, quantity=20, display=5)
    plain = driver.rest(participant="carol", side=SELL, price=100, quantity=10)
    driver.submit(side=BUY, price=100, quantity=3)
    assert queue(driver, SELL) == [(100, iceberg.cl_ord_id, 17), (100, plain.cl_ord_id, 10)]
    assert iceberg.visible == 2
    assert driver.book.asks.levels[100].visible == 12


def test_iceberg_last_tranche_shows_only_what_is_left() -> None:
    driver = make_engine()
    iceberg = driver.rest(participant="bob", side=SELL, price=100, quantity=12, display=5)
    driver.submit(side=BUY, price=100, quantity=10)
    assert (iceberg.leaves, iceberg.visible) == (2, 2)


def test_iceberg_display_not_a_lot_multiple_is_rejected() -> None:
    driver = make_engine(instruments=[make_instrument(lot_size=10)])
    _, events = driver.submit(side=SELL, price=100, quantity=100, display=15)
    assert executions(events)[0].reason is RejectReason.INVALID_QUANTITY


# -- stops ----------------------------------------------------------------------------------------


def test_stop_order_waits_off_the_book_until_triggered() -> None:
    driver = make_engine()
    stop, events = driver.submit(side=BUY, order_type=STOP, price=0, stop_price=102, quantity=5)
    assert [e.exec_type for e in executions(events)] == [ExecType.NEW]
    assert of_type(events, BookUpdate) == []
    assert driver.book.best_bid() is None
    assert driver.state.stops.orders() == [stop]


def test_buy_stop_triggers_when_a_trade_prints_at_its_stop_price() -> None:
    driver = make_engine()
    stop = driver.rest(participant="alice", side=BUY, order_type=STOP, price=0, stop_price=101, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=2)
    driver.rest(participant="bob", side=SELL, price=102, quantity=10)
    _, events = driver.submit(participant="carol", side=BUY, price=101, quantity=2)
    assert [e.exec_type for e in executions(events, stop)] == [ExecType.TRIGGERED, ExecType.TRADE]
    assert [(t.price, t.quantity, t.buy_order_id) for t in trades(events)] == [
        (101, 2, 4),
        (102, 5, stop.order_id),
    ]
    assert stop.status is OrdStatus.FILLED
    assert driver.state.stops.orders() == []


def test_buy_stop_does_not_trigger_below_its_stop_price() -> None:
    driver = make_engine()
    stop = driver.rest(side=BUY, order_type=STOP, price=0, stop_price=102, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=2)
    driver.submit(participant="carol", side=BUY, price=101, quantity=2)
    assert stop.status is OrdStatus.NEW
    assert driver.state.stops.orders() == [stop]


def test_sell_stop_limit_triggers_and_rests_at_its_limit() -> None:
    driver = make_engine()
    stop = driver.rest(side=SELL, order_type=STOP_LIMIT, price=98, stop_price=99, quantity=5)
    driver.rest(participant="bob", side=BUY, price=99, quantity=2)
    _, events = driver.submit(participant="carol", side=SELL, price=99, quantity=2)
    assert executions(events, stop)[0].exec_type is ExecType.TRIGGERED
    assert queue(driver, SELL) == [(98, stop.cl_ord_id, 5)]
    assert driver.state.stops.orders() == []


def test_stop_cascade_triggers_stops_one_after_another() -> None:
    driver = make_engine()
    first = driver.rest(participant="alice", side=SELL, order_type=STOP, price=0, stop_price=99, quantity=3)
    second = driver.rest(participant="carol", side=SELL, order_type=STOP, price=0, stop_price=98, quantity=3)
    driver.rest(participant="bob", side=BUY, price=99, quantity=1)
    driver.rest(participant="bob", side=BUY, price=98, quantity=3)
    driver.rest(participant="bob", side=BUY, price=97, quantity=10)
    _, events = driver.submit(participant="carol", side=SELL, price=99, quantity=1)
    # carol prints 99 -> alice's stop sells 3 (hits 98) -> 98 prints -> carol's stop sells at 97.
    assert [(t.price, t.sell_order_id) for t in trades(events)] == [
        (99, 6),
        (98, first.order_id),
        (97, second.order_id),
    ]
    assert [e.order.order_id for e in executions(events) if e.exec_type is ExecType.TRIGGERED] == [
        first.order_id,
        second.order_id,
    ]
    assert first.status is second.status is OrdStatus.FILLED


def test_stop_triggers_on_entry_when_last_price_is_already_through_it() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=101, quantity=1)
    driver.rest(participant="bob", side=SELL, price=102, quantity=10)
    driver.submit(participant="carol", side=BUY, price=101, quantity=1)
    stop, events = driver.submit(side=BUY, order_type=STOP, price=0, stop_price=100, quantity=4)
    assert [e.exec_type for e in executions(events, stop)] == [
        ExecType.NEW,
        ExecType.TRIGGERED,
        ExecType.TRADE,
    ]


def test_stops_at_the_same_price_trigger_in_arrival_order() -> None:
    driver = make_engine()
    first = driver.rest(participant="alice", side=BUY, order_type=STOP, price=0, stop_price=101, quantity=2)
    second = driver.rest(participant="carol", side=BUY, order_type=STOP, price=0, stop_price=101, quantity=2)
    driver.rest(participant="bob", side=SELL, price=101, quantity=1)
    driver.rest(participant="bob", side=SELL, price=102, quantity=10)
    _, events = driver.submit(participant="carol", side=BUY, price=101, quantity=1)
    triggered = [e.order for e in executions(events) if e.exec_type is ExecType.TRIGGERED]
    assert triggered == [first, second]


def test_triggered_stop_market_without_liquidity_is_cancelled() -> None:
    driver = make_engine()
    stop = driver.rest(side=BUY, order_type=STOP, price=0, stop_price=101, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=2)
    _, events = driver.submit(participant="carol", side=BUY, price=101, quantity=2)
    assert executions(events, stop)[-1].reason is RejectReason.NO_LIQUIDITY
    assert_bookkeeping_is_zero(driver, "alice")


def test_stop_orders_wait_for_continuous_trading_after_an_auction() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    stop = driver.rest(side=BUY, order_type=STOP, price=0, stop_price=101, quantity=2)
    driver.rest(participant="bob", side=SELL, price=101, quantity=5)
    driver.rest(participant="carol", side=BUY, price=101, quantity=3)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    # The uncross prints 101 first, the phase changes, and only then does the stop trigger.
    (status,) = of_type(events, StatusChange)
    (triggered,) = [e for e in executions(events) if e.exec_type is ExecType.TRIGGERED]
    assert triggered.order is stop
    assert events.index(trades(events)[0]) < events.index(status) < events.index(triggered)
    assert stop.status is OrdStatus.FILLED


# -- replace --------------------------------------------------------------------------------------


def test_replace_size_decrease_keeps_time_priority() -> None:
    driver = make_engine()
    first = driver.rest(participant="alice", side=BUY, price=100, quantity=10)
    second = driver.rest(participant="bob", side=BUY, price=100, quantity=10)
    replace = make_replace(first, quantity=4)
    orig = first.cl_ord_id
    events = driver.apply(replace)
    assert queue(driver, BUY) == [(100, replace.cl_ord_id, 4), (100, second.cl_ord_id, 10)]
    assert of_type(events, BookUpdate) == [BookUpdate(SYMBOL, BookAction.UPDATE, first.order_id, BUY, 100, 4)]
    (report,) = executions(events)
    assert (report.exec_type, report.leaves, report.orig_cl_ord_id) == (ExecType.REPLACED, 4, orig)
    assert driver.book.bids.levels[100].visible == 14


def test_replace_size_increase_loses_time_priority() -> None:
    driver = make_engine()
    first = driver.rest(participant="alice", side=BUY, price=100, quantity=10)
    second = driver.rest(participant="bob", side=BUY, price=100, quantity=10)
    replace = make_replace(first, quantity=12)
    driver.apply(replace)
    assert queue(driver, BUY) == [(100, second.cl_ord_id, 10), (100, replace.cl_ord_id, 12)]


def test_replace_price_change_loses_time_priority() -> None:
    driver = make_engine()
    first = driver.rest(participant="alice", side=BUY, price=100, quantity=10)
    second = driver.rest(participant="bob", side=BUY, price=99, quantity=10)
    third = driver.rest(participant="carol", side=BUY, price=99, quantity=10)
    replace = make_replace(first, price=99)
    events = driver.apply(replace)
    assert queue(driver, BUY) == [
        (99, second.cl_ord_id, 10),
        (99, third.cl_ord_id, 10),
        (99, replace.cl_ord_id, 10),
    ]
    assert [(u.action, u.price) for u in of_type(events, BookUpdate)] == [
        (BookAction.DELETE, 100),
        (BookAction.ADD, 99),
    ]
    assert driver.book.bids.levels.keys() == {99}


def test_replace_price_change_trades_when_it_crosses() -> None:
    driver = make_engine()
    order = driver.rest(participant="alice", side=BUY, price=99, quantity=10)
    driver.rest(participant="bob", side=SELL, price=101, quantity=4)
    replace = make_replace(order, price=101)
    events = driver.apply(replace)
    assert [(t.price, t.quantity, t.aggressor) for t in trades(events)] == [(101, 4, BUY)]
    assert queue(driver, BUY) == [(101, replace.cl_ord_id, 6)]
    live = driver.engine.orders[order.order_id]
    assert (live.cl_ord_id, live.leaves, live.cum) == (replace.cl_ord_id, 6, 4)


def test_replace_of_a_partially_filled_order_counts_its_filled_part() -> None:
    driver = make_engine()
    order = driver.rest(participant="alice", side=SELL, price=100, quantity=10)
    driver.submit(participant="bob", side=BUY, price=100, quantity=4)
    driver.apply(make_replace(order, quantity=8))
    live = driver.engine.orders[order.order_id]
    assert (live.quantity, live.leaves, live.cum, live.status) == (8, 4, 4, OrdStatus.PARTIALLY_FILLED)
    assert driver.engine.accounts["alice"].positions[SYMBOL].open_sell == 4
    assert driver.engine.accounts["alice"].credit_used == 400


def test_replace_moves_the_clordid_to_the_new_one() -> None:
    driver = make_engine()
    order = driver.rest(price=100, quantity=10)
    replace = make_replace(order, price=99)
    driver.apply(replace)
    assert driver.engine.order("alice", order.cl_ord_id) is None
    live = driver.engine.order("alice", replace.cl_ord_id)
    assert live is not None
    assert live.price == 99
    events = driver.apply(CancelOrder("alice", SYMBOL, "x", replace.cl_ord_id))
    assert executions(events)[0].orig_cl_ord_id == replace.cl_ord_id


def test_replace_of_an_unknown_order_gets_a_cancel_reject() -> None:
    driver = make_engine()
    replace = make_replace(make_order(cl_ord_id="never-sent"), quantity=5)
    assert driver.apply(replace) == [
        CancelReject(
            "alice", SYMBOL, replace.cl_ord_id, "never-sent", 0, RejectReason.UNKNOWN_ORDER, True, None
        )
    ]


def test_replace_to_a_quantity_not_above_the_filled_part_is_rejected() -> None:
    driver = make_engine()
    order = driver.rest(side=SELL, price=100, quantity=10)
    driver.submit(participant="bob", side=BUY, price=100, quantity=4)
    (reject,) = driver.apply(make_replace(order, quantity=4))
    assert isinstance(reject, CancelReject)
    assert (reject.reason, reject.is_replace, reject.status) == (
        RejectReason.INVALID_QUANTITY,
        True,
        OrdStatus.PARTIALLY_FILLED,
    )
    assert queue(driver, SELL) == [(100, order.cl_ord_id, 6)]


def test_replace_to_a_clordid_of_another_live_order_is_rejected() -> None:
    driver = make_engine()
    order = driver.rest(price=99)
    other = driver.rest(price=98)
    (reject,) = driver.apply(make_replace(order, cl_ord_id=other.cl_ord_id, quantity=5))
    assert reject.reason is RejectReason.DUPLICATE_ORDER


def test_replace_outside_the_collar_is_rejected() -> None:
    driver = make_engine()
    order = driver.rest(price=99)
    (reject,) = driver.apply(make_replace(order, price=111))
    assert reject.reason is RejectReason.PRICE_COLLAR
    assert queue(driver, BUY) == [(99, order.cl_ord_id, 10)]


def test_replace_over_the_credit_limit_is_rejected() -> None:
    driver = make_engine(participants=[make_participant(credit_limit_ticks=2_000)])
    order = driver.rest(price=100, quantity=10)
    (reject,) = driver.apply(make_replace(order, quantity=21))
    assert reject.reason is RejectReason.CREDIT_LIMIT
    events = driver.apply(make_replace(order, quantity=20))
    assert executions(events)[0].exec_type is ExecType.REPLACED
    assert driver.engine.accounts["alice"].credit_used == 2_000


def test_replace_is_refused_while_the_market_is_closed() -> None:
    driver = make_engine()
    order = driver.rest(participant="alice", side=BUY, price=100)
    driver.rest(participant="bob", side=SELL, price=102)
    driver.apply(SetPhase(SYMBOL, Phase.CLOSED))
    events = driver.apply(make_replace(order, price=102))
    assert trades(events) == []
    assert [e.reason for e in events] == [RejectReason.MARKET_CLOSED]


def test_replace_of_an_auction_market_order_is_unsupported() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    order = driver.rest(side=BUY, order_type=MARKET, price=0, quantity=5)
    (reject,) = driver.apply(make_replace(order, quantity=3, price=0))
    assert reject.reason is RejectReason.UNSUPPORTED


def test_replace_in_auction_requeues_without_matching() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    order = driver.rest(participant="alice", side=BUY, price=99)
    driver.rest(participant="bob", side=SELL, price=101)
    events = driver.apply(make_replace(order, price=101))
    assert trades(events) == []
    assert driver.book.best_bid() == 101


def test_replace_of_a_stop_order_keeps_it_waiting() -> None:
    driver = make_engine()
    stop = driver.rest(side=SELL, order_type=STOP_LIMIT, price=97, stop_price=98, quantity=5)
    replace = make_replace(stop, price=96, quantity=3)
    events = driver.apply(replace)
    assert executions(events)[0].exec_type is ExecType.REPLACED
    assert of_type(events, BookUpdate) == []
    (waiting,) = driver.state.stops.orders()
    assert (waiting.price, waiting.leaves, waiting.cl_ord_id) == (96, 3, replace.cl_ord_id)
    assert driver.engine.accounts["alice"].credit_used == 96 * 3


# -- self-trade prevention ------------------------------------------------------------------------


def test_stp_cancel_aggressive_cancels_the_taker_and_keeps_the_resting_order() -> None:
    driver = make_engine()
    resting = driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    taker, events = driver.submit(side=BUY, price=100, quantity=5, stp=SelfTradePrevention.CANCEL_AGGRESSIVE)
    assert trades(events) == []
    assert executions(events, taker)[-1].reason is RejectReason.SELF_TRADE
    assert queue(driver, SELL) == [(100, resting.cl_ord_id, 5)]
    assert queue(driver, BUY) == []


def test_stp_cancel_resting_cancels_the_resting_order_and_the_taker_trades_on() -> None:
    driver = make_engine()
    own = driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    other = driver.rest(participant="bob", side=SELL, price=100, quantity=5)
    taker, events = driver.submit(side=BUY, price=100, quantity=5, stp=SelfTradePrevention.CANCEL_RESTING)
    assert executions(events, own)[-1].reason is RejectReason.SELF_TRADE
    assert [(t.sell_order_id, t.quantity) for t in trades(events)] == [(other.order_id, 5)]
    assert taker.status is OrdStatus.FILLED
    assert BookUpdate(SYMBOL, BookAction.DELETE, own.order_id, SELL, 100, 0) in events
    assert driver.book.asks.levels == {}


def test_stp_cancel_both_cancels_the_taker_and_the_resting_order() -> None:
    driver = make_engine()
    own = driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    driver.rest(participant="bob", side=SELL, price=100, quantity=5)
    taker, events = driver.submit(side=BUY, price=100, quantity=5, stp=SelfTradePrevention.CANCEL_BOTH)
    assert trades(events) == []
    assert executions(events, own)[-1].reason is RejectReason.SELF_TRADE
    assert executions(events, taker)[-1].reason is RejectReason.SELF_TRADE
    assert len(queue(driver, SELL)) == 1


def test_stp_applies_the_takers_mode_not_the_resting_orders() -> None:
    driver = make_engine()
    resting = driver.rest(
        participant="alice", side=SELL, price=100, stp=SelfTradePrevention.CANCEL_AGGRESSIVE
    )
    taker, events = driver.submit(side=BUY, price=100, stp=SelfTradePrevention.CANCEL_RESTING)
    assert executions(events, resting)[-1].reason is RejectReason.SELF_TRADE
    assert taker.status is OrdStatus.NEW
    assert queue(driver, BUY) == [(100, taker.cl_ord_id, 10)]


def test_stp_after_trading_with_others_cancels_only_the_rest() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=100, quantity=3)
    driver.rest(participant="alice", side=SELL, price=100, quantity=5)
    taker, events = driver.submit(side=BUY, price=101, quantity=10)
    last = executions(events, taker)[-1]
    assert (last.exec_type, last.cum, last.reason) == (ExecType.CANCELED, 3, RejectReason.SELF_TRADE)
    assert_bookkeeping_is_zero(driver, "bob")


def test_stp_cancel_resting_of_an_iceberg_removes_its_hidden_part_too() -> None:
    driver = make_engine()
    own = driver.rest(participant="alice", side=SELL, price=100, quantity=20, display=5)
    driver.submit(side=BUY, price=100, quantity=5, stp=SelfTradePrevention.CANCEL_RESTING)
    assert own.leaves == 0
    assert driver.book.asks.levels == {}
    assert driver.engine.accounts["alice"].positions[SYMBOL].open_sell == 0


# -- pre-trade risk -------------------------------------------------------------------------------

RISKY = make_instrument(max_order_quantity=1_000, max_notional_ticks=50_000, lot_size=5)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"symbol": "NOPE"}, RejectReason.UNKNOWN_SYMBOL),
        ({"participant": "mallory"}, RejectReason.UNKNOWN_PARTICIPANT),
        ({"quantity": 0}, RejectReason.INVALID_QUANTITY),
        ({"quantity": -5}, RejectReason.INVALID_QUANTITY),
        ({"quantity": 7}, RejectReason.INVALID_QUANTITY),
        ({"display": -5}, RejectReason.INVALID_QUANTITY),
        ({"price": 0}, RejectReason.INVALID_PRICE),
        ({"price": -100}, RejectReason.INVALID_PRICE),
        ({"order_type": STOP, "price": 0, "stop_price": 0}, RejectReason.INVALID_PRICE),
        ({"order_type": STOP, "price": 100, "stop_price": 101}, RejectReason.INVALID_PRICE),
        ({"order_type": STOP_LIMIT, "price": 0, "stop_price": 101}, RejectReason.INVALID_PRICE),
        ({"order_type": MARKET, "price": 100}, RejectReason.UNSUPPORTED),
        ({"order_type": MARKET, "price": 0, "display": 5}, RejectReason.UNSUPPORTED),
        ({"order_type": STOP, "price": 0, "stop_price": 101, "display": 5}, RejectReason.UNSUPPORTED),
        ({"quantity": 1_005}, RejectReason.MAX_ORDER_SIZE),
        ({"quantity": 505}, RejectReason.MAX_NOTIONAL),
        ({"order_type": MARKET, "price": 0, "quantity": 460}, RejectReason.MAX_NOTIONAL),
        ({"price": 111}, RejectReason.PRICE_COLLAR),
        ({"price": 89}, RejectReason.PRICE_COLLAR),
        ({"order_type": STOP_LIMIT, "price": 120, "stop_price": 101}, RejectReason.PRICE_COLLAR),
    ],
)
def test_order_is_rejected_when_it_breaks_a_rule(overrides, reason) -> None:
    driver = make_engine(instruments=[RISKY])
    fields = {"quantity": 10} | overrides
    order, events = driver.submit(**fields)
    (reject,) = events
    assert (reject.exec_type, reject.status, reject.reason, reject.leaves, reject.cum) == (
        ExecType.REJECTED,
        OrdStatus.REJECTED,
        reason,
        0,
        0,
    )
    assert reject.order is order
    assert order.order_id == 0
    assert driver.engine.orders == {}
    assert driver.engine.accounts["alice"].credit_used == 0


def test_order_at_the_collar_edge_is_accepted() -> None:
    driver = make_engine()
    for price in (90, 110):
        _, events = driver.submit(side=BUY if price == 90 else SELL, price=price)
        assert executions(events)[0].exec_type is ExecType.NEW


def test_collar_moves_with_the_last_traded_price() -> None:
    driver = make_engine(instruments=[make_instrument(band_bps=2_000)])
    driver.rest(participant="bob", side=SELL, price=108, quantity=1)
    driver.submit(participant="carol", side=BUY, price=108, quantity=1)
    # The reference is now 108: the collar is 98..118 (108 +- 10 ticks).
    _, events = driver.submit(side=SELL, price=118)
    assert executions(events)[0].exec_type is ExecType.NEW
    _, events = driver.submit(side=BUY, price=97)
    assert executions(events)[0].reason is RejectReason.PRICE_COLLAR


def test_credit_limit_counts_open_orders_and_is_freed_by_cancel() -> None:
    driver = make_engine(participants=[make_participant(credit_limit_ticks=2_000)])
    first = driver.rest(price=100, quantity=10)
    driver.rest(side=SELL, price=105, quantity=9)
    assert driver.engine.accounts["alice"].credit_used == 1_945
    _, events = driver.submit(price=100, quantity=1)
    assert executions(events)[0].reason is RejectReason.CREDIT_LIMIT
    driver.apply(make_cancel(first))
    assert driver.engine.accounts["alice"].credit_used == 945
    _, events = driver.submit(price=100, quantity=10)
    assert executions(events)[0].exec_type is ExecType.NEW


def test_position_limit_counts_open_buys_and_net_position() -> None:
    driver = make_engine(
        participants=[make_participant(position_limit=10), make_participant(participant_id="bob")]
    )
    driver.rest(participant="bob", side=SELL, price=100, quantity=6)
    driver.submit(side=BUY, price=100, quantity=6)  # alice is now long 6
    _, events = driver.submit(side=BUY, price=99, quantity=5)
    assert executions(events)[0].reason is RejectReason.POSITION_LIMIT
    driver.rest(side=BUY, price=99, quantity=4)
    # Selling reduces the long first: 16 short of long 6 would leave her short 10, the limit.
    _, events = driver.submit(side=SELL, price=105, quantity=16)
    assert executions(events)[0].exec_type is ExecType.NEW
    _, events = driver.submit(side=SELL, price=105, quantity=1)
    assert executions(events)[0].reason is RejectReason.POSITION_LIMIT


def test_bookkeeping_returns_to_zero_after_every_order_is_cancelled() -> None:
    driver = make_engine(participants=[make_participant(credit_limit_ticks=100_000, position_limit=1_000)])
    orders = [
        driver.rest(side=BUY, price=99, quantity=10),
        driver.rest(side=SELL, price=103, quantity=20, display=5),
        driver.rest(side=BUY, order_type=STOP, price=0, stop_price=104, quantity=7),
        driver.rest(side=SELL, order_type=STOP_LIMIT, price=95, stop_price=96, quantity=3),
    ]
    driver.apply(make_replace(orders[0], price=98, quantity=12))
    account = driver.engine.accounts["alice"]
    assert account.credit_used == 98 * 12 + 103 * 20 + 110 * 7 + 95 * 3
    for order in orders:
        live = driver.engine.orders[order.order_id]
        driver.apply(CancelOrder("alice", SYMBOL, "x" + live.cl_ord_id, live.cl_ord_id))
    assert_bookkeeping_is_zero(driver, "alice")
    assert driver.engine.orders == {} == driver.engine.by_client


# -- duplicates and cancels -----------------------------------------------------------------------


def test_duplicate_clordid_of_a_live_order_is_rejected() -> None:
    driver = make_engine()
    order = driver.rest(cl_ord_id="same")
    _, events = driver.submit(cl_ord_id="same", price=99)
    assert executions(events)[0].reason is RejectReason.DUPLICATE_ORDER
    assert driver.engine.orders == {order.order_id: order}


def test_clordid_can_be_reused_once_the_order_is_done() -> None:
    driver = make_engine()
    order = driver.rest(cl_ord_id="same")
    driver.apply(make_cancel(order))
    _, events = driver.submit(cl_ord_id="same")
    assert executions(events)[0].exec_type is ExecType.NEW


def test_same_clordid_from_different_participants_is_accepted() -> None:
    driver = make_engine()
    driver.rest(participant="alice", cl_ord_id="same", price=99)
    _, events = driver.submit(participant="bob", cl_ord_id="same", price=98)
    assert executions(events)[0].exec_type is ExecType.NEW


def test_same_order_object_submitted_twice_is_rejected_as_duplicate() -> None:
    driver = make_engine()
    order = driver.rest()
    driver.apply(make_cancel(order))
    events = driver.apply(order)
    assert executions(events)[0].reason is RejectReason.DUPLICATE_ORDER


def test_cancel_takes_the_order_off_the_book() -> None:
    driver = make_engine()
    order = driver.rest(price=99, quantity=10)
    cancel = make_cancel(order)
    orig = order.cl_ord_id
    events = driver.apply(cancel)
    assert of_type(events, BookUpdate) == [BookUpdate(SYMBOL, BookAction.DELETE, order.order_id, BUY, 99, 0)]
    (report,) = executions(events)
    assert (report.exec_type, report.status, report.leaves, report.cum) == (
        ExecType.CANCELED,
        OrdStatus.CANCELED,
        0,
        0,
    )
    assert (report.order.cl_ord_id, report.orig_cl_ord_id) == (cancel.cl_ord_id, orig)
    assert driver.book.best_bid() is None
    assert driver.engine.orders == {}


def test_cancel_by_order_id_wins_over_clordid() -> None:
    driver = make_engine()
    first = driver.rest(price=99)
    second = driver.rest(price=98)
    driver.apply(CancelOrder("alice", SYMBOL, "x", first.cl_ord_id, order_id=second.order_id))
    assert queue(driver, BUY) == [(99, first.cl_ord_id, 10)]


def test_cancel_of_an_unknown_order_gets_a_cancel_reject() -> None:
    driver = make_engine()
    events = driver.apply(CancelOrder("alice", SYMBOL, "x", "nope"))
    assert events == [CancelReject("alice", SYMBOL, "x", "nope", 0, RejectReason.UNKNOWN_ORDER, False, None)]


def test_cancel_of_another_participants_order_gets_a_cancel_reject() -> None:
    driver = make_engine()
    order = driver.rest(participant="bob")
    (by_id,) = driver.apply(CancelOrder("alice", SYMBOL, "x", "", order_id=order.order_id))
    (by_clordid,) = driver.apply(CancelOrder("alice", SYMBOL, "y", order.cl_ord_id))
    assert by_id.reason is by_clordid.reason is RejectReason.UNKNOWN_ORDER
    assert order.leaves == 10


def test_cancel_with_the_wrong_symbol_gets_a_cancel_reject() -> None:
    driver = make_engine()
    order = driver.rest()
    (reject,) = driver.apply(make_cancel(order, symbol="OTHER"))
    assert reject.reason is RejectReason.UNKNOWN_ORDER


def test_cancel_of_a_filled_order_gets_a_cancel_reject() -> None:
    driver = make_engine()
    order = driver.rest(participant="bob", side=SELL)
    driver.submit(side=BUY)
    (reject,) = driver.apply(make_cancel(order))
    assert reject.reason is RejectReason.UNKNOWN_ORDER


def test_cancel_of_a_stop_order_means_it_never_triggers() -> None:
    driver = make_engine()
    stop = driver.rest(side=BUY, order_type=STOP, price=0, stop_price=101, quantity=5)
    driver.apply(make_cancel(stop))
    assert driver.state.stops.orders() == []
    driver.rest(participant="bob", side=SELL, price=101, quantity=2)
    _, events = driver.submit(participant="carol", side=BUY, price=101, quantity=2)
    assert [e.exec_type for e in executions(events) if e.exec_type is ExecType.TRIGGERED] == []


def test_cancel_of_an_auction_market_order_removes_it_from_the_uncross() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    market = driver.rest(side=BUY, order_type=MARKET, price=0, quantity=5)
    driver.rest(participant="bob", side=SELL, price=100, quantity=5)
    driver.apply(make_cancel(market))
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert trades(events) == []
    assert len(driver.state.market_buys) == 0


def test_cancels_of_many_orders_at_one_level_keep_the_queue_in_order() -> None:
    driver = make_engine()
    orders = [driver.rest(participant="bob", side=SELL, price=100, quantity=1) for _ in range(80)]
    keep = orders[::7]
    for order in orders:
        if order not in keep:
            driver.apply(make_cancel(order))
    level = driver.book.asks.levels[100]
    assert (level.live, level.visible) == (len(keep), len(keep))
    assert [o.cl_ord_id for o in level] == [o.cl_ord_id for o in keep]
    _, events = driver.submit(side=BUY, price=100, quantity=len(keep))
    assert [t.sell_order_id for t in trades(events)] == [o.order_id for o in keep]
    assert driver.book.asks.levels == {}


# -- auctions -------------------------------------------------------------------------------------


def test_orders_rest_without_matching_during_an_auction() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=102)
    _, events = driver.submit(participant="bob", side=SELL, price=99)
    assert trades(events) == []
    assert (driver.book.best_bid(), driver.book.best_ask()) == (102, 99)


def test_ioc_and_fok_are_refused_during_an_auction() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    for tif in (IOC, FOK):
        _, events = driver.submit(tif=tif)
        assert executions(events)[0].reason is RejectReason.NOT_IN_AUCTION


def test_leaving_the_auction_uncrosses_at_the_maximum_volume_price() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=103, quantity=10)
    low_bid = driver.rest(participant="alice", side=BUY, price=100, quantity=2)
    driver.rest(participant="bob", side=SELL, price=99, quantity=4)
    driver.rest(participant="bob", side=SELL, price=102, quantity=6)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    # 99 and 100 trade 4, 102 and 103 trade 10: 102 wins though 100 is the reference.
    assert {t.price for t in trades(events)} == {102}
    assert sum(t.quantity for t in trades(events)) == 10
    assert all(t.aggressor is None for t in trades(events))
    assert (driver.state.last_price, driver.state.phase) == (102, Phase.CONTINUOUS)
    assert queue(driver, BUY) == [(100, low_bid.cl_ord_id, 2)]
    assert driver.book.best_ask() is None


def test_uncross_prefers_the_smallest_imbalance_on_equal_volume() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=102, quantity=10)
    driver.rest(participant="alice", side=BUY, price=101, quantity=5)
    driver.rest(participant="bob", side=SELL, price=100, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=5)
    driver.rest(participant="bob", side=SELL, price=103, quantity=10)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    # 101 and 102 both trade 10; 102 leaves no imbalance (101 leaves 5), though 101 is nearer 100.
    assert {t.price for t in trades(events)} == {102}
    assert sum(t.quantity for t in trades(events)) == 10


def test_uncross_prefers_the_price_closest_to_the_reference_on_ties() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=104, quantity=5)
    driver.rest(participant="bob", side=SELL, price=101, quantity=5)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    # Every price from 101 to 104 trades 5 with no imbalance; 101 is closest to 100.
    assert [(t.price, t.quantity) for t in trades(events)] == [(101, 5)]


def test_uncross_allocates_by_price_then_time() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    early = driver.rest(participant="alice", side=BUY, price=100, quantity=5)
    better = driver.rest(participant="carol", side=BUY, price=101, quantity=5)
    late = driver.rest(participant="alice", side=BUY, price=100, quantity=5)
    driver.rest(participant="bob", side=SELL, price=100, quantity=8)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert [(t.buy_order_id, t.quantity, t.price) for t in trades(events)] == [
        (better.order_id, 5, 100),
        (early.order_id, 3, 100),
    ]
    assert queue(driver, BUY) == [(100, early.cl_ord_id, 2), (100, late.cl_ord_id, 5)]


def test_uncross_executes_market_orders_first() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    limit = driver.rest(participant="alice", side=BUY, price=105, quantity=5)
    market = driver.rest(participant="carol", side=BUY, order_type=MARKET, price=0, quantity=5)
    driver.rest(participant="bob", side=SELL, price=100, quantity=6)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert [(t.buy_order_id, t.quantity) for t in trades(events)] == [
        (market.order_id, 5),
        (limit.order_id, 1),
    ]


def test_uncross_cancels_unfilled_auction_market_orders() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    market = driver.rest(side=BUY, order_type=MARKET, price=0, quantity=10)
    driver.rest(participant="bob", side=SELL, price=101, quantity=4)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert [(t.price, t.quantity) for t in trades(events)] == [(101, 4)]
    last = executions(events, market)[-1]
    assert (last.exec_type, last.cum, last.reason) == (ExecType.CANCELED, 4, RejectReason.NO_LIQUIDITY)
    assert_bookkeeping_is_zero(driver, "alice")


def test_uncross_of_market_orders_alone_trades_at_the_reference_price() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, order_type=MARKET, price=0, quantity=10)
    driver.rest(participant="bob", side=SELL, order_type=MARKET, price=0, quantity=4)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert [(t.price, t.quantity) for t in trades(events)] == [(100, 4)]


def test_uncross_leaves_the_unmatched_rest_on_an_uncrossed_book() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    bid = driver.rest(participant="alice", side=BUY, price=102, quantity=10, display=4)
    driver.rest(participant="bob", side=SELL, price=100, quantity=6)
    driver.rest(participant="bob", side=SELL, price=103, quantity=6)
    driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert (bid.leaves, bid.visible) == (4, 4)
    assert driver.book.bids.levels[102].visible == 4
    assert (driver.book.best_bid(), driver.book.best_ask()) == (102, 103)


def test_auction_without_a_cross_trades_nothing() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=99)
    driver.rest(participant="bob", side=SELL, price=101)
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert trades(events) == []
    assert events == [StatusChange(SYMBOL, Phase.CONTINUOUS, False, "phase")]


def test_uncross_price_becomes_the_new_reference() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=108, quantity=5)
    driver.rest(participant="bob", side=SELL, price=108, quantity=5)
    driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert driver.state.last_price == 108
    assert driver.state.band(driver.timestamp_ns) == (103, 113)
    _, events = driver.submit(side=SELL, price=118)
    assert executions(events)[0].exec_type is ExecType.NEW


# -- the close ------------------------------------------------------------------------------------


def test_close_expires_day_orders_and_keeps_gtc_orders() -> None:
    driver = make_engine()
    day = driver.rest(tif=DAY, price=99)
    gtc = driver.rest(tif=GTC, price=98)
    day_stop = driver.rest(tif=DAY, side=SELL, order_type=STOP, price=0, stop_price=95)
    events = driver.apply(SetPhase(SYMBOL, Phase.CLOSED))
    expired = [e for e in executions(events) if e.exec_type is ExecType.EXPIRED]
    assert [e.order for e in expired] == [day, day_stop]
    assert all(e.status is OrdStatus.EXPIRED and e.reason is RejectReason.END_OF_DAY for e in expired)
    assert queue(driver, BUY) == [(98, gtc.cl_ord_id, 10)]
    assert driver.state.stops.orders() == []
    assert list(driver.engine.orders.values()) == [gtc]
    assert driver.engine.accounts["alice"].credit_used == 980


def test_gtc_orders_survive_the_close_into_the_next_session() -> None:
    driver = make_engine()
    gtc = driver.rest(participant="alice", side=BUY, price=100, tif=GTC)
    driver.apply(SetPhase(SYMBOL, Phase.CLOSED))
    driver.apply(SetPhase(SYMBOL, Phase.AUCTION))
    driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    _, events = driver.submit(participant="bob", side=SELL, price=100)
    assert [t.buy_order_id for t in trades(events)] == [gtc.order_id]


def test_orders_are_refused_while_the_market_is_closed() -> None:
    driver = make_engine(phase=Phase.CLOSED)
    _, events = driver.submit()
    assert executions(events)[0].reason is RejectReason.MARKET_CLOSED


def test_closing_from_an_auction_uncrosses_first() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=101, quantity=5, tif=DAY)
    driver.rest(participant="bob", side=SELL, price=100, quantity=8, tif=DAY)
    events = driver.apply(SetPhase(SYMBOL, Phase.CLOSED))
    assert sum(t.quantity for t in trades(events)) == 5
    expired = [e for e in executions(events) if e.exec_type is ExecType.EXPIRED]
    assert [(e.order.participant, e.cum) for e in expired] == [("bob", 5)]
    assert driver.engine.orders == {}


# -- halts ----------------------------------------------------------------------------------------


def halted_by_volatility(driver):
    """Asks at 104 and 106; a buy for 10 at 108 trades 104 then meets 106, outside 95..105."""
    driver.rest(participant="bob", side=SELL, price=104, quantity=5)
    outside = driver.rest(participant="bob", side=SELL, price=106, quantity=5)
    taker, events = driver.submit(participant="alice", side=BUY, price=108, quantity=10)
    return taker, outside, events


def test_trade_outside_the_band_halts_the_instrument_and_cancels_the_taker_rest() -> None:
    driver = make_engine()
    taker, outside, events = halted_by_volatility(driver)
    assert [(t.price, t.quantity) for t in trades(events)] == [(104, 5)]
    assert StatusChange(SYMBOL, Phase.CONTINUOUS, True, "volatility") in events
    last = executions(events, taker)[-1]
    assert (last.exec_type, last.cum, last.reason) == (ExecType.CANCELED, 5, RejectReason.VOLATILITY_HALT)
    assert driver.state.halted
    assert queue(driver, SELL) == [(106, outside.cl_ord_id, 5)]
    assert_bookkeeping_is_zero(driver, "alice")


def test_orders_are_refused_while_the_instrument_is_halted() -> None:
    driver = make_engine()
    halted_by_volatility(driver)
    _, events = driver.submit(participant="carol", side=BUY, price=106, quantity=1)
    assert executions(events)[0].reason is RejectReason.HALTED


def test_cancels_are_accepted_while_the_instrument_is_halted() -> None:
    driver = make_engine()
    _, outside, _ = halted_by_volatility(driver)
    events = driver.apply(make_cancel(outside))
    assert executions(events)[0].exec_type is ExecType.CANCELED


def test_replaces_are_refused_while_the_instrument_is_halted() -> None:
    driver = make_engine()
    _, outside, _ = halted_by_volatility(driver)
    (reject,) = driver.apply(make_replace(outside, quantity=2))
    assert reject.reason is RejectReason.HALTED


def test_resume_reopens_through_an_auction() -> None:
    driver = make_engine()
    halted_by_volatility(driver)
    events = driver.apply(Resume(SYMBOL))
    assert events == [StatusChange(SYMBOL, Phase.AUCTION, False, "resumed")]
    driver.rest(participant="carol", side=BUY, price=106, quantity=3)  # rests: no matching in a call
    assert trades(driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))) == [
        Trade(2, SYMBOL, 106, 3, 4, 2, "carol", "bob", None)
    ]


def test_leaving_an_auction_while_halted_does_not_uncross() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    driver.rest(participant="alice", side=BUY, price=101)
    driver.rest(participant="bob", side=SELL, price=100)
    events = driver.apply(Halt(SYMBOL, "news"))
    assert events == [StatusChange(SYMBOL, Phase.AUCTION, True, "news")]
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert trades(events) == []


def test_market_wide_halt_refuses_orders_on_every_instrument() -> None:
    driver = make_engine(instruments=[make_instrument(), make_instrument(symbol="OTHER")])
    resting = driver.rest(price=99)
    events = driver.apply(Halt("", "market"))
    assert events == [StatusChange("", Phase.CONTINUOUS, True, "market")]
    for symbol in (SYMBOL, "OTHER"):
        _, events = driver.submit(symbol=symbol, participant="bob", side=SELL, price=99)
        assert executions(events)[0].reason is RejectReason.HALTED
    (reject,) = driver.apply(make_replace(resting, quantity=3))
    assert reject.reason is RejectReason.HALTED
    assert executions(driver.apply(make_cancel(resting)))[0].exec_type is ExecType.CANCELED


def test_market_wide_resume_sends_every_instrument_to_an_auction() -> None:
    driver = make_engine(instruments=[make_instrument(), make_instrument(symbol="OTHER")])
    driver.apply(Halt("", "market"))
    events = driver.apply(Resume(""))
    assert events == [
        StatusChange("", Phase.CONTINUOUS, False, "resumed"),
        StatusChange(SYMBOL, Phase.AUCTION, False, "resumed"),
        StatusChange("OTHER", Phase.AUCTION, False, "resumed"),
    ]
    assert all(state.phase is Phase.AUCTION for state in driver.engine.instruments.values())


def test_instrument_halt_outlives_a_market_wide_resume() -> None:
    driver = make_engine(instruments=[make_instrument(), make_instrument(symbol="OTHER")])
    driver.apply(Halt(SYMBOL, "news"))
    driver.apply(Halt("", "market"))
    events = driver.apply(Resume(""))
    assert [e.symbol for e in events] == ["", "OTHER"]
    assert driver.state.halted
    _, events = driver.submit()
    assert executions(events)[0].reason is RejectReason.HALTED


def test_instrument_resume_during_a_market_halt_waits_for_the_market() -> None:
    driver = make_engine()
    driver.apply(Halt(SYMBOL, "news"))
    driver.apply(Halt("", "market"))
    assert driver.apply(Resume(SYMBOL)) == []
    assert driver.state.phase is Phase.CONTINUOUS
    _, events = driver.submit()
    assert executions(events)[0].reason is RejectReason.HALTED
    driver.apply(Resume(""))
    assert driver.state.phase is Phase.AUCTION


def test_stops_do_not_trigger_while_halted() -> None:
    driver = make_engine()
    stop = driver.rest(participant="carol", side=BUY, order_type=STOP, price=0, stop_price=104, quantity=1)
    halted_by_volatility(driver)  # prints 104, then halts
    assert stop.status is OrdStatus.NEW
    assert driver.state.stops.orders() == [stop]


def test_band_follows_the_rolling_vwap_and_forgets_old_trades() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=104, quantity=10)
    driver.submit(participant="carol", side=BUY, price=104, quantity=10)
    assert driver.state.band(driver.timestamp_ns) == (99, 109)  # 104 +- 5%
    driver.rest(participant="bob", side=SELL, price=100, quantity=10)
    driver.submit(participant="carol", side=BUY, price=100, quantity=10)
    assert driver.state.band(driver.timestamp_ns) == (97, 107)  # VWAP 102
    driver.advance(seconds=301)
    # Nothing traded inside the 300 s window: the band is drawn around the last price.
    assert driver.state.band(driver.timestamp_ns) == (95, 105)


def test_trade_inside_a_band_moved_by_trading_does_not_halt() -> None:
    driver = make_engine()
    driver.rest(participant="bob", side=SELL, price=104, quantity=10)
    driver.submit(participant="carol", side=BUY, price=104, quantity=10)
    driver.rest(participant="bob", side=SELL, price=108, quantity=10)
    _, events = driver.submit(participant="carol", side=BUY, price=108, quantity=10)
    assert [t.price for t in trades(events)] == [108]  # outside 95..105, inside 99..109
    assert not driver.state.halted


def test_reopening_straight_from_the_close_uncrosses_a_book_a_halt_left_crossed() -> None:
    driver = make_engine(phase=Phase.AUCTION)
    bid = driver.rest(participant="alice", side=BUY, price=102, tif=GTC)
    ask = driver.rest(participant="bob", side=SELL, price=99, tif=GTC)
    driver.apply(Halt(SYMBOL, "news"))
    events = driver.apply(SetPhase(SYMBOL, Phase.CLOSED))  # halted: the closing uncross is skipped
    assert trades(events) == []
    driver.apply(Resume(SYMBOL))  # still closed
    events = driver.apply(SetPhase(SYMBOL, Phase.CONTINUOUS))
    assert [(t.buy_order_id, t.sell_order_id, t.quantity, t.aggressor) for t in trades(events)] == [
        (bid.order_id, ask.order_id, 10, None)
    ]
    assert driver.book.best_bid() is None
    assert driver.book.best_ask() is None
