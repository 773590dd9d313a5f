"""FIX application messages to engine commands and engine events to ExecutionReports, without a
socket: decoding, tick conversion, business rejects, the message rate and AvgPx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from scalebox.exchange.domain import (
    CancelOrder,
    DefineInstrument,
    DefineParticipant,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    ReplaceOrder,
    SelfTradePrevention,
    SetPhase,
    Side,
    TimeInForce,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.fix.application import OrderEntry, Reply, Submit
from scalebox.exchange.fix.reports import ReportWriter
from scalebox.exchange.protocol.fix import (
    FixMessage,
    IncorrectDataFormatError,
    RequiredTagMissingError,
    ValueIncorrectError,
)

T0 = datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
TICKS = {"ACME": Decimal("0.01"), "BIG": Decimal("0.25")}


class FakeOrders:
    """OrderLookup over a dict."""

    def __init__(self, *orders: Order) -> None:
        self._orders = {(o.participant, o.cl_ord_id): o for o in orders}

    def order(self, participant: str, cl_ord_id: str) -> Order | None:
        return self._orders.get((participant, cl_ord_id))


def make_entry(*, drop_copy: bool = False, rate: int = 1000, orders: FakeOrders | None = None) -> OrderEntry:
    reports = ReportWriter(TICKS.get)
    orders = orders or FakeOrders()
    return OrderEntry(
        "alice", drop_copy=drop_copy, reports=reports, orders=orders, messages_per_second=rate, now=T0
    )


def nos(*overrides: tuple[int, str | int], drop: tuple[int, ...] = ()) -> FixMessage:
    """A NewOrderSingle: buy 100 ACME limit 100.25 GTC, with fields replaced, added or dropped."""
    fields: dict[int, str | int] = {11: "o1", 55: "ACME", 54: 1, 38: 100, 40: 2, 44: "100.25", 59: 1}
    fields.update(dict(overrides))
    return FixMessage.of("D", (34, 7), *((t, v) for t, v in fields.items() if t not in drop))


def reply(outcome: Submit | Reply) -> FixMessage:
    assert isinstance(outcome, Reply), outcome
    return outcome.message


def test_new_order_single_becomes_an_order_in_ticks():
    outcome = make_entry().handle(nos((111, 10), (2964, 3), (59, 4)), T0)
    assert isinstance(outcome, Submit)
    order = outcome.command
    assert isinstance(order, Order)
    expected = ("alice", "ACME", "o1", Side.BUY, OrderType.LIMIT, TimeInForce.FOK, 100, 10025, 0, 10,
                SelfTradePrevention.CANCEL_BOTH)  # fmt: skip
    assert order.request() == expected


def test_stop_limit_and_market_orders():
    stop = make_entry().handle(nos((40, 4), (99, "101.5"), (44, "102")), T0)
    assert isinstance(stop, Submit)
    assert isinstance(stop.command, Order)
    assert (stop.command.order_type, stop.command.stop_price, stop.command.price) == (
        OrderType.STOP_LIMIT,
        10150,
        10200,
    )
    market = make_entry().handle(nos((40, 1), drop=(44, 59)), T0)
    assert isinstance(market, Submit)
    assert isinstance(market.command, Order)
    assert (market.command.price, market.command.tif) == (0, TimeInForce.DAY)


@pytest.mark.parametrize(
    ("message", "reason", "tag"),
    [
        (nos(drop=(11,)), RequiredTagMissingError, 11),
        (nos(drop=(44,)), RequiredTagMissingError, 44),  # a limit order needs a price
        (nos((40, 3)), RequiredTagMissingError, 99),  # a stop order needs StopPx
        (nos((54, 7)), ValueIncorrectError, 54),
        (nos((40, "P")), IncorrectDataFormatError, 40),
        (nos((59, 2)), ValueIncorrectError, 59),  # at the opening: not offered
        (nos((44, "1e3")), IncorrectDataFormatError, 44),
        (nos((38, "ten")), IncorrectDataFormatError, 38),
    ],
)
def test_malformed_fields_raise_for_a_session_reject(message, reason, tag):
    with pytest.raises(reason) as info:
        make_entry().handle(message, T0)
    assert info.value.tag == tag


@pytest.mark.parametrize(
    ("message", "ord_rej_reason"),
    [(nos((44, "100.255")), "99"), (nos((55, "NOPE")), "1"), (nos((38, "10.5")), "13")],
)
def test_business_refusals_are_execution_reports(message, ord_rej_reason):
    report = reply(make_entry().handle(message, T0))
    assert [report.get(t) for t in (35, 37, 11, 150, 39, 103)] == [
        "8",
        "NONE",
        "o1",
        "8",
        "8",
        ord_rej_reason,
    ]


def test_cancel_and_replace_requests():
    cancel = make_entry().handle(FixMessage.of("F", (11, "c1"), (41, "o1"), (55, "ACME"), (54, 1)), T0)
    assert cancel == Submit(CancelOrder("alice", "ACME", "c1", "o1", 0))
    by_id = make_entry().handle(FixMessage.of("F", (11, "c1"), (37, "42"), (55, "ACME"), (54, 1)), T0)
    assert by_id == Submit(CancelOrder("alice", "ACME", "c1", "", 42))
    with pytest.raises(RequiredTagMissingError):
        make_entry().handle(FixMessage.of("F", (11, "c1"), (55, "ACME"), (54, 1)), T0)
    replace = make_entry().handle(
        FixMessage.of("G", (11, "r1"), (41, "o1"), (55, "BIG"), (54, 1), (38, 50), (40, 2), (44, "10.75")), T0
    )
    assert replace == Submit(ReplaceOrder("alice", "BIG", "r1", "o1", 50, 43))
    off_tick = make_entry().handle(
        FixMessage.of("G", (11, "r1"), (41, "o1"), (55, "BIG"), (54, 1), (38, 50), (40, 2), (44, "10.1")), T0
    )
    assert [reply(off_tick).get(t) for t in (35, 434, 102)] == ["9", "2", "99"]


def test_order_status_from_the_live_order_or_unknown():
    order = Order("alice", "ACME", "o1", Side.SELL, OrderType.LIMIT, TimeInForce.GTC, 100, 10_000)
    order.order_id, order.leaves, order.cum = 5, 70, 30
    entry = make_entry(orders=FakeOrders(order))
    status = reply(entry.handle(FixMessage.of("H", (11, "o1"), (55, "ACME"), (54, 2)), T0))
    assert [status.get(t) for t in (37, 150, 39, 151, 14, 44)] == ["5", "I", "1", "70", "30", "100"]
    unknown = reply(entry.handle(FixMessage.of("H", (11, "zz"), (55, "ACME"), (54, 2)), T0))
    assert [unknown.get(t) for t in (37, 150, 39, 103)] == ["NONE", "I", "8", "5"]
    assert status.get(17) != unknown.get(17)


def test_unsupported_types_and_drop_copy_sessions_get_business_rejects():
    quote = reply(make_entry().handle(FixMessage.of("R", (34, 3), (131, "q")), T0))
    assert [quote.get(t) for t in (35, 45, 372, 380)] == ["j", "3", "R", "3"]
    refused = reply(make_entry(drop_copy=True).handle(nos(), T0))
    assert [refused.get(t) for t in (35, 372, 379, 380)] == ["j", "D", "o1", "6"]


def test_orders_over_the_rate_are_rejected_until_it_refills():
    entry = make_entry(rate=2)
    assert isinstance(entry.handle(nos((11, "a")), T0), Submit)
    assert isinstance(entry.handle(nos((11, "b")), T0), Submit)
    over = reply(entry.handle(nos((11, "c")), T0))
    assert [over.get(t) for t in (11, 150, 39, 103)] == ["c", "8", "8", "99"]
    assert "rate limit" in (over.get(58) or "")
    cancel = reply(entry.handle(FixMessage.of("F", (11, "x"), (41, "a"), (55, "ACME"), (54, 1)), T0))
    assert cancel.msg_type == "9"
    assert isinstance(entry.handle(nos((11, "d")), T0 + timedelta(seconds=0.5)), Submit)


def test_reports_carry_fills_and_average_price():
    engine = MatchingEngine()
    sequence = 0

    def apply(command: object) -> list[tuple[str, FixMessage]]:
        nonlocal sequence
        sequence += 1
        return writer.render(sequence, 1_700_000_000_000_000_000, engine.apply(command, sequence, sequence))  # type: ignore[arg-type]

    writer = ReportWriter(TICKS.get)
    apply(DefineInstrument(Instrument("ACME", reference_price_ticks=10_000)))
    apply(DefineParticipant(Participant("alice")))
    apply(DefineParticipant(Participant("bob")))
    apply(SetPhase("", Phase.CONTINUOUS))
    apply(Order("bob", "ACME", "s1", Side.SELL, OrderType.LIMIT, TimeInForce.GTC, 10, 10_000))
    apply(Order("bob", "ACME", "s2", Side.SELL, OrderType.LIMIT, TimeInForce.GTC, 10, 10_001))
    reports = apply(Order("alice", "ACME", "b1", Side.BUY, OrderType.LIMIT, TimeInForce.IOC, 30, 10_001))
    alice = [message for participant, message in reports if participant == "alice"]
    assert [m.get(150) for m in alice] == ["0", "F", "F", "4"]
    assert [m.get(6) for m in alice] == ["0", "100", "100.005", "100.005"]
    assert [m.get(31) for m in alice[1:3]] == ["100", "100.01"]
    assert alice[1].get(17) == f"{sequence}-2"
    assert len(writer.fills) == 0  # done orders are forgotten
