"""Post-trade, pure: trade and execution capture records, positions and cash per participant and
instrument, and end-of-day netting into settlement obligations due T+1 (the next business day).

Cash is in ticks x shares, as the engine's notionals are: the buyer pays price x quantity and the
seller receives it. A currency amount is cash_ticks x the instrument's tick size. Trade dates are
UTC dates of the sequencer's timestamp, so replaying the journal gives the same dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from scalebox.exchange.domain import (
    Event,
    ExecType,
    Execution,
    OrderType,
    OrdStatus,
    RejectReason,
    Side,
    TimeInForce,
    Trade,
)

NS_PER_DAY = 86_400 * 1_000_000_000
SATURDAY = 5  # date.weekday(): Monday is 0
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One trade as captured for clearing: who bought from whom, what, at what price, when."""

    trade_id: int
    sequence: int
    timestamp_ns: int
    symbol: str
    price_ticks: int
    quantity: int
    buyer: str
    seller: str
    buy_order_id: int
    sell_order_id: int
    aggressor: Side | None  # None for an auction trade

    @property
    def trade_date(self) -> date:
        return trade_date_of(self.timestamp_ns)

    @property
    def notional_ticks(self) -> int:
        return self.price_ticks * self.quantity


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One execution report as captured: the order's fields as they stood when it was emitted.

    `index` is the event's position in its command's event list, so (sequence, index) is unique."""

    sequence: int
    index: int
    timestamp_ns: int
    participant: str
    symbol: str
    order_id: int
    cl_ord_id: str
    orig_cl_ord_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    order_quantity: int
    price_ticks: int
    stop_price_ticks: int
    exec_type: ExecType
    status: OrdStatus
    leaves: int
    cum: int
    last_quantity: int = 0
    last_price_ticks: int = 0
    trade_id: int = 0
    reason: RejectReason | None = None


@dataclass(frozen=True, slots=True)
class Holding:
    """What a participant bought and sold of one instrument, and the cash that moved for it."""

    participant: str
    symbol: str
    bought: int = 0
    sold: int = 0
    paid_ticks: int = 0
    received_ticks: int = 0

    @property
    def net_quantity(self) -> int:
        """Shares held: positive long, negative short."""
        return self.bought - self.sold

    @property
    def net_cash_ticks(self) -> int:
        """Cash: positive received, negative paid."""
        return self.received_ticks - self.paid_ticks

    def __add__(self, other: Holding) -> Holding:
        assert (self.participant, self.symbol) == (other.participant, other.symbol), (self, other)
        return Holding(
            self.participant,
            self.symbol,
            self.bought + other.bought,
            self.sold + other.sold,
            self.paid_ticks + other.paid_ticks,
            self.received_ticks + other.received_ticks,
        )


@dataclass(frozen=True, slots=True)
class Obligation:
    """What one participant settles in one instrument for one trade date, after netting.

    `quantity` > 0 is to receive, < 0 to deliver; `cash_ticks` > 0 is to receive, < 0 to pay."""

    participant: str
    symbol: str
    trade_date: date
    settlement_date: date
    quantity: int
    cash_ticks: int

    @property
    def deliver_quantity(self) -> int:
        return max(0, -self.quantity)

    @property
    def receive_quantity(self) -> int:
        return max(0, self.quantity)


def trade_date_of(timestamp_ns: int) -> date:
    """The UTC calendar date of a sequencer timestamp."""
    return _EPOCH + timedelta(days=timestamp_ns // NS_PER_DAY)


def settlement_date(
    trade_date: date, holidays: frozenset[date] = frozenset(), business_days: int = 1
) -> date:
    """`business_days` business days after `trade_date` (T+1 by default): weekends and `holidays`
    are skipped, so a Friday's trades settle on Monday."""
    assert business_days >= 0, business_days
    day = trade_date
    remaining = business_days
    while remaining:
        day += timedelta(days=1)
        if day.weekday() < SATURDAY and day not in holidays:
            remaining -= 1
    return day


