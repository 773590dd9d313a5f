"""Commands as plain lists (the journal's payload) and events as plain dicts (the output stream).

A command is `[tag, field, ...]` in the constructor's field order; decoding checks the tag, the
arity and every field's type, so a damaged or hostile payload raises BadCommandError rather
than building a half-valid command.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from scalebox.exchange.domain import (
    BookUpdate,
    CancelOrder,
    CancelReject,
    Command,
    DefineInstrument,
    DefineParticipant,
    Event,
    Execution,
    Halt,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    ReplaceOrder,
    Resume,
    SelfTradePrevention,
    SetPhase,
    Side,
    StatusChange,
    TimeInForce,
    Trade,
)
from scalebox.exchange.errors import BadCommandError, InvalidConfigError

_ORDER_TYPES: tuple[type, ...] = (
    str,
    str,
    str,
    Side,
    OrderType,
    TimeInForce,
    int,
    int,
    int,
    int,
    SelfTradePrevention,
)
_CANCEL_TYPES: tuple[type, ...] = (str, str, str, str, int)
_REPLACE_TYPES: tuple[type, ...] = (str, str, str, str, int, int, int)
_INSTRUMENT_FIELDS = (
    "symbol",
    "tick_size",
    "lot_size",
    "reference_price_ticks",
    "max_order_quantity",
    "max_notional_ticks",
    "collar_bps",
    "band_bps",
    "band_window_seconds",
)


def encode_command(command: Command) -> list[Any]:  # noqa: PLR0911 (one return per rule or command type)
    """The journal form of a command."""
    if isinstance(command, Order):
        return ["O", *(int(v) if isinstance(v, int) else v for v in command.request())]
    if isinstance(command, CancelOrder):
        c = command
        return ["C", c.participant, c.symbol, c.cl_ord_id, c.orig_cl_ord_id, c.order_id]
    if isinstance(command, ReplaceOrder):
        r = command
        return ["R", r.participant, r.symbol, r.cl_ord_id, r.orig_cl_ord_id, r.quantity, r.price, r.order_id]
    if isinstance(command, SetPhase):
        return ["P", command.symbol, command.phase.value]
    if isinstance(command, Halt):
        return ["H", command.symbol, command.reason]
    if isinstance(command, Resume):
        return ["U", command.symbol]
    if isinstance(command, DefineInstrument):
        i = command.instrument
        return [
            "I",
            *(
                str(getattr(i, name)) if name == "tick_size" else getattr(i, name)
                for name in _INSTRUMENT_FIELDS
            ),
        ]
    p = command.participant
    return ["A", p.participant_id, p.credit_limit_ticks, p.position_limit]


def decode_command(raw: Any) -> Command:  # noqa: PLR0911 (one return per rule or command type)
    """The command a journal payload holds; BadCommandError when it is not one."""
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise BadCommandError(f"not a command: {raw!r:.80}")
    tag, fields = raw[0], raw[1:]
    try:
        if tag == "O":
            return Order(*_typed(fields, _ORDER_TYPES))
        if tag == "C":
            return CancelOrder(*_typed(fields, _CANCEL_TYPES))
        if tag == "R":
            return ReplaceOrder(*_typed(fields, _REPLACE_TYPES))
        if tag == "P":
            symbol, phase = _typed(fields, (str, str))
            return SetPhase(symbol, Phase(phase))
        if tag == "H":
            return Halt(*_typed(fields, (str, str)))
        if tag == "U":
            return Resume(*_typed(fields, (str,)))
        if tag == "I":
            values = _typed(fields, (str, str, int, int, int, int, int, int, int))
            values[1] = Decimal(values[1])
            return DefineInstrument(Instrument(*values))
        if tag == "A":
            return DefineParticipant(Participant(*_typed(fields, (str, int, int))))
    except (ValueError, InvalidOperation, InvalidConfigError) as exc:
        raise BadCommandError(f"bad {tag} command: {exc}") from exc
    raise BadCommandError(f"unknown command tag {tag!r:.20}")


def _typed(fields: list[Any], types: tuple[type, ...]) -> list[Any]:
    if len(fields) != len(types):
        raise BadCommandError(f"expected {len(types)} fields, got {len(fields)}")
    out: list[Any] = []
    for value, kind in zip(fields, types, strict=True):
        if kind is str:
            if not isinstance(value, str):
                raise BadCommandError(f"expected a string, got {value!r:.40}")
            out.append(value)
        else:
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadCommandError(f"expected an integer, got {value!r:.40}")
            out.append(kind(value) if kind is not int else value)
    return out


def encode_event(event: Event) -> dict[str, Any]:
    """An event as a plain dict: what the determinism test compares and feeds serialise."""
    if isinstance(event, Execution):
        order = event.order
        return {
            "type": "execution",
            "exec_type": event.exec_type.value,
            "order_id": order.order_id,
            "participant": order.participant,
            "symbol": order.symbol,
            "cl_ord_id": order.cl_ord_id,
            "orig_cl_ord_id": event.orig_cl_ord_id,
            "side": order.side.name.lower(),
            "order_type": order.order_type.name.lower(),
            "tif": order.tif.name.lower(),
            "status": event.status.value,
            "price": order.price,
            "quantity": order.quantity,
            "leaves": event.leaves,
            "cum": event.cum,
            "last_quantity": event.last_quantity,
            "last_price": event.last_price,
            "trade_id": event.trade_id,
            "reason": None if event.reason is None else event.reason.name.lower(),
        }
    if isinstance(event, Trade):
        return {
            "type": "trade",
            **event._asdict(),
            "aggressor": None if event.aggressor is None else event.aggressor.name.lower(),
        }
    if isinstance(event, BookUpdate):
        return {
            "type": "book",
            **event._asdict(),
            "action": event.action.name.lower(),
            "side": event.side.name.lower(),
        }
    if isinstance(event, StatusChange):
        return {"type": "status", **event._asdict(), "phase": event.phase.value}
    assert isinstance(event, CancelReject)
    return {
        "type": "cancel_reject",
        **event._asdict(),
        "reason": event.reason.name.lower(),
        "status": None if event.status is None else event.status.value,
    }
