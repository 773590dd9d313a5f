"""Cancel-replace: a size decrease keeps the order's place in its queue; a price change or a size
increase takes it off the book and enters it again (it may trade) with a new time priority."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalebox.exchange import risk
from scalebox.exchange.domain import (
    HOME_AUCTION,
    HOME_BOOK,
    HOME_NONE,
    BookAction,
    BookUpdate,
    CancelReject,
    Event,
    ExecType,
    Execution,
    Order,
    OrderType,
    Phase,
    RejectReason,
    ReplaceOrder,
    Side,
)

if TYPE_CHECKING:
    from scalebox.exchange.engine import MatchingEngine
    from scalebox.exchange.market import InstrumentState

_PRICED_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)


def replace_order(engine: MatchingEngine, cmd: ReplaceOrder, ts: int, out: list[Event]) -> None:
    order = engine.find(cmd)
    reason = _refuse(engine, cmd, order)
    if reason is not None:
        status = order.status if order is not None else None
        out.append(
            CancelReject(
                cmd.participant,
                cmd.symbol,
                cmd.cl_ord_id,
                cmd.orig_cl_ord_id,
                cmd.order_id,
                reason,
                True,
                status,
            )
        )
        return
    assert order is not None
    assert order.position is not None
    inst = engine.instruments[order.symbol]
    price = cmd.price if order.order_type in _PRICED_TYPES else order.price
    leaves = cmd.quantity - order.cum
    keeps_priority = price == order.price and leaves <= order.leaves and order.home == HOME_BOOK
    orig = order.cl_ord_id
    if keeps_priority:
        _resize(inst, order, leaves, out)
    else:
        if order.home == HOME_BOOK:
            engine.unlink(order, out)
            order = _reincarnate(engine, order)
        _move_reservation(order, leaves)
        order.price, order.quantity, order.leaves = price, cmd.quantity, leaves
        order.visible = min(order.display, leaves) if order.display else leaves
        if price:
            order.reserve = price
        order.position.account.credit_used += order.reserve * leaves  # type: ignore[union-attr]
    del engine.by_client[order.participant, orig]
    engine.by_client[order.participant, cmd.cl_ord_id] = order
    order.cl_ord_id = cmd.cl_ord_id
    out.append(
        Execution(ExecType.REPLACED, order, order.status, order.leaves, order.cum, orig_cl_ord_id=orig)
    )
    if order.home == HOME_NONE:
        engine.work(inst, order, ts, out)


def _refuse(engine: MatchingEngine, cmd: ReplaceOrder, order: Order | None) -> RejectReason | None:  # noqa: PLR0911 (one return per rule or command type)
    if order is None:
        return RejectReason.UNKNOWN_ORDER
    inst = engine.instruments[order.symbol]
    if cmd.cl_ord_id != order.cl_ord_id and (cmd.participant, cmd.cl_ord_id) in engine.by_client:
        return RejectReason.DUPLICATE_ORDER
    if inst.phase is Phase.CLOSED:
        return RejectReason.MARKET_CLOSED  # as for new orders: nothing may trade while closed
    if inst.halted or engine.market_halted:
        return RejectReason.HALTED
    if order.home == HOME_AUCTION or order.order_type is OrderType.MARKET:
        return RejectReason.UNSUPPORTED
    if cmd.quantity <= order.cum or cmd.quantity % inst.instrument.lot_size:
        return RejectReason.INVALID_QUANTITY
    if order.order_type in _PRICED_TYPES and cmd.price <= 0:
        return RejectReason.INVALID_PRICE
    price = cmd.price if order.order_type in _PRICED_TYPES else order.price
    position = order.position
    assert position is not None
    # Check the order as if it were new, with its own reservation given back for the check.
    _hold(order, -1)
    try:
        return risk.check_order(
            inst.instrument,
            position.account,
            position,
            order.side,
            order.order_type,
            cmd.quantity - order.cum,
            price,
            inst.reference_price(),
        )
    finally:
        _hold(order, 1)


def _hold(order: Order, sign: int) -> None:
    position = order.position
    assert position is not None
    position.account.credit_used += sign * order.reserve * order.leaves
    if order.side is Side.BUY:
        position.open_buy += sign * order.leaves
    else:
        position.open_sell += sign * order.leaves


def _resize(inst: InstrumentState, order: Order, leaves: int, out: list[Event]) -> None:
    """A size decrease (or no change) of a resting order: it keeps its place in the queue."""
    level = (inst.book.bids if order.side is Side.BUY else inst.book.asks).levels[order.price]
    _move_reservation(order, leaves)
    order.position.account.credit_used += order.reserve * leaves  # type: ignore[union-attr]
    visible = min(order.visible, leaves)
    level.visible += visible - order.visible
    order.quantity, order.leaves, order.visible = order.cum + leaves, leaves, visible
    out.append(BookUpdate(order.symbol, BookAction.UPDATE, order.order_id, order.side, order.price, visible))


def _move_reservation(order: Order, leaves: int) -> None:
    """Move open quantity from the old size to the new; the old credit is given back here and the
    caller reserves the new amount (its price may change)."""
    position = order.position
    assert position is not None
    position.account.credit_used -= order.reserve * order.leaves
    if order.side is Side.BUY:
        position.open_buy += leaves - order.leaves
    else:
        position.open_sell += leaves - order.leaves


def _reincarnate(engine: MatchingEngine, order: Order) -> Order:
    """A copy of an order just taken off the book, to be queued again: the old object stays in its
    level's queue as a dead entry (leaves 0) and the copy takes its place everywhere else."""
    copy = Order(*order.request())  # type: ignore[arg-type]
    copy.order_id, copy.leaves, copy.cum, copy.visible = (
        order.order_id,
        order.leaves,
        order.cum,
        order.visible,
    )
    copy.reserve, copy.position, copy.priority = order.reserve, order.position, order.priority
    order.leaves = order.visible = 0
    engine.orders[order.order_id] = copy
    engine.by_client[order.participant, order.cl_ord_id] = copy
    return copy
