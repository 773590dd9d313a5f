"""Trading phases and halts: call auctions (collect orders, then uncross at one price), continuous
trading, the close (day orders expire), instrument and market-wide halts, and reopening."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from scalebox.exchange import auction
from scalebox.exchange.domain import (
    HOME_BOOK,
    HOME_NONE,
    BookAction,
    BookUpdate,
    Event,
    ExecType,
    Execution,
    Halt,
    Order,
    Phase,
    RejectReason,
    Resume,
    SetPhase,
    Side,
    StatusChange,
    TimeInForce,
    Trade,
)
from scalebox.exchange.risk import settle

if TYPE_CHECKING:
    from scalebox.exchange.book import BookSide
    from scalebox.exchange.engine import MatchingEngine
    from scalebox.exchange.market import InstrumentState


def _targets(engine: MatchingEngine, symbol: str) -> list[InstrumentState]:
    if not symbol:
        return list(engine.instruments.values())
    inst = engine.instruments.get(symbol)
    return [] if inst is None else [inst]


def set_phase(engine: MatchingEngine, cmd: SetPhase, ts: int, out: list[Event]) -> None:
    for inst in _targets(engine, cmd.symbol):
        if inst.phase is cmd.phase:
            continue
        leaving_auction = inst.phase is Phase.AUCTION
        # Straight from the close too: a halt may have skipped the last uncross and left the
        # book crossed, and continuous trading must not start on a crossed book.
        opening = leaving_auction or cmd.phase is Phase.CONTINUOUS
        if opening and not (inst.halted or engine.market_halted):
            uncross(engine, inst, out)
        inst.phase = cmd.phase
        if leaving_auction:
            for order in [*inst.market_buys, *inst.market_sells]:
                engine.cancel_rest(order, RejectReason.NO_LIQUIDITY, out)
            inst.market_buys.clear()
            inst.market_sells.clear()
        out.append(StatusChange(inst.instrument.symbol, inst.phase, inst.halted, "phase"))
        if cmd.phase is Phase.CLOSED:
            _expire_day_orders(engine, inst, out)
        elif cmd.phase is Phase.CONTINUOUS:
            engine.trigger_stops(inst, ts, out)


def _expire_day_orders(engine: MatchingEngine, inst: InstrumentState, out: list[Event]) -> None:
    symbol = inst.instrument.symbol
    for order_id in sorted(engine.orders):  # by id, not dict order: restored state must agree
        order = engine.orders[order_id]
        if order.symbol == symbol and order.tif is TimeInForce.DAY:
            engine.unlink(order, out)
            engine.cancel_rest(order, RejectReason.END_OF_DAY, out, expire=True)


def halt(engine: MatchingEngine, cmd: Halt, out: list[Event]) -> None:
    if not cmd.symbol:
        engine.market_halted = True
        out.append(StatusChange("", Phase.CONTINUOUS, True, cmd.reason))
        return
    inst = engine.instruments.get(cmd.symbol)
    if inst is not None and not inst.halted:
        inst.halted, inst.halt_reason = True, cmd.reason
        out.append(StatusChange(cmd.symbol, inst.phase, True, cmd.reason))


def resume(engine: MatchingEngine, cmd: Resume, out: list[Event]) -> None:
    """Lift a halt. Continuous trading restarts through a reopening call auction."""
    if not cmd.symbol:
        if not engine.market_halted:
            return
        engine.market_halted = False
        out.append(StatusChange("", Phase.CONTINUOUS, False, "resumed"))
        targets = [inst for inst in engine.instruments.values() if not inst.halted]
    else:
        inst = engine.instruments.get(cmd.symbol)
        if inst is None or not inst.halted:
            return
        inst.halted, inst.halt_reason = False, ""
        targets = [] if engine.market_halted else [inst]
    for inst in targets:
        if inst.phase is Phase.CONTINUOUS:
            inst.phase = Phase.AUCTION
        out.append(StatusChange(inst.instrument.symbol, inst.phase, False, "resumed"))


def uncross(engine: MatchingEngine, inst: InstrumentState, out: list[Event]) -> None:
    """Execute the call auction: everything that can trade at the uncross price trades at it,
    market orders first, then limit orders by price and time."""
    book = inst.book
    result = auction.find_uncross(
        [(order.price, order.leaves) for order in book.bids.orders()],
        [(order.price, order.leaves) for order in book.asks.orders()],
        sum(order.leaves for order in inst.market_buys),
        sum(order.leaves for order in inst.market_sells),
        inst.reference_price(),
    )
    if result is None:
        return
    buys = _take(inst.market_buys, book.bids, result.volume, lambda p: p >= result.price)
    sells = _take(inst.market_sells, book.asks, result.volume, lambda p: p <= result.price)
    b = s = 0
    while b < len(buys) and s < len(sells):
        buy, sell = buys[b], sells[s]
        quantity = min(buy.leaves, sell.leaves)
        trade_id = engine.next_trade_id
        engine.next_trade_id += 1
        out.append(
            Trade(
                trade_id,
                inst.instrument.symbol,
                result.price,
                quantity,
                buy.order_id,
                sell.order_id,
                buy.participant,
                sell.participant,
                None,
            )
        )
        for order in (buy, sell):
            _fill(engine, inst, order, quantity, result.price, trade_id, out)
        b += not buy.leaves
        s += not sell.leaves
    inst.last_price = result.price
    inst.reference.reset(result.price)


def _fill(  # noqa: PLR0917 (positional: called per order on the hot path, or a CLI command's options)
    engine: MatchingEngine,
    inst: InstrumentState,
    order: Order,
    quantity: int,
    price: int,
    trade_id: int,
    out: list[Event],
) -> None:
    if order.home == HOME_BOOK:
        if order.leaves == quantity:
            engine.unlink(order, out)
        else:
            level = (inst.book.bids if order.side is Side.BUY else inst.book.asks).levels[order.price]
            visible = min(order.leaves - quantity, order.display or order.leaves)
            level.visible += visible - order.visible
            order.visible = visible
            out.append(
                BookUpdate(order.symbol, BookAction.UPDATE, order.order_id, order.side, order.price, visible)
            )
    order.leaves -= quantity
    order.cum += quantity
    settle(order, quantity)
    out.append(
        Execution(ExecType.TRADE, order, order.status, order.leaves, order.cum, quantity, price, trade_id)
    )
    if not order.leaves:
        order.home = HOME_NONE
        engine.orders.pop(order.order_id, None)
        if engine.by_client.get((order.participant, order.cl_ord_id)) is order:
            del engine.by_client[order.participant, order.cl_ord_id]


def _take(
    markets: Iterable[Order], side: BookSide, volume: int, eligible: Callable[[int], bool]
) -> list[Order]:
    """Orders that execute in an uncross of `volume`: market orders first, then by price-time."""
    taken: list[Order] = []
    total = 0
    for order in [*markets, *side.orders()]:
        if total >= volume:
            break
        if order.price and not eligible(order.price):
            break
        taken.append(order)
        total += order.leaves
    return taken
