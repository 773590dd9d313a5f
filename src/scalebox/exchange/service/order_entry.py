"""Order entry for request-response edges (the web API and pages): a participant's new order,
cancel and replace become sequenced commands, and the engine's answer comes back as that
participant's own execution reports, or as OrderRejectedError / CancelRejectedError.

Orders are named by the engine's order id, which a replace keeps; ClOrdIDs the caller leaves out
are drawn from the injected random source."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from scalebox.core.errors import InvalidError, NotFoundError
from scalebox.core.ids import random_base62
from scalebox.exchange.domain import (
    REJECT_TEXT,
    CancelOrder,
    CancelReject,
    Command,
    ExecType,
    Execution,
    Order,
    OrderType,
    OrdStatus,
    ReplaceOrder,
    Side,
    TimeInForce,
)
from scalebox.exchange.errors import CancelRejectedError, OrderRejectedError, UnknownInstrumentError
from scalebox.exchange.posttrade import ExecutionRecord, execution_record
from scalebox.exchange.service.venue import Applied, Venue

CL_ORD_ID_CHARS = 16  # generated ones: base62, about 95 bits
CL_ORD_ID_CHARS_MAX = 64
OPEN_ORDERS_MAX = 1_000  # listed per participant


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """What a participant asks for, prices already in ticks."""

    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    quantity: int
    price_ticks: int = 0
    stop_price_ticks: int = 0
    display: int = 0  # iceberg tranche; 0 = show it all
    cl_ord_id: str = ""  # "" = draw one


@dataclass(frozen=True, slots=True)
class OrderView:
    """A live order as its owner sees it."""

    order_id: int
    cl_ord_id: str
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    quantity: int
    price_ticks: int
    stop_price_ticks: int
    display: int
    leaves: int
    cum: int
    status: OrdStatus


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """The order after a command (None once it is done) and its own execution reports from it."""

    sequence: int
    order: OrderView | None
    executions: list[ExecutionRecord]


def view_order(order: Order) -> OrderView:
    return OrderView(
        order.order_id, order.cl_ord_id, order.symbol, order.side, order.order_type, order.tif,
        order.quantity, order.price, order.stop_price, order.display, order.leaves, order.cum, order.status,
    )  # fmt: skip


class OrderEntry:
    """Places, cancels and replaces orders for one participant at a time through the venue."""

    def __init__(self, venue: Venue, rng: random.Random) -> None:
        self.venue = venue
        self.rng = rng

    async def place(self, participant: str, ticket: OrderTicket) -> OrderOutcome:
        """Submit a new order; OrderRejectedError when the engine rejects it."""
        if ticket.symbol not in self.venue.engine.instruments:
            raise UnknownInstrumentError(f"no instrument {ticket.symbol!r} is listed")
        cl_ord_id = self._cl_ord_id(ticket.cl_ord_id)
        order = Order(
            participant, ticket.symbol, cl_ord_id, ticket.side, ticket.order_type, ticket.tif,
            ticket.quantity, ticket.price_ticks, ticket.stop_price_ticks, ticket.display,
        )  # fmt: skip
        applied = await self.venue.submit(order)
        reports = _reports(applied, lambda execution: execution.order is order)
        first = reports[0]
        if first.exec_type is ExecType.REJECTED:
            assert first.reason is not None, first
            raise OrderRejectedError(
                f"order rejected: {REJECT_TEXT[first.reason]}", reason=first.reason.name.lower()
            )
        return OrderOutcome(applied.sequence, self._live(order.order_id), reports)

    async def cancel(self, participant: str, order_id: int) -> OrderOutcome:
        """Cancel a live order of `participant`; NotFoundError when it has none by that id."""
        order = self._own(participant, order_id)
        command = CancelOrder(participant, order.symbol, self._cl_ord_id(""), order.cl_ord_id, order_id)
        return await self._amend(command, order_id)

    async def replace(self, participant: str, order_id: int, quantity: int, price_ticks: int) -> OrderOutcome:
        """Change a live order's total quantity and (for priced orders) its limit price."""
        order = self._own(participant, order_id)
        if quantity <= 0:
            raise InvalidError("the new quantity must be positive", field="quantity")
        command = ReplaceOrder(participant, order.symbol, self._cl_ord_id(""), order.cl_ord_id, quantity,
                               price_ticks or order.price, order_id)  # fmt: skip
        return await self._amend(command, order_id)

    def open_orders(self, participant: str) -> list[OrderView]:
        """The participant's live orders (resting, stops and auction market orders), oldest first."""
        mine = [order for order in self.venue.engine.orders.values() if order.participant == participant]
        return [view_order(order) for order in sorted(mine, key=lambda o: o.order_id)[:OPEN_ORDERS_MAX]]

    def get_order(self, participant: str, order_id: int) -> OrderView | None:
        """One of the participant's live orders, or None."""
        order = self.venue.engine.orders.get(order_id)
        return view_order(order) if order is not None and order.participant == participant else None

    async def _amend(self, command: Command, order_id: int) -> OrderOutcome:
        applied = await self.venue.submit(command)
        for event in applied.events:
            if isinstance(event, CancelReject):
                verb = "replace" if event.is_replace else "cancel"
                raise CancelRejectedError(f"{verb} refused: {REJECT_TEXT[event.reason]}",
                                          reason=event.reason.name.lower())  # fmt: skip
        reports = _reports(applied, lambda execution: execution.order.order_id == order_id)
        return OrderOutcome(applied.sequence, self._live(order_id), reports)

    def _own(self, participant: str, order_id: int) -> Order:
        order = self.venue.engine.orders.get(order_id)
        if order is None or order.participant != participant:
            raise NotFoundError(f"you have no live order {order_id}")
        return order

    def _live(self, order_id: int) -> OrderView | None:
        order = self.venue.engine.orders.get(order_id)
        return None if order is None else view_order(order)

    def _cl_ord_id(self, given: str) -> str:
        if not given:
            return random_base62(CL_ORD_ID_CHARS, self.rng)
        if len(given) > CL_ORD_ID_CHARS_MAX or not given.isascii() or not given.isprintable():
            raise InvalidError(
                f"a ClOrdID is 1-{CL_ORD_ID_CHARS_MAX} printable ASCII characters", field="cl_ord_id"
            )
        return given


def _reports(applied: Applied, mine: Callable[[Execution], bool]) -> list[ExecutionRecord]:
    """The execution reports of one command that are about the caller's order (never a
    counterparty's), captured as they stand now."""
    return [
        execution_record(event, applied.sequence, index, applied.timestamp_ns)
        for index, event in enumerate(applied.events)
        if isinstance(event, Execution) and mine(event)
    ]
