"""A FIX session's application layer: NewOrderSingle (D), OrderCancelRequest (F),
OrderCancelReplaceRequest (G) and OrderStatusRequest (H) become engine commands, or immediate
replies, for the session's participant. Decimal prices become integer ticks here.

Malformed or missing fields raise FixError, which the session answers with a session-level Reject.
Business refusals made before the engine sees the order (a price off the tick grid, an unknown
symbol, the message rate) are ExecutionReports (39=8) or OrderCancelRejects; any other MsgType
gets a BusinessMessageReject (j).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import Protocol, TypeVar

from scalebox.core.errors import InvalidError
from scalebox.exchange.domain import (
    CancelOrder,
    CancelReject,
    ExecType,
    Execution,
    Order,
    OrderType,
    OrdStatus,
    RejectReason,
    ReplaceOrder,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from scalebox.exchange.fix.heartbeat import elapsed
from scalebox.exchange.fix.reports import (
    BUSINESS_NOT_AUTHORIZED,
    BUSINESS_OTHER,
    BUSINESS_UNSUPPORTED_MSG_TYPE,
    ReportWriter,
    business_reject,
    cancel_reject,
    unknown_order_status,
)
from scalebox.exchange.protocol.fix import (
    FixMessage,
    IncorrectDataFormatError,
    MsgType,
    RequiredTagMissingError,
    Tag,
    ValueIncorrectError,
)

OrderCommand = Order | CancelOrder | ReplaceOrder
_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{0,9})?")
_PRICED = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_STOPS = (OrderType.STOP, OrderType.STOP_LIMIT)
_E = TypeVar("_E", bound=IntEnum)


class OrderRefusedError(InvalidError):
    """The gateway refuses an order before the engine sees it (the engine's reasons apply)."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.name.lower())
        self.reason = reason


class OrderLookup(Protocol):
    """Read access to live orders (the engine's `order`), for OrderStatusRequest."""

    def order(self, participant: str, cl_ord_id: str) -> Order | None: ...


@dataclass(frozen=True, slots=True)
class Submit:
    """Sequence this command; its reports come back through the venue listener."""

    command: OrderCommand


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer at once with this application message."""

    message: FixMessage


Outcome = Submit | Reply


class MessageRate:
    """A token bucket: `per_second` messages a second on average, in bursts of up to as many."""

    def __init__(self, per_second: int, now: datetime) -> None:
        assert per_second > 0
        self.per_second = per_second
        self._tokens = float(per_second)
        self._at = now

    def allow(self, now: datetime) -> bool:
        refill = elapsed(self._at, now) * self.per_second
        self._tokens, self._at = min(float(self.per_second), self._tokens + refill), now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class OrderEntry:
    """The application layer of one logged-on session of `participant`."""

    def __init__(
        self,
        participant: str,
        *,
        drop_copy: bool,
        reports: ReportWriter,
        orders: OrderLookup,
        messages_per_second: int,
        now: datetime,
    ) -> None:
        self.participant = participant
        self.drop_copy = drop_copy
        self._reports = reports
        self._orders = orders
        self._rate = MessageRate(messages_per_second, now)
        self._local_ids = 0

    def handle(self, message: FixMessage, now: datetime) -> Outcome:
        """What to do with an in-sequence application message; raises FixError for bad fields."""
        msg_type = message.msg_type
        within_rate = self._rate.allow(now)  # every application message counts
        handler = _HANDLERS.get(msg_type)
        if handler is None:
            text = f"unsupported MsgType {msg_type}"
            return Reply(business_reject(message, BUSINESS_UNSUPPORTED_MSG_TYPE, text))
        if self.drop_copy and msg_type != MsgType.ORDER_STATUS_REQUEST:
            text = "a drop-copy session cannot enter orders"
            return Reply(business_reject(message, BUSINESS_NOT_AUTHORIZED, text))
        outcome = handler(self, message, now)
        if within_rate:
            return outcome
        text = f"rate limit exceeded: at most {self._rate.per_second} messages a second"
        if isinstance(outcome, Submit):
            return Reply(self.refuse(outcome.command, text, now))
        return Reply(business_reject(message, BUSINESS_OTHER, text))

    def refuse(self, command: OrderCommand, text: str, now: datetime) -> FixMessage:
        """The reply to a command that was not sequenced (over the rate, or the venue refused it)."""
        if isinstance(command, Order):
            return self._rejected(command, None, now, text)
        reject = CancelReject(command.participant, command.symbol, command.cl_ord_id, command.orig_cl_ord_id,
                              command.order_id, RejectReason.UNSUPPORTED, isinstance(command, ReplaceOrder),
                              None)  # fmt: skip
        return cancel_reject(reject, now, text)

    # -- messages ----------------------------------------------------------------------------------

    def _new_order(self, message: FixMessage, now: datetime) -> Outcome:
        side = _choice(message, Tag.SIDE, Side)
        order_type = _choice(message, Tag.ORD_TYPE, OrderType)
        tif = _choice(message, Tag.TIME_IN_FORCE, TimeInForce, TimeInForce.DAY)
        stp_default = SelfTradePrevention.CANCEL_AGGRESSIVE
        stp = _choice(message, Tag.SELF_MATCH_PREVENTION_INSTRUCTION, SelfTradePrevention, stp_default)
        symbol, cl_ord_id = message.require(Tag.SYMBOL), message.require(Tag.CL_ORD_ID)
        order = Order(self.participant, symbol, cl_ord_id, side, order_type, tif, 0, stp=stp)
        try:
            tick = self._tick(symbol)
            order.quantity = _whole(message, Tag.ORDER_QTY, required=True)
            order.display = _whole(message, Tag.MAX_FLOOR, required=False)
            order.price = _ticks(message, Tag.PRICE, tick, required=order_type in _PRICED)
            order.stop_price = _ticks(message, Tag.STOP_PX, tick, required=order_type in _STOPS)
        except OrderRefusedError as exc:
            return Reply(self._rejected(order, exc.reason, now))
        return Submit(order)

    def _cancel(self, message: FixMessage, now: datetime) -> Outcome:
        orig_cl_ord_id, order_id = _target(message)
        symbol, cl_ord_id = message.require(Tag.SYMBOL), message.require(Tag.CL_ORD_ID)
        return Submit(CancelOrder(self.participant, symbol, cl_ord_id, orig_cl_ord_id, order_id))

    def _replace(self, message: FixMessage, now: datetime) -> Outcome:
        orig_cl_ord_id, order_id = _target(message)
        symbol, cl_ord_id = message.require(Tag.SYMBOL), message.require(Tag.CL_ORD_ID)
        draft = ReplaceOrder(self.participant, symbol, cl_ord_id, orig_cl_ord_id, 0, 0, order_id)
        try:
            tick = self._tick(symbol)
            quantity = _whole(message, Tag.ORDER_QTY, required=True)
            price = _ticks(message, Tag.PRICE, tick, required=False)
        except OrderRefusedError as exc:
            reject = CancelReject(self.participant, symbol, cl_ord_id, orig_cl_ord_id, order_id, exc.reason,
                                  True, None)  # fmt: skip
            return Reply(cancel_reject(reject, now))
        return Submit(dataclasses.replace(draft, quantity=quantity, price=price))

    def _status(self, message: FixMessage, now: datetime) -> Outcome:
        """Answered from the engine's live orders, without sequencing: ExecType I (status)."""
        cl_ord_id, side = message.require(Tag.CL_ORD_ID), _choice(message, Tag.SIDE, Side)
        symbol = message.get(Tag.SYMBOL) or ""
        order = self._orders.order(self.participant, cl_ord_id)
        exec_id = self._local_id(now)
        if order is None or (symbol and order.symbol != symbol):
            order_id = message.get(Tag.ORDER_ID) or "NONE"
            return Reply(unknown_order_status(cl_ord_id, order_id, symbol, side, exec_id=exec_id, now=now))
        status = Execution(ExecType.STATUS, order, order.status, order.leaves, order.cum)
        return Reply(self._reports.execution_report(status, exec_id, now))

    # -- helpers -----------------------------------------------------------------------------------

    def _tick(self, symbol: str) -> Decimal:
        tick = self._reports.tick_size(symbol)
        if tick is None:
            raise OrderRefusedError(RejectReason.UNKNOWN_SYMBOL)
        return tick

    def _rejected(
        self, order: Order, reason: RejectReason | None, now: datetime, text: str = ""
    ) -> FixMessage:
        rejected = Execution(ExecType.REJECTED, order, OrdStatus.REJECTED, 0, 0, reason=reason)
        return self._reports.execution_report(rejected, self._local_id(now), now, text)

    def _local_id(self, now: datetime) -> str:
        """An ExecID for a report the engine did not make (the engine's are "<sequence>-<index>")."""
        self._local_ids += 1
        return f"L{now:%Y%m%d%H%M%S%f}-{self.participant}-{self._local_ids}"


_HANDLERS: dict[str, Callable[[OrderEntry, FixMessage, datetime], Outcome]] = {
    MsgType.NEW_ORDER_SINGLE: OrderEntry._new_order,
    MsgType.ORDER_CANCEL_REQUEST: OrderEntry._cancel,
    MsgType.ORDER_CANCEL_REPLACE_REQUEST: OrderEntry._replace,
    MsgType.ORDER_STATUS_REQUEST: OrderEntry._status,
}


def _choice(message: FixMessage, tag: int, kind: type[_E], default: _E | None = None) -> _E:
    """An enumerated field: its FIX value is the member's value."""
    value = message.get_int(tag)
    if value is None:
        if default is None:
            raise RequiredTagMissingError(f"required tag {tag} missing", tag=tag)
        return default
    try:
        return kind(value)
    except ValueError as exc:
        raise ValueIncorrectError(f"unsupported value {value} for tag {tag}", tag=tag) from exc


def _decimal(message: FixMessage, tag: int, *, required: bool) -> Decimal | None:
    value = message.require(tag) if required else message.get(tag)
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        raise IncorrectDataFormatError(f"tag {tag} must be a decimal number, not {value[:32]!r}", tag=tag)
    return Decimal(value)


def _whole(message: FixMessage, tag: int, *, required: bool) -> int:
    """A quantity in whole shares (0 when absent)."""
    value = _decimal(message, tag, required=required)
    if value is None:
        return 0
    if value != value.to_integral_value():
        raise OrderRefusedError(RejectReason.INVALID_QUANTITY)
    return int(value)


def _ticks(message: FixMessage, tag: int, tick: Decimal, *, required: bool) -> int:
    """A price as a whole number of ticks (0 when absent)."""
    value = _decimal(message, tag, required=required)
    if value is None:
        return 0
    ticks = value / tick
    if ticks != ticks.to_integral_value():
        raise OrderRefusedError(RejectReason.INVALID_PRICE)
    return int(ticks)


def _target(message: FixMessage) -> tuple[str, int]:
    """The order a cancel or replace refers to: OrigClOrdID (41), or OrderID (37) when numeric."""
    orig_cl_ord_id = message.get(Tag.ORIG_CL_ORD_ID) or ""
    order_id_text = message.get(Tag.ORDER_ID) or ""
    order_id = int(order_id_text) if order_id_text.isascii() and order_id_text.isdigit() else 0
    if not orig_cl_ord_id and not order_id:
        raise RequiredTagMissingError("OrigClOrdID (41) or OrderID (37) required", tag=Tag.ORIG_CL_ORD_ID)
    return orig_cl_ord_id, order_id