def capture(
    sequence: int, timestamp_ns: int, events: Iterable[Event]
) -> tuple[list[TradeRecord], list[ExecutionRecord]]:
    """The trades and executions among one command's events. Read the events as soon as the engine
    returns them: an execution's order fields are the live order's, which later commands change."""
    trades: list[TradeRecord] = []
    executions: list[ExecutionRecord] = []
    for index, event in enumerate(events):
        if isinstance(event, Trade):
            trades.append(trade_record(event, sequence, timestamp_ns))
        elif isinstance(event, Execution):
            executions.append(execution_record(event, sequence, index, timestamp_ns))
    return trades, executions


def trade_record(trade: Trade, sequence: int, timestamp_ns: int) -> TradeRecord:
    return TradeRecord(
        trade.trade_id, sequence, timestamp_ns, trade.symbol, trade.price, trade.quantity,
        trade.buyer, trade.seller, trade.buy_order_id, trade.sell_order_id, trade.aggressor,
    )  # fmt: skip


def execution_record(execution: Execution, sequence: int, index: int, timestamp_ns: int) -> ExecutionRecord:
    order = execution.order
    return ExecutionRecord(
        sequence, index, timestamp_ns, order.participant, order.symbol, order.order_id,
        order.cl_ord_id, execution.orig_cl_ord_id, order.side, order.order_type, order.tif,
        order.quantity, order.price, order.stop_price, execution.exec_type, execution.status,
        execution.leaves, execution.cum, execution.last_quantity, execution.last_price,
        execution.trade_id, execution.reason,
    )  # fmt: skip


def trade_legs(trade: TradeRecord) -> tuple[Holding, Holding]:
    """The buyer's and the seller's side of a trade: the buyer gets the shares and pays the
    notional, the seller delivers them and receives it."""
    notional = trade.notional_ticks
    buyer = Holding(trade.buyer, trade.symbol, bought=trade.quantity, paid_ticks=notional)
    seller = Holding(trade.seller, trade.symbol, sold=trade.quantity, received_ticks=notional)
    return buyer, seller


def positions(trades: Iterable[TradeRecord]) -> dict[tuple[str, str], Holding]:
    """Holdings by (participant, symbol) over the trades given."""
    out: dict[tuple[str, str], Holding] = {}
    for trade in trades:
        for leg in trade_legs(trade):
            key = (leg.participant, leg.symbol)
            current = out.get(key)
            out[key] = leg if current is None else current + leg
    return out


def daily_positions(trades: Iterable[TradeRecord]) -> dict[tuple[date, str, str], Holding]:
    """Holdings by (trade date, participant, symbol): what a store adds up per day."""
    out: dict[tuple[date, str, str], Holding] = {}
    for trade in trades:
        day = trade.trade_date
        for leg in trade_legs(trade):
            key = (day, leg.participant, leg.symbol)
            current = out.get(key)
            out[key] = leg if current is None else current + leg
    return out


def net_obligations(
    day_holdings: Iterable[Holding], trade_date: date, holidays: frozenset[date] = frozenset()
) -> list[Obligation]:
    """Netting: one obligation per participant and instrument from its holdings of one trade date
    (bought less sold, received less paid), settling T+1. Nothing is owed where both net to zero."""
    settles = settlement_date(trade_date, holidays)
    merged: dict[tuple[str, str], Holding] = {}
    for holding in day_holdings:
        key = (holding.participant, holding.symbol)
        current = merged.get(key)
        merged[key] = holding if current is None else current + holding
    return [
        Obligation(participant, symbol, trade_date, settles, holding.net_quantity, holding.net_cash_ticks)
        for (participant, symbol), holding in sorted(merged.items())
        if holding.net_quantity or holding.net_cash_ticks
    ]


def net_trades(
    trades: Iterable[TradeRecord], trade_date: date, holidays: frozenset[date] = frozenset()
) -> list[Obligation]:
    """End-of-day netting of the trades of `trade_date` (trades of other dates are ignored)."""
    day = [trade for trade in trades if trade.trade_date == trade_date]
    return net_obligations(positions(day).values(), trade_date, holidays)


def cash_by_participant(
    obligations: Iterable[Obligation], tick_sizes: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Each participant's net cash over every instrument, in currency (cash ticks x tick size):
    what its settlement bank account moves on the settlement date."""
    out: dict[str, Decimal] = {}
    for obligation in obligations:
        amount = obligation.cash_ticks * tick_sizes[obligation.symbol]
        out[obligation.participant] = out.get(obligation.participant, Decimal(0)) + amount
    return out
