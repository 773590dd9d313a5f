"""The matching engine: a single-threaded, deterministic function from sequenced commands to
events. Same commands in, same events and the same state out; it reads no clock of its own
(the sequencer's timestamp arrives with each command) and iterates nothing in hash order.

The order-entry path (new, cancel, match) is written for speed: enum members are read from
module constants, book levels are updated in place and events are built as tuples directly.
Phases, halts and auctions live in `sessions.py`, cancel-replace in `replace.py`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from scalebox.exchange import replace, risk, sessions
from scalebox.exchange.book import Level
from scalebox.exchange.domain import (
    HOME_AUCTION,
    HOME_BOOK,
    HOME_NONE,
    HOME_STOPS,
    BookAction,
    BookUpdate,
    CancelOrder,
    CancelReject,
    Command,
    DefineInstrument,
    DefineParticipant,
    Event,
    ExecType,
    Execution,
    Halt,
    Order,
    OrderType,
    OrdStatus,
    Phase,
    RejectReason,
    ReplaceOrder,
    Resume,
    SelfTradePrevention,
    SetPhase,
    Side,
    StatusChange,
    TimeInForce,
    Trade,
)
from scalebox.exchange.market import InstrumentState
from scalebox.exchange.risk import Account, settle

# Enum members as module constants: in Python 3.11 `Side.BUY` is a slow class-attribute lookup
# (~120 ns here) and the hot path reads several per order.
BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP, STOP_LIMIT = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
DAY, IOC, FOK = TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK
AUCTION, CONTINUOUS, CLOSED = Phase.AUCTION, Phase.CONTINUOUS, Phase.CLOSED
ST_NEW, ST_PARTIAL, ST_FILLED = OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED, OrdStatus.FILLED
ST_CANCELED, ST_EXPIRED = OrdStatus.CANCELED, OrdStatus.EXPIRED
STP_RESTING, STP_AGGRESSIVE = SelfTradePrevention.CANCEL_RESTING, SelfTradePrevention.CANCEL_AGGRESSIVE
X_NEW, X_TRADE, X_CANCELED, X_EXPIRED = ExecType.NEW, ExecType.TRADE, ExecType.CANCELED, ExecType.EXPIRED
ADD, UPDATE, DELETE = BookAction.ADD, BookAction.UPDATE, BookAction.DELETE
# NamedTuple's generated __new__ is a Python function; building the tuple directly gives the same
# object at a third of the cost, which matters at a few events per order.
_new = tuple.__new__


class MatchingEngine:
    """Books, stops, phases, halts and pre-trade risk for every instrument."""

    def __init__(self) -> None:
        self.instruments: dict[str, InstrumentState] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}  # every live order: resting, stop or auction market
        self.by_client: dict[tuple[str, str], Order] = {}  # (participant, ClOrdID) of live orders
        self.market_halted = False
        self.last_sequence = 0
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_priority = 1
        self._handlers: dict[type, Callable[[Any, int, list[Event]], None]] = {
            Order: self._new_order,
            CancelOrder: self._cancel_order,
            ReplaceOrder: lambda cmd, ts, out: replace.replace_order(self, cmd, ts, out),
            SetPhase: lambda cmd, ts, out: sessions.set_phase(self, cmd, ts, out),
            Halt: lambda cmd, ts, out: sessions.halt(self, cmd, out),
            Resume: lambda cmd, ts, out: sessions.resume(self, cmd, out),
            DefineInstrument: self._define_instrument,
            DefineParticipant: self._define_participant,
        }

    def apply(self, command: Command, sequence: int, timestamp_ns: int) -> list[Event]:
        """Apply the command the sequencer numbered `sequence`; return what happened, in order."""
        assert sequence == self.last_sequence + 1, (sequence, self.last_sequence)
        self.last_sequence = sequence
        events: list[Event] = []
        self._handlers[type(command)](command, timestamp_ns, events)
        return events

    # -- reads ---------------------------------------------------------------------------------

    def order(self, participant: str, cl_ord_id: str) -> Order | None:
        return self.by_client.get((participant, cl_ord_id))

    def instrument(self, symbol: str) -> InstrumentState | None:
        return self.instruments.get(symbol)

    # -- configuration -------------------------------------------------------------------------

    def _define_instrument(self, command: DefineInstrument, ts: int, out: list[Event]) -> None:
        instrument = command.instrument
        state = self.instruments.get(instrument.symbol)
        if state is None:
            self.instruments[instrument.symbol] = InstrumentState(instrument)
        else:
            state.instrument = instrument
            state.reference.window_ns = instrument.band_window_seconds * 1_000_000_000

    def _define_participant(self, command: DefineParticipant, ts: int, out: list[Event]) -> None:
        participant = command.participant
        account = self.accounts.get(participant.participant_id)
        if account is None:
            self.accounts[participant.participant_id] = Account(participant)
        else:
            account.participant = participant

    # -- new orders ----------------------------------------------------------------------------

    def _new_order(self, order: Order, ts: int, out: list[Event]) -> None:
        inst = self.instruments.get(order.symbol)
        account = self.accounts.get(order.participant)
        reason = self._refuse_new(order, inst, account)
        if reason is not None:
            out.append(Execution(ExecType.REJECTED, order, OrdStatus.REJECTED, 0, 0, reason=reason))
            return
        assert inst is not None
        assert account is not None
        position = account.positions.get(order.symbol) or account.position(order.symbol)
        ref = inst.last_price or inst.instrument.reference_price_ticks
        quantity = order.quantity
        reason = risk.check_order(
            inst.instrument, account, position, order.side, order.order_type, quantity, order.price, ref
        )
        if reason is not None:
            out.append(Execution(ExecType.REJECTED, order, OrdStatus.REJECTED, 0, 0, reason=reason))
            return
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order.order_id = order_id
        order.leaves = quantity
        order.position = position
        if order.price:
            reserve = order.reserve = order.price
        else:
            reserve = order.reserve = risk.reserve_price(
                inst.instrument, order.side, order.order_type, 0, ref
            )
        account.credit_used += reserve * quantity
        if order.side is BUY:
            position.open_buy += quantity
        else:
            position.open_sell += quantity
        self.orders[order_id] = order
        self.by_client[order.participant, order.cl_ord_id] = order
        out.append(_new(Execution, (X_NEW, order, ST_NEW, quantity, 0, 0, 0, 0, None, "")))
        order_type = order.order_type
        if order_type is LIMIT or order_type is MARKET:
            self.work(inst, order, ts, out)
        else:
            order.priority = self.next_priority
            self.next_priority += 1
            order.home = HOME_STOPS
            inst.stops.add(order)
            self.trigger_stops(inst, ts, out)

    def _refuse_new(  # noqa: PLR0911, PLR0912 (one return per rule, cheapest first)
        self, order: Order, inst: InstrumentState | None, account: Account | None
    ) -> RejectReason | None:
        if inst is None:
            return RejectReason.UNKNOWN_SYMBOL
        if account is None:
            return RejectReason.UNKNOWN_PARTICIPANT
        if order.order_id:
            return RejectReason.DUPLICATE_ORDER  # the same object submitted twice
        lot = inst.instrument.lot_size
        quantity, display, order_type = order.quantity, order.display, order.order_type
        if quantity <= 0 or quantity % lot or display < 0 or display % lot:
            return RejectReason.INVALID_QUANTITY
        if order_type is LIMIT:
            if order.price <= 0:
                return RejectReason.INVALID_PRICE
        elif order_type is MARKET:
            if order.price or display:
                return RejectReason.UNSUPPORTED
        elif order.stop_price <= 0 or (order_type is STOP_LIMIT) != (order.price > 0):
            return RejectReason.INVALID_PRICE
        elif display:
            return RejectReason.UNSUPPORTED
        if (order.participant, order.cl_ord_id) in self.by_client:
            return RejectReason.DUPLICATE_ORDER
        phase = inst.phase
        if phase is CLOSED:
            return RejectReason.MARKET_CLOSED
        if inst.halted or self.market_halted:
            return RejectReason.HALTED
        if phase is AUCTION and (order.tif is IOC or order.tif is FOK):
            return RejectReason.NOT_IN_AUCTION
        return None

    def work(  # noqa: PLR0912 (the hot path: branches inline instead of calls)
        self, inst: InstrumentState, order: Order, ts: int, out: list[Event]
    ) -> None:
        """Trade an accepted (or triggered, or repriced) order as far as it goes, then rest it,
        queue it for the auction, or cancel what is left, by its type and time in force."""
        buy = order.side is BUY
        price = order.price
        if inst.phase is AUCTION:
            order.priority = self.next_priority
            self.next_priority += 1
            if price:
                self._rest(inst, order, out)
            else:
                order.home = HOME_AUCTION
                (inst.market_buys if buy else inst.market_sells).append(order)
            return
        if order.tif is FOK and self._fillable(inst, order, ts) < order.leaves:
            self.cancel_rest(order, RejectReason.NOT_FILLABLE, out)
            return
        best = (inst.book.asks if buy else inst.book.bids).best()
        traded = False
        if best is not None and (not price or (best.price <= price if buy else best.price >= price)):
            traded = self._match(inst, order, ts, out)
        if order.leaves:
            if inst.halted:
                self.cancel_rest(order, RejectReason.VOLATILITY_HALT, out)
            elif not price:
                self.cancel_rest(order, RejectReason.NO_LIQUIDITY, out)
            elif order.tif is IOC or order.tif is FOK:
                self.cancel_rest(order, None, out)
            else:
                order.priority = self.next_priority
                self.next_priority += 1
                self._rest(inst, order, out)
        elif order.order_id in self.orders:  # filled in full as it came in
            del self.orders[order.order_id]
            if self.by_client.get((order.participant, order.cl_ord_id)) is order:
                del self.by_client[order.participant, order.cl_ord_id]
        if traded and inst.stops:
            self.trigger_stops(inst, ts, out)

    def _rest(self, inst: InstrumentState, order: Order, out: list[Event]) -> None:
        order.home = HOME_BOOK
        leaves, display, price = order.leaves, order.display, order.price
        visible = order.visible = display if display and display < leaves else leaves
        side = inst.book.bids if order.side is BUY else inst.book.asks
        level = side.levels.get(price) or side.level_for(price)
        level.orders.append(order)
        level.visible += visible
        level.live += 1
        out.append(_new(BookUpdate, (order.symbol, ADD, order.order_id, order.side, price, visible)))

    def release(self, order: Order) -> None:
        """Give back what an order's unfilled part reserved, and forget it (it is done)."""
        position = order.position
        assert position is not None
        leaves = order.leaves
        position.account.credit_used -= order.reserve * leaves
        if order.side is BUY:
            position.open_buy -= leaves
        else:
            position.open_sell -= leaves
        order.leaves = order.visible = 0
        order.home = HOME_NONE
        del self.orders[order.order_id]
        if self.by_client.get((order.participant, order.cl_ord_id)) is order:
            del self.by_client[order.participant, order.cl_ord_id]

    def cancel_rest(
        self, order: Order, reason: RejectReason | None, out: list[Event], expire: bool = False
    ) -> None:
        """Cancel the unfilled part of an order that is not on the book (or was just taken off)."""
        if order.order_id not in self.orders:  # self-trade prevention already cancelled it
            return
        self.release(order)
        exec_type, status = (X_EXPIRED, ST_EXPIRED) if expire else (X_CANCELED, ST_CANCELED)
        out.append(_new(Execution, (exec_type, order, status, 0, order.cum, 0, 0, 0, reason, "")))

    def unlink(self, order: Order, out: list[Event]) -> None:
        """Take a live order out of wherever the engine keeps it (its leaves are still set)."""
        home = order.home
        if home == HOME_BOOK:
            inst = self.instruments[order.symbol]
            (inst.book.bids if order.side is BUY else inst.book.asks).remove(order)
            out.append(_new(BookUpdate, (order.symbol, DELETE, order.order_id, order.side, order.price, 0)))
        elif home == HOME_AUCTION:
            inst = self.instruments[order.symbol]
            (inst.market_buys if order.side is BUY else inst.market_sells).remove(order)
        # HOME_STOPS: the stop book skips orders whose leaves are zero.
        order.home = HOME_NONE

    # -- matching ------------------------------------------------------------------------------

    def _fillable(self, inst: InstrumentState, taker: Order, ts: int) -> int:
        """How much of a fill-or-kill order would trade now: crossing quantity within the
        volatility band, hidden quantity included, stopping at a self-trade that would cancel it."""
        buy = taker.side is BUY
        opposite = inst.book.asks if buy else inst.book.bids
        low, high = inst.band(ts)
        total = 0
        for price in opposite.prices():
            if taker.price and (price > taker.price if buy else price < taker.price):
                break
            if not low <= price <= high:
                break
            # The level's queue as matching will walk it: an iceberg's next tranche joins the
            # back, so an own order behind it can stop the taker before the hidden part trades.
            queue = deque((maker, maker.visible, maker.leaves) for maker in opposite.levels[price])
            while queue:
                maker, visible, leaves = queue.popleft()
                if maker.participant == taker.participant:
                    if taker.stp is STP_RESTING:
                        continue
                    return total
                total += visible
                if total >= taker.leaves:
                    return total
                if leaves > visible:
                    leaves -= visible
                    queue.append((maker, maker.display if maker.display < leaves else leaves, leaves))
        return total

    def _match(self, inst: InstrumentState, taker: Order, ts: int, out: list[Event]) -> bool:
        """Continuous matching of `taker` against the opposite side; True when anything traded."""
        buy = taker.side is BUY
        opposite = inst.book.asks if buy else inst.book.bids
        limit = taker.price
        low, high = inst.band(ts)
        traded = False
        while taker.leaves:
            level = opposite.best()
            if level is None:
                break
            price = level.price
            if limit and (price > limit if buy else price < limit):
                break
            if price < low or price > high:
                inst.halted, inst.halt_reason = True, "volatility"
                out.append(StatusChange(inst.instrument.symbol, inst.phase, True, "volatility"))
                break
            traded |= self._match_level(inst, level, taker, ts, out)
            if not level.live:
                opposite.drop_level(level)
        return traded

    def _match_level(  # noqa: PLR0915 (the hot path, inlined on purpose)
        self, inst: InstrumentState, level: Level, taker: Order, ts: int, out: list[Event]
    ) -> bool:
        orders = level.orders
        price = level.price
        symbol = taker.symbol
        taker_buys = taker.side is BUY
        traded = False
        while taker.leaves and orders:
            maker = orders[0]
            if not maker.leaves:
                orders.popleft()
                level.dead -= 1
                continue
            if maker.participant == taker.participant:
                if not self._prevent_self_trade(level, maker, taker, out):
                    return traded
                continue
            visible = maker.visible
            quantity = taker.leaves if taker.leaves < visible else visible
            trade_id = self.next_trade_id
            self.next_trade_id = trade_id + 1
            traded = True
            taker.leaves -= quantity
            taker.cum += quantity
            maker.leaves -= quantity
            maker.cum += quantity
            maker.visible = visible = visible - quantity
            level.visible -= quantity
            settle(taker, quantity)
            settle(maker, quantity)
            inst.reference.record(ts, price, quantity)
            inst.last_price = price
            if taker_buys:
                out.append(
                    _new(
                        Trade,
                        (
                            trade_id,
                            symbol,
                            price,
                            quantity,
                            taker.order_id,
                            maker.order_id,
                            taker.participant,
                            maker.participant,
                            BUY,
                        ),
                    )
                )
            else:
                out.append(
                    _new(
                        Trade,
                        (
                            trade_id,
                            symbol,
                            price,
                            quantity,
                            maker.order_id,
                            taker.order_id,
                            maker.participant,
                            taker.participant,
                            SELL,
                        ),
                    )
                )
            out.append(
                _new(
                    Execution,
                    (
                        X_TRADE,
                        taker,
                        ST_PARTIAL if taker.leaves else ST_FILLED,
                        taker.leaves,
                        taker.cum,
                        quantity,
                        price,
                        trade_id,
                        None,
                        "",
                    ),
                )
            )
            out.append(
                _new(
                    Execution,
                    (
                        X_TRADE,
                        maker,
                        ST_PARTIAL if maker.leaves else ST_FILLED,
                        maker.leaves,
                        maker.cum,
                        quantity,
                        price,
                        trade_id,
                        None,
                        "",
                    ),
                )
            )
            if visible:
                out.append(_new(BookUpdate, (symbol, UPDATE, maker.order_id, maker.side, price, visible)))
                continue
            orders.popleft()
            out.append(_new(BookUpdate, (symbol, DELETE, maker.order_id, maker.side, price, 0)))
            if maker.leaves:
                # Iceberg: the next tranche joins the back of the queue with a new time priority.
                maker.visible = visible = maker.display if maker.display < maker.leaves else maker.leaves
                maker.priority = self.next_priority
                self.next_priority += 1
                level.visible += visible
                orders.append(maker)
                out.append(_new(BookUpdate, (symbol, ADD, maker.order_id, maker.side, price, visible)))
            else:
                level.live -= 1
                maker.home = HOME_NONE
                del self.orders[maker.order_id]
                if self.by_client.get((maker.participant, maker.cl_ord_id)) is maker:
                    del self.by_client[maker.participant, maker.cl_ord_id]
        return traded

    def _prevent_self_trade(self, level: Level, maker: Order, taker: Order, out: list[Event]) -> bool:
        """Apply the taker's self-trade prevention; True when matching may go on."""
        mode = taker.stp
        if mode is not STP_AGGRESSIVE:
            level.orders.popleft()
            level.visible -= maker.visible
            level.live -= 1
            out.append(_new(BookUpdate, (maker.symbol, DELETE, maker.order_id, maker.side, maker.price, 0)))
            self.cancel_rest(maker, RejectReason.SELF_TRADE, out)
        if mode is STP_RESTING:
            return True
        self.cancel_rest(taker, RejectReason.SELF_TRADE, out)
        return False

    def trigger_stops(self, inst: InstrumentState, ts: int, out: list[Event]) -> None:
        while inst.last_price and inst.phase is CONTINUOUS and not (inst.halted or self.market_halted):
            order = inst.stops.pop_triggered(inst.last_price)
            if order is None:
                return
            order.home = HOME_NONE
            out.append(Execution(ExecType.TRIGGERED, order, order.status, order.leaves, order.cum))
            self.work(inst, order, ts, out)

    # -- cancel --------------------------------------------------------------------------------

    def find(self, cmd: CancelOrder | ReplaceOrder) -> Order | None:
        if cmd.order_id:
            order = self.orders.get(cmd.order_id)
        else:
            order = self.by_client.get((cmd.participant, cmd.orig_cl_ord_id))
        if order is None or order.participant != cmd.participant or order.symbol != cmd.symbol:
            return None
        return order

    def _cancel_order(self, cmd: CancelOrder, ts: int, out: list[Event]) -> None:
        order = self.find(cmd)
        if order is None:
            out.append(
                CancelReject(
                    cmd.participant,
                    cmd.symbol,
                    cmd.cl_ord_id,
                    cmd.orig_cl_ord_id,
                    cmd.order_id,
                    RejectReason.UNKNOWN_ORDER,
                    False,
                    None,
                )
            )
            return
        self.unlink(order, out)
        orig = order.cl_ord_id
        self.release(order)
        order.cl_ord_id = cmd.cl_ord_id
        out.append(_new(Execution, (X_CANCELED, order, ST_CANCELED, 0, order.cum, 0, 0, 0, None, orig)))
