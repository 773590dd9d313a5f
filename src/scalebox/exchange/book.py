"""One instrument's limit order book: price levels in a heap per side, each level a FIFO queue.

Cancels are O(1): a cancelled order is marked dead (leaves 0) and stays in its level's queue until
matching or compaction reaches it, while the level's live count and visible total are kept exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heappop, heappush

from scalebox.exchange.domain import Order, Side

_COMPACT_DEAD_MIN = 32  # rebuild a level's queue when it holds this many dead entries ...


class Level:
    """Orders at one price, oldest first. `visible` sums displayed quantities of live orders."""

    __slots__ = ("dead", "live", "orders", "price", "visible")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.visible = 0
        self.live = 0
        self.dead = 0

    def __iter__(self) -> Iterator[Order]:
        return (order for order in self.orders if order.leaves)


class BookSide:
    """One side of a book. Heap keys are prices for asks and negated prices for bids, so the
    heap's root is always the best price; keys of emptied levels are dropped lazily."""

    __slots__ = ("_heap", "_in_heap", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = -1 if side is Side.BUY else 1
        self.levels: dict[int, Level] = {}
        self._heap: list[int] = []
        self._in_heap: set[int] = set()

    def best(self) -> Level | None:
        heap, levels = self._heap, self.levels
        while heap:
            level = levels.get(heap[0] * self.sign)
            if level is not None:
                return level
            self._in_heap.discard(heappop(heap))
        return None

    def level_for(self, price: int) -> Level:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            key = price * self.sign
            if key not in self._in_heap:
                self._in_heap.add(key)
                heappush(self._heap, key)
        return level

    def append(self, order: Order) -> None:
        level = self.level_for(order.price)
        level.orders.append(order)
        level.visible += order.visible
        level.live += 1

    def remove(self, order: Order) -> None:
        """Take a live order off the book (cancel); the caller zeroes its leaves afterwards."""
        level = self.levels[order.price]
        level.visible -= order.visible
        level.live -= 1
        if level.live == 0:
            del self.levels[order.price]
            return
        level.dead += 1
        if level.dead >= _COMPACT_DEAD_MIN and level.dead > level.live:
            # Many cancels behind a long-lived order: drop the dead entries once, in order.
            level.orders = deque(o for o in level.orders if o.leaves and o is not order)
            level.dead = 0

    def drop_level(self, level: Level) -> None:
        del self.levels[level.price]

    def prices(self) -> list[int]:
        """Every live price, best first."""
        return sorted(self.levels, reverse=self.side is Side.BUY)

    def depth(self, levels_max: int) -> list[tuple[int, int, int]]:
        """(price, visible quantity, order count) for the best `levels_max` levels."""
        return [
            (price, self.levels[price].visible, self.levels[price].live)
            for price in self.prices()[:levels_max]
        ]

    def orders(self) -> Iterator[Order]:
        """Live orders in priority order (best price first, then time)."""
        for price in self.prices():
            yield from self.levels[price]

    def total_quantity(self) -> int:
        return sum(order.leaves for level in self.levels.values() for order in level)


class OrderBook:
    """Both sides of one instrument's book."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(Side.BUY)
        self.asks = BookSide(Side.SELL)

    def side(self, side: Side) -> BookSide:
        return self.bids if side is Side.BUY else self.asks

    def best_bid(self) -> int | None:
        level = self.bids.best()
        return None if level is None else level.price

    def best_ask(self) -> int | None:
        level = self.asks.best()
        return None if level is None else level.price

    def resting_quantity(self) -> int:
        return self.bids.total_quantity() + self.asks.total_quantity()

    def orders(self) -> Iterator[Order]:
        yield from self.bids.orders()
        yield from self.asks.orders()
