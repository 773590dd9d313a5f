"""How the web edge shows the exchange's records, to JSON clients and to templates: enums by
lower-case name, prices and cash as decimal strings in each instrument's tick size, times as ISO
8601 (UTC, microseconds) beside the sequencer's nanoseconds. Pure functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from scalebox.exchange.domain import REJECT_TEXT, CancelReject, Side
from scalebox.exchange.http.prices import render_amount, render_price
from scalebox.exchange.posttrade import ExecutionRecord, Holding, Obligation, TradeRecord
from scalebox.exchange.service.order_entry import OrderOutcome, OrderView

TickSize = Callable[[str], Decimal]
Json = dict[str, object]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(timestamp_ns: int) -> str:
    return (_EPOCH + timedelta(microseconds=timestamp_ns // 1000)).isoformat().replace("+00:00", "Z")


def clock_time(timestamp_ns: int) -> str:
    """HH:MM:SS.mmm in UTC, for tapes and tables."""
    return (_EPOCH + timedelta(microseconds=timestamp_ns // 1000)).strftime("%H:%M:%S.%f")[:-3]


def side_name(side: Side) -> str:
    return side.name.lower()


def _optional_price(ticks: int, tick: Decimal) -> str | None:
    return render_price(ticks, tick) if ticks else None


def render_order(order: OrderView, tick_size: TickSize) -> Json:
    tick = tick_size(order.symbol)
    return {
        "order_id": order.order_id, "cl_ord_id": order.cl_ord_id, "symbol": order.symbol,
        "side": side_name(order.side), "type": order.order_type.name.lower(), "tif": order.tif.name.lower(),
        "quantity": order.quantity, "price": _optional_price(order.price_ticks, tick),
        "stop_price": _optional_price(order.stop_price_ticks, tick), "display": order.display,
        "leaves": order.leaves, "cum": order.cum, "status": order.status.value,
    }  # fmt: skip


def render_execution(record: ExecutionRecord, tick_size: TickSize) -> Json:
    tick = tick_size(record.symbol)
    return {
        "kind": "execution", "sequence": record.sequence, "time": iso_time(record.timestamp_ns),
        "timestamp_ns": record.timestamp_ns, "exec_type": record.exec_type.value,
        "status": record.status.value, "order_id": record.order_id, "cl_ord_id": record.cl_ord_id,
        "orig_cl_ord_id": record.orig_cl_ord_id, "symbol": record.symbol, "side": side_name(record.side),
        "type": record.order_type.name.lower(), "tif": record.tif.name.lower(),
        "quantity": record.order_quantity, "price": _optional_price(record.price_ticks, tick),
        "stop_price": _optional_price(record.stop_price_ticks, tick), "leaves": record.leaves,
        "cum": record.cum, "last_quantity": record.last_quantity,
        "last_price": _optional_price(record.last_price_ticks, tick), "trade_id": record.trade_id or None,
        "reason": None if record.reason is None else record.reason.name.lower(),
        "reason_text": None if record.reason is None else REJECT_TEXT[record.reason],
    }  # fmt: skip


def render_cancel_reject(reject: CancelReject) -> Json:
    return {
        "kind": "cancel_reject", "symbol": reject.symbol, "cl_ord_id": reject.cl_ord_id,
        "orig_cl_ord_id": reject.orig_cl_ord_id, "order_id": reject.order_id or None,
        "is_replace": reject.is_replace, "reason": reject.reason.name.lower(),
        "reason_text": REJECT_TEXT[reject.reason],
    }  # fmt: skip


def render_outcome(outcome: OrderOutcome, tick_size: TickSize) -> Json:
    return {
        "sequence": outcome.sequence,
        "order": None if outcome.order is None else render_order(outcome.order, tick_size),
        "executions": [render_execution(record, tick_size) for record in outcome.executions],
    }


def render_trade(trade: TradeRecord, tick_size: TickSize, participant: str | None = None) -> Json:
    """A trade print; with `participant`, also that participant's side of it (never the other
    party's name: the tape is anonymous)."""
    out: Json = {
        "trade_id": trade.trade_id, "symbol": trade.symbol, "time": iso_time(trade.timestamp_ns),
        "timestamp_ns": trade.timestamp_ns,
        "price": render_price(trade.price_ticks, tick_size(trade.symbol)), "quantity": trade.quantity,
        "aggressor": None if trade.aggressor is None else side_name(trade.aggressor),
    }  # fmt: skip
    if participant is not None:
        sides = [name for name, who in (("buy", trade.buyer), ("sell", trade.seller)) if who == participant]
        out["my_side"] = sides[0] if len(sides) == 1 else ("both" if sides else None)
    return out


def render_holding(holding: Holding, tick_size: TickSize) -> Json:
    tick = tick_size(holding.symbol)
    return {
        "participant": holding.participant, "symbol": holding.symbol, "bought": holding.bought,
        "sold": holding.sold, "net_quantity": holding.net_quantity,
        "paid": render_amount(holding.paid_ticks, tick),
        "received": render_amount(holding.received_ticks, tick),
        "net_cash": render_amount(holding.net_cash_ticks, tick),
    }  # fmt: skip


def render_obligation(obligation: Obligation, tick_size: TickSize) -> Json:
    return {
        "participant": obligation.participant, "symbol": obligation.symbol,
        "trade_date": obligation.trade_date.isoformat(),
        "settlement_date": obligation.settlement_date.isoformat(),
        "deliver_quantity": obligation.deliver_quantity, "receive_quantity": obligation.receive_quantity,
        "net_quantity": obligation.quantity,
        "net_cash": render_amount(obligation.cash_ticks, tick_size(obligation.symbol)),
    }  # fmt: skip
