"""Post-trade, pure: capture records from engine events, positions and cash (the buyer pays, the
seller receives), end-of-day netting per participant and instrument, and T+1 over weekends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from scalebox.exchange.domain import ExecType, OrdStatus, Side
from scalebox.exchange.posttrade import (
    Holding,
    Obligation,
    TradeRecord,
    capture,
    cash_by_participant,
    daily_positions,
    net_obligations,
    net_trades,
    positions,
    settlement_date,
    trade_date_of,
    trade_legs,
)
from tests.exchange.factories import make_engine, make_order

MONDAY = date(2025, 3, 3)
FRIDAY = date(2025, 3, 7)


def ns_at(day: date, hour: int = 12) -> int:
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def make_trade(**overrides) -> TradeRecord:
    fields = {
        "trade_id": 1, "sequence": 10, "timestamp_ns": ns_at(MONDAY), "symbol": "ACME",
        "price_ticks": 100, "quantity": 10, "buyer": "alice", "seller": "bob",
        "buy_order_id": 1, "sell_order_id": 2, "aggressor": Side.SELL,
    }  # fmt: skip
    return TradeRecord(**(fields | overrides))


def test_settlement_date_is_the_next_business_day():
    assert settlement_date(MONDAY) == date(2025, 3, 4)
    assert settlement_date(date(2025, 3, 6)) == FRIDAY


def test_settlement_date_skips_the_weekend():
    assert settlement_date(FRIDAY) == date(2025, 3, 10)
    assert settlement_date(date(2025, 3, 8)) == date(2025, 3, 10)  # a Saturday
    assert settlement_date(date(2025, 3, 9)) == date(2025, 3, 10)  # a Sunday


def test_settlement_date_skips_holidays_and_counts_business_days():
    assert settlement_date(FRIDAY, holidays=frozenset({date(2025, 3, 10)})) == date(2025, 3, 11)
    assert settlement_date(FRIDAY, business_days=2) == date(2025, 3, 11)
    assert settlement_date(FRIDAY, business_days=0) == FRIDAY


def test_trade_date_is_the_utc_date_of_the_timestamp():
    assert trade_date_of(ns_at(MONDAY, hour=0)) == MONDAY
    assert trade_date_of(ns_at(MONDAY, hour=23)) == MONDAY
    assert trade_date_of(ns_at(MONDAY, hour=23) + 3600 * 1_000_000_000) == date(2025, 3, 4)
    assert make_trade().trade_date == MONDAY


def test_trade_legs_buyer_pays_and_seller_receives():
    buyer, seller = trade_legs(make_trade(price_ticks=250, quantity=4))

    assert buyer == Holding("alice", "ACME", bought=4, paid_ticks=1000)
    assert seller == Holding("bob", "ACME", sold=4, received_ticks=1000)
    assert (buyer.net_quantity, buyer.net_cash_ticks) == (4, -1000)
    assert (seller.net_quantity, seller.net_cash_ticks) == (-4, 1000)


def test_positions_add_up_per_participant_and_instrument():
    trades = [
        make_trade(trade_id=1, price_ticks=100, quantity=10),
        make_trade(trade_id=2, price_ticks=102, quantity=5, buyer="bob", seller="alice"),
        make_trade(trade_id=3, symbol="GLOBEX", price_ticks=50, quantity=2, buyer="alice", seller="carol"),
    ]

    held = positions(trades)

    assert held["alice", "ACME"] == Holding("alice", "ACME", 10, 5, 1000, 510)
    assert (held["alice", "ACME"].net_quantity, held["alice", "ACME"].net_cash_ticks) == (5, -490)
    assert held["bob", "ACME"].net_quantity == -5
    assert held["bob", "ACME"].net_cash_ticks == 490
    assert held["alice", "GLOBEX"].net_quantity == 2
    assert held["carol", "GLOBEX"].net_cash_ticks == 100
    # Cash and shares are conserved: every trade moves as much as it takes.
    assert sum(h.net_quantity for h in held.values()) == 0
    assert sum(h.net_cash_ticks for h in held.values()) == 0


def test_net_trades_nets_one_day_into_obligations_due_t_plus_one():
    trades = [
        make_trade(trade_id=1, price_ticks=100, quantity=10),
        make_trade(trade_id=2, price_ticks=101, quantity=4, buyer="bob", seller="alice"),
        make_trade(trade_id=3, timestamp_ns=ns_at(FRIDAY), quantity=99),  # another day: not netted
    ]

    obligations = net_trades(trades, MONDAY)

    settles = date(2025, 3, 4)
    assert obligations == [
        Obligation("alice", "ACME", MONDAY, settles, quantity=6, cash_ticks=-596),
        Obligation("bob", "ACME", MONDAY, settles, quantity=-6, cash_ticks=596),
    ]
    assert (obligations[0].receive_quantity, obligations[0].deliver_quantity) == (6, 0)
    assert (obligations[1].receive_quantity, obligations[1].deliver_quantity) == (0, 6)


def test_net_trades_on_a_friday_settle_on_monday():
    obligations = net_trades([make_trade(timestamp_ns=ns_at(FRIDAY))], FRIDAY)

    assert {o.settlement_date for o in obligations} == {date(2025, 3, 10)}


def test_net_obligations_leave_out_what_nets_to_nothing():
    round_trip = [
        make_trade(trade_id=1, price_ticks=100, quantity=10),
        make_trade(trade_id=2, price_ticks=100, quantity=10, buyer="bob", seller="alice"),
        make_trade(trade_id=3, buyer="carol", seller="carol"),  # a self-trade moves nothing
    ]

    assert net_trades(round_trip, MONDAY) == []


def test_net_obligations_keep_cash_when_shares_net_to_zero():
    trades = [
        make_trade(trade_id=1, price_ticks=100, quantity=10),
        make_trade(trade_id=2, price_ticks=105, quantity=10, buyer="bob", seller="alice"),
    ]

    obligations = net_trades(trades, MONDAY)

    assert [(o.participant, o.quantity, o.cash_ticks) for o in obligations] == [
        ("alice", 0, 50),
        ("bob", 0, -50),
    ]


def test_net_obligations_merge_holdings_given_in_parts():
    parts = [
        Holding("alice", "ACME", bought=3, paid_ticks=300),
        Holding("alice", "ACME", sold=1, received_ticks=110),
    ]

    (obligation,) = net_obligations(parts, MONDAY)

    assert (obligation.quantity, obligation.cash_ticks) == (2, -190)


def test_daily_positions_split_by_trade_date():
    trades = [make_trade(trade_id=1), make_trade(trade_id=2, timestamp_ns=ns_at(FRIDAY))]

    days = daily_positions(trades)

    assert set(days) == {
        (MONDAY, "alice", "ACME"),
        (MONDAY, "bob", "ACME"),
        (FRIDAY, "alice", "ACME"),
        (FRIDAY, "bob", "ACME"),
    }
    assert days[FRIDAY, "alice", "ACME"].bought == 10


def test_cash_by_participant_converts_ticks_with_each_tick_size():
    obligations = [
        Obligation("alice", "ACME", MONDAY, MONDAY, 1, -1000),
        Obligation("alice", "GLOBEX", MONDAY, MONDAY, -1, 40),
    ]

    cash = cash_by_participant(obligations, {"ACME": Decimal("0.01"), "GLOBEX": Decimal("0.5")})

    assert cash == {"alice": Decimal("10.00")}


def test_capture_reads_trades_and_executions_from_engine_events():
    driver = make_engine()
    driver.rest(participant="alice", side=Side.BUY, price=100, quantity=10, cl_ord_id="buy-1")
    events = driver.apply(
        make_order(participant="bob", side=Side.SELL, price=100, quantity=4, cl_ord_id="sell-1")
    )

    trades, executions = capture(42, 7_000, events)

    assert [(t.trade_id, t.sequence, t.timestamp_ns, t.price_ticks, t.quantity, t.buyer, t.seller)
            for t in trades] == [(trades[0].trade_id, 42, 7_000, 100, 4, "alice", "bob")]  # fmt: skip
    assert trades[0].aggressor is Side.SELL
    fills = [e for e in executions if e.exec_type is ExecType.TRADE]
    assert {(f.participant, f.last_quantity, f.last_price_ticks, f.status) for f in fills} == {
        ("alice", 4, 100, OrdStatus.PARTIALLY_FILLED),
        ("bob", 4, 100, OrdStatus.FILLED),
    }
    assert all(e.sequence == 42 for e in executions)
    assert len({e.index for e in executions}) == len(executions)
    buy_fill = next(f for f in fills if f.participant == "alice")
    assert (buy_fill.cl_ord_id, buy_fill.leaves, buy_fill.cum, buy_fill.trade_id) == (
        "buy-1",
        6,
        4,
        trades[0].trade_id,
    )
