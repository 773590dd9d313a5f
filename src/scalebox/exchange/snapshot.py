"""The engine's whole state as plain data, and back; its canonical hash.

`export_state` lists every live order in priority order with every field, so `import_state`
rebuilds an engine that answers every later command exactly as the original would; the hash
of the canonical JSON proves it (the determinism and recovery tests compare hashes).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from scalebox.exchange.domain import (
    HOME_AUCTION,
    HOME_BOOK,
    HOME_STOPS,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.market import InstrumentState
from scalebox.exchange.risk import Account

FORMAT = 1
_ORDER_STATE = ("order_id", "leaves", "cum", "visible", "priority", "reserve")


def export_state(engine: MatchingEngine) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "last_sequence": engine.last_sequence,
        "next_order_id": engine.next_order_id,
        "next_trade_id": engine.next_trade_id,
        "next_priority": engine.next_priority,
        "market_halted": engine.market_halted,
        "instruments": [_export_instrument(state) for state in engine.instruments.values()],
        "accounts": [_export_account(account) for account in engine.accounts.values()],
    }


def _export_instrument(state: InstrumentState) -> dict[str, Any]:
    i = state.instrument
    return {
        "instrument": {**{f: getattr(i, f) for f in Instrument.__slots__}, "tick_size": str(i.tick_size)},
        "phase": state.phase.value,
        "halted": state.halted,
        "halt_reason": state.halt_reason,
        "last_price": state.last_price,
        "reference": state.reference.state(),
        "bids": [_export_order(o) for o in state.book.bids.orders()],
        "asks": [_export_order(o) for o in state.book.asks.orders()],
        "market_orders": [_export_order(o) for o in [*state.market_buys, *state.market_sells] if o.leaves],
        "stops": [_export_order(o) for o in state.stops.orders()],
    }


def _export_order(order: Order) -> list[Any]:
    request = [int(v) if isinstance(v, int) else v for v in order.request()]
    return request + [getattr(order, name) for name in _ORDER_STATE]


def _export_account(account: Account) -> dict[str, Any]:
    p = account.participant
    return {
        "participant": [p.participant_id, p.credit_limit_ticks, p.position_limit],
        "credit_used": account.credit_used,
        "positions": {
            symbol: [pos.net, pos.open_buy, pos.open_sell] for symbol, pos in account.positions.items()
        },
    }


def import_state(state: dict[str, Any]) -> MatchingEngine:
    """An engine in exactly the exported state."""
    assert state["format"] == FORMAT, state["format"]
    engine = MatchingEngine()
    for raw in state["accounts"]:
        account = Account(Participant(*raw["participant"]))
        for symbol, (net, open_buy, open_sell) in raw["positions"].items():
            position = account.position(symbol)
            position.net, position.open_buy, position.open_sell = net, open_buy, open_sell
        account.credit_used = raw["credit_used"]
        engine.accounts[account.participant.participant_id] = account
    for raw in state["instruments"]:
        _import_instrument(engine, raw)
    engine.last_sequence = state["last_sequence"]
    engine.next_order_id = state["next_order_id"]
    engine.next_trade_id = state["next_trade_id"]
    engine.next_priority = state["next_priority"]
    engine.market_halted = state["market_halted"]
    return engine


def _import_instrument(engine: MatchingEngine, raw: dict[str, Any]) -> None:
    fields = dict(raw["instrument"])
    fields["tick_size"] = Decimal(fields["tick_size"])
    state = InstrumentState(Instrument(**fields))
    state.phase = Phase(raw["phase"])
    state.halted, state.halt_reason, state.last_price = raw["halted"], raw["halt_reason"], raw["last_price"]
    state.reference.restore(raw["reference"])
    engine.instruments[state.instrument.symbol] = state
    for key in ("bids", "asks"):
        for values in raw[key]:
            order = _import_order(engine, values)
            order.home = HOME_BOOK
            book_side = state.book.bids if order.side is Side.BUY else state.book.asks
            book_side.append(order)
    for values in raw["market_orders"]:
        order = _import_order(engine, values)
        order.home = HOME_AUCTION
        (state.market_buys if order.side is Side.BUY else state.market_sells).append(order)
    for values in raw["stops"]:
        order = _import_order(engine, values)
        order.home = HOME_STOPS
        state.stops.add(order)


def _import_order(engine: MatchingEngine, values: list[Any]) -> Order:
    p, symbol, cl, side, order_type, tif, quantity, price, stop, display, stp = values[:11]
    order = Order(
        p,
        symbol,
        cl,
        Side(side),
        OrderType(order_type),
        TimeInForce(tif),
        quantity,
        price,
        stop,
        display,
        SelfTradePrevention(stp),
    )
    for name, value in zip(_ORDER_STATE, values[11:], strict=True):
        setattr(order, name, value)
    order.position = engine.accounts[p].position(symbol)
    engine.orders[order.order_id] = order
    engine.by_client[p, cl] = order
    return order


def canonical_bytes(state: dict[str, Any]) -> bytes:
    return json.dumps(state, sort_keys=True, separators=(",", ":")).encode()


def state_hash(engine: MatchingEngine) -> str:
    """SHA-256 of the canonical state: equal hashes, equal engines."""
    return hashlib.sha256(canonical_bytes(export_state(engine))).hexdigest()


def book_hash(engine: MatchingEngine) -> str:
    """SHA-256 over the books alone (orders in priority order, every field)."""
    books = {
        s: [i["bids"], i["asks"], i["stops"]]
        for s, i in ((x["instrument"]["symbol"], x) for x in export_state(engine)["instruments"])
    }
    return hashlib.sha256(canonical_bytes(books)).hexdigest()
