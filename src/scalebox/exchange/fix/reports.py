"""Engine events as FIX application messages: Execution → ExecutionReport (8), CancelReject →
OrderCancelReject (9), plus BusinessMessageReject (j). Holds the one table from RejectReason to
FIX OrdRejReason (103) and CxlRejReason (102), and the fills behind AvgPx (6)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from scalebox.exchange.domain import (
    REJECT_TEXT,
    CancelReject,
    Event,
    ExecType,
    Execution,
    Order,
    OrdStatus,
    RejectReason,
    Side,
)
from scalebox.exchange.protocol.fix import FixMessage, MsgType, Tag, format_timestamp

TickSize = Callable[[str], Decimal | None]  # symbol → tick size, None for an unknown symbol

EXEC_TYPE: dict[ExecType, str] = {
    ExecType.NEW: "0",
    ExecType.CANCELED: "4",
    ExecType.REPLACED: "5",
    ExecType.REJECTED: "8",
    ExecType.EXPIRED: "C",
    ExecType.STATUS: "I",
    ExecType.TRADE: "F",
    ExecType.TRIGGERED: "L",
}
ORD_STATUS: dict[OrdStatus, str] = {
    OrdStatus.NEW: "0",
    OrdStatus.PARTIALLY_FILLED: "1",
    OrdStatus.FILLED: "2",
    OrdStatus.CANCELED: "4",
    OrdStatus.REJECTED: "8",
    OrdStatus.EXPIRED: "C",
}
# OrdRejReason (103): 1 unknown symbol, 2 exchange closed, 3 exceeds limit, 5 unknown order,
# 6 duplicate order, 11 unsupported order characteristic, 13 incorrect quantity, 99 other.
ORD_REJ_REASON: dict[RejectReason, int] = {
    RejectReason.UNKNOWN_SYMBOL: 1,
    RejectReason.HALTED: 2,
    RejectReason.MARKET_CLOSED: 2,
    RejectReason.VOLATILITY_HALT: 2,
    RejectReason.MAX_ORDER_SIZE: 3,
    RejectReason.MAX_NOTIONAL: 3,
    RejectReason.CREDIT_LIMIT: 3,
    RejectReason.POSITION_LIMIT: 3,
    RejectReason.UNKNOWN_ORDER: 5,
    RejectReason.DUPLICATE_ORDER: 6,
    RejectReason.NOT_IN_AUCTION: 11,
    RejectReason.UNSUPPORTED: 11,
    RejectReason.INVALID_QUANTITY: 13,
}
# CxlRejReason (102): 1 unknown order, 6 duplicate ClOrdID, 99 other.
CXL_REJ_REASON: dict[RejectReason, int] = {RejectReason.UNKNOWN_ORDER: 1, RejectReason.DUPLICATE_ORDER: 6}
OTHER = 99
BUSINESS_UNSUPPORTED_MSG_TYPE = 3  # BusinessRejectReason (380)
BUSINESS_NOT_AUTHORIZED = 6
BUSINESS_OTHER = 0
_AVG_PX_EXPONENT = Decimal("1e-8")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_decimal(value: Decimal) -> str:
    """A FIX Price/Qty: plain digits, no exponent, no trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def timestamp_of(timestamp_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=timestamp_ns // 1000)


class FillBook:
    """Quantity and notional (ticks x shares) of each live order's fills, for AvgPx. The engine
    keeps neither; fills before the gateway started are not known, so AvgPx then covers only
    the fills seen since (the app may feed `record` from a journal replay to close that gap)."""

    def __init__(self) -> None:
        self._fills: dict[int, tuple[int, int]] = {}

    def record(self, execution: Execution) -> None:
        if execution.exec_type is ExecType.TRADE:
            quantity, notional = self._fills.get(execution.order.order_id, (0, 0))
            last = execution.last_quantity
            self._fills[execution.order.order_id] = (quantity + last, notional + last * execution.last_price)

    def average_ticks(self, order_id: int) -> Decimal:
        quantity, notional = self._fills.get(order_id, (0, 0))
        return Decimal(notional) / quantity if quantity else Decimal(0)

    def forget(self, order_id: int) -> None:
        self._fills.pop(order_id, None)

    def __len__(self) -> int:
        return len(self._fills)


class ReportWriter:
    """Renders the events of applied commands as messages for participants."""

    def __init__(self, tick_size: TickSize) -> None:
        self.tick_size = tick_size
        self.fills = FillBook()

    def render(
        self,
        sequence: int,
        timestamp_ns: int,
        events: Sequence[Event],
        wanted: Callable[[str], bool] = lambda participant: True,
    ) -> list[tuple[str, FixMessage]]:
        """(participant, message) for each Execution and CancelReject of a participant that is
        `wanted` (fills are tracked for all). ExecID is "<sequence>-<index of the event>": unique,
        and the same for every copy of a report."""
        transact_time = timestamp_of(timestamp_ns)
        messages: list[tuple[str, FixMessage]] = []
        for index, event in enumerate(events):
            kind = type(event)
            if kind is Execution:
                assert isinstance(event, Execution)
                self.fills.record(event)
                if wanted(event.order.participant):
                    report = self.execution_report(event, f"{sequence}-{index}", transact_time)
                    messages.append((event.order.participant, report))
                if not event.leaves:
                    self.fills.forget(event.order.order_id)
            elif kind is CancelReject:
                assert isinstance(event, CancelReject)
                if wanted(event.participant):
                    messages.append((event.participant, cancel_reject(event, transact_time)))
        return messages

    def execution_report(
        self, execution: Execution, exec_id: str, transact_time: datetime, text: str = ""
    ) -> FixMessage:
        """An ExecutionReport (8) for `execution`; fields in FIX 4.4 order."""
        order = execution.order
        tick = self.tick_size(order.symbol) or Decimal("0.01")
        fields: list[tuple[int, str | int]] = [
            (Tag.ORDER_ID, order.order_id or "NONE"),
            (Tag.CL_ORD_ID, order.cl_ord_id),
        ]
        if execution.orig_cl_ord_id:
            fields.append((Tag.ORIG_CL_ORD_ID, execution.orig_cl_ord_id))
        fields += [
            (Tag.EXEC_ID, exec_id),
            (Tag.EXEC_TYPE, EXEC_TYPE[execution.exec_type]),
            (Tag.ORD_STATUS, ORD_STATUS[execution.status]),
        ]
        reason = execution.reason
        if execution.exec_type is ExecType.REJECTED:
            fields.append(
                (Tag.ORD_REJ_REASON, OTHER if reason is None else ORD_REJ_REASON.get(reason, OTHER))
            )
        fields += _order_fields(order, tick)
        fields += self._quantities(execution, tick)
        fields.append((Tag.TRANSACT_TIME, format_timestamp(transact_time)))
        text = text or (REJECT_TEXT[reason] if reason is not None else "")
        if text:
            fields.append((Tag.TEXT, text))
        return FixMessage.of(MsgType.EXECUTION_REPORT, *fields)

    def _quantities(self, execution: Execution, tick: Decimal) -> list[tuple[int, str | int]]:
        fields: list[tuple[int, str | int]] = []
        if execution.last_quantity:
            fields += [
                (Tag.LAST_QTY, execution.last_quantity),
                (Tag.LAST_PX, format_decimal(execution.last_price * tick)),
            ]
        average = (self.fills.average_ticks(execution.order.order_id) * tick).quantize(_AVG_PX_EXPONENT)
        fields += [
            (Tag.LEAVES_QTY, execution.leaves),
            (Tag.CUM_QTY, execution.cum),
            (Tag.AVG_PX, format_decimal(average)),
        ]
        if execution.trade_id:
            fields.append((Tag.TRADE_ID, execution.trade_id))
        return fields


def _order_fields(order: Order, tick: Decimal) -> list[tuple[int, str | int]]:
    """What the order is: instrument, side, size, type, prices, time in force, iceberg tranche."""
    fields: list[tuple[int, str | int]] = [
        (Tag.SYMBOL, order.symbol),
        (Tag.SIDE, int(order.side)),
        (Tag.ORDER_QTY, order.quantity),
        (Tag.ORD_TYPE, int(order.order_type)),
    ]
    if order.price:
        fields.append((Tag.PRICE, format_decimal(order.price * tick)))
    if order.stop_price:
        fields.append((Tag.STOP_PX, format_decimal(order.stop_price * tick)))
    fields.append((Tag.TIME_IN_FORCE, int(order.tif)))
    if order.display:
        fields.append((Tag.MAX_FLOOR, order.display))
    return fields


def cancel_reject(reject: CancelReject, transact_time: datetime, text: str = "") -> FixMessage:
    """An OrderCancelReject (9) answering a cancel (434=1) or a cancel/replace (434=2)."""
    status = "8" if reject.status is None else ORD_STATUS[reject.status]
    return FixMessage.of(
        MsgType.ORDER_CANCEL_REJECT,
        (Tag.ORDER_ID, reject.order_id or "NONE"),
        (Tag.CL_ORD_ID, reject.cl_ord_id),
        (Tag.ORIG_CL_ORD_ID, reject.orig_cl_ord_id or "NONE"),
        (Tag.ORD_STATUS, status),
        (Tag.CXL_REJ_RESPONSE_TO, 2 if reject.is_replace else 1),
        (Tag.CXL_REJ_REASON, CXL_REJ_REASON.get(reject.reason, OTHER)),
        (Tag.TRANSACT_TIME, format_timestamp(transact_time)),
        (Tag.TEXT, text or REJECT_TEXT[reject.reason]),
    )


def unknown_order_status(
    cl_ord_id: str, order_id: str, symbol: str, side: Side, *, exec_id: str, now: datetime
) -> FixMessage:
    """The answer to an OrderStatusRequest for no live order: ExecType I, OrdStatus rejected."""
    return FixMessage.of(
        MsgType.EXECUTION_REPORT,
        (Tag.ORDER_ID, order_id),
        (Tag.CL_ORD_ID, cl_ord_id),
        (Tag.EXEC_ID, exec_id),
        (Tag.EXEC_TYPE, EXEC_TYPE[ExecType.STATUS]),
        (Tag.ORD_STATUS, ORD_STATUS[OrdStatus.REJECTED]),
        (Tag.ORD_REJ_REASON, ORD_REJ_REASON[RejectReason.UNKNOWN_ORDER]),
        *([(Tag.SYMBOL, symbol)] if symbol else []),
        (Tag.SIDE, int(side)),
        (Tag.LEAVES_QTY, 0),
        (Tag.CUM_QTY, 0),
        (Tag.AVG_PX, 0),
        (Tag.TRANSACT_TIME, format_timestamp(now)),
        (Tag.TEXT, REJECT_TEXT[RejectReason.UNKNOWN_ORDER]),
    )


def business_reject(message: FixMessage, reason: int, text: str) -> FixMessage:
    """A BusinessMessageReject (j) of an application message the gateway will not act on."""
    fields: list[tuple[int, str | int]] = [
        (Tag.REF_SEQ_NUM, message.get(Tag.MSG_SEQ_NUM) or "0"),
        (Tag.REF_MSG_TYPE, message.msg_type),
    ]
    ref_id = message.get(Tag.CL_ORD_ID)
    if ref_id:
        fields.append((Tag.BUSINESS_REJECT_REF_ID, ref_id))
    fields += [(Tag.BUSINESS_REJECT_REASON, reason), (Tag.TEXT, text)]
    return FixMessage.of(MsgType.BUSINESS_MESSAGE_REJECT, *fields)
