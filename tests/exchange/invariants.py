"""What must hold in a MatchingEngine between any two commands, whatever came before; checked by
the state machine after every step and by the seeded random runs after every command."""

from __future__ import annotations

from collections import defaultdict

from scalebox.exchange.domain import HOME_AUCTION, HOME_BOOK, HOME_STOPS, Phase, Side
from scalebox.exchange.engine import MatchingEngine


def assert_engine_consistent(engine: MatchingEngine) -> None:
    live = {}
    for symbol, inst in engine.instruments.items():
        for side in (Side.BUY, Side.SELL):
            for order in _check_side(inst.book.side(side), symbol, side):
                live[order.order_id] = order
        for order in inst.stops.orders():
            assert (order.home, order.symbol) == (HOME_STOPS, symbol), order
            live[order.order_id] = order
        for queue, side in ((inst.market_buys, Side.BUY), (inst.market_sells, Side.SELL)):
            if queue:
                assert inst.phase is Phase.AUCTION, (symbol, inst.phase)
            for order in queue:
                assert order.leaves > 0, order
                assert (order.home, order.side) == (HOME_AUCTION, side), order
                live[order.order_id] = order
        bid, ask = inst.book.best_bid(), inst.book.best_ask()
        if inst.phase is Phase.CONTINUOUS and not (inst.halted or engine.market_halted):
            # A crossed book waits for an uncross: in a call, or while a halt defers it.
            assert bid is None or ask is None or bid < ask, (symbol, bid, ask)
            last = inst.last_price
            for stop in inst.stops.orders() if last else ():
                # Every stop the last price has reached was triggered before the command returned.
                waiting = stop.stop_price > last if stop.side is Side.BUY else stop.stop_price < last
                assert waiting, (stop, last)
    assert engine.orders == live, (sorted(engine.orders), sorted(live))
    assert all(engine.orders[order_id] is order for order_id, order in live.items())
    assert {key: o.order_id for key, o in engine.by_client.items()} == {
        (o.participant, o.cl_ord_id): o.order_id for o in live.values()
    }
    for order in live.values():
        assert order.leaves > 0, order
        assert order.cum >= 0, order
        assert order.leaves + order.cum == order.quantity, order
    _check_accounts(engine, live.values())


def _check_side(book_side, symbol, side):
    """Every level of one side: counts and totals exact, queue in time priority."""
    heap_best = book_side.best()
    prices = book_side.prices()
    assert (heap_best is None) == (not prices)
    if prices:
        assert heap_best is book_side.levels[prices[0]]
    for price in prices:
        level = book_side.levels[price]
        assert level.price == price
        orders = [o for o in level.orders if o.leaves]
        assert orders, f"empty level {price} kept"
        assert level.live == len(orders), (level.live, orders)
        assert level.dead == len(level.orders) - len(orders), (level.dead, list(level.orders))
        assert level.visible == sum(o.visible for o in orders), (level.visible, orders)
        priorities = [o.priority for o in orders]
        assert priorities == sorted(set(priorities)), priorities  # strictly increasing: time priority
        for order in orders:
            assert (order.symbol, order.side, order.price, order.home) == (symbol, side, price, HOME_BOOK), (
                order
            )
            assert 0 < order.visible <= order.leaves, order
            if order.display:
                assert order.visible <= order.display, order
            else:
                assert order.visible == order.leaves, order
        yield from orders


def _check_accounts(engine: MatchingEngine, live) -> None:
    credit: dict[str, int] = defaultdict(int)
    open_quantity: dict[tuple[str, str, Side], int] = defaultdict(int)
    for order in live:
        credit[order.participant] += order.reserve * order.leaves
        open_quantity[order.participant, order.symbol, order.side] += order.leaves
        assert order.position is engine.accounts[order.participant].positions[order.symbol]
    net_by_symbol: dict[str, int] = defaultdict(int)
    for participant_id, account in engine.accounts.items():
        assert account.credit_used == credit[participant_id], (participant_id, account.credit_used)
        for symbol, position in account.positions.items():
            assert position.open_buy == open_quantity[participant_id, symbol, Side.BUY], participant_id
            assert position.open_sell == open_quantity[participant_id, symbol, Side.SELL], participant_id
            net_by_symbol[symbol] += position.net
    # Every trade has a buyer and a seller: net positions sum to zero per instrument.
    assert all(net == 0 for net in net_by_symbol.values()), dict(net_by_symbol)
