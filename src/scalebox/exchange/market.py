"""Per-instrument trading state beside the book: phase, halts, the rolling reference price that
volatility bands are drawn around, auction market orders and untriggered stop orders."""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

from scalebox.exchange.book import OrderBook
from scalebox.exchange.domain import BPS, Instrument, Order, Phase, Side

NS_PER_SECOND = 1_000_000_000


class RollingReference:
    """Volume-weighted average price of the trades in the last `window_seconds` (by the sequencer's
    timestamps, so replay computes the same value); the last known price when there are none."""

    __slots__ = ("_notional", "_quantity", "_trades", "anchor", "window_ns")

    def __init__(self, anchor: int, window_seconds: int) -> None:
        self.anchor = anchor
        self.window_ns = window_seconds * NS_PER_SECOND
        self._trades: deque[tuple[int, int, int]] = deque()  # (timestamp_ns, price, quantity)
        self._notional = 0
        self._quantity = 0

    def record(self, timestamp_ns: int, price: int, quantity: int) -> None:
        self._trades.append((timestamp_ns, price, quantity))
        self._notional += price * quantity
        self._quantity += quantity
        self.anchor = price

    def value(self, timestamp_ns: int) -> int:
        trades, horizon = self._trades, timestamp_ns - self.window_ns
        while trades and trades[0][0] < horizon:
            _, price, quantity = trades.popleft()
            self._notional -= price * quantity
            self._quantity -= quantity
        if not self._quantity:
            return self.anchor
        return self._notional // self._quantity

    def reset(self, price: int) -> None:
        """Start again from `price` (after an auction sets a new reference)."""
        self._trades.clear()
        self._notional = self._quantity = 0
        self.anchor = price

    def state(self) -> dict[str, object]:
        return {"anchor": self.anchor, "trades": [list(t) for t in self._trades]}

    def restore(self, state: dict[str, object]) -> None:
        self.reset(int(state["anchor"]))  # type: ignore[call-overload]
        for timestamp_ns, price, quantity in state["trades"]:  # type: ignore[attr-defined]
            self.record(timestamp_ns, price, quantity)
        self.anchor = int(state["anchor"])  # type: ignore[call-overload]


class StopBook:
    """Untriggered stop orders. A buy stop triggers when a trade prints at or above its stop price,
    a sell stop at or below; ties trigger in arrival order."""

    __slots__ = ("_buys", "_sells")

    def __init__(self) -> None:
        self._buys: list[tuple[int, int, Order]] = []  # (stop price, priority, order)
        self._sells: list[tuple[int, int, Order]] = []  # (-stop price, priority, order)

    def add(self, order: Order) -> None:
        if order.side is Side.BUY:
            heappush(self._buys, (order.stop_price, order.priority, order))
        else:
            heappush(self._sells, (-order.stop_price, order.priority, order))

    def pop_triggered(self, last_price: int) -> Order | None:
        """The next stop that `last_price` triggers, skipping cancelled ones; None if none."""
        buys, sells = self._buys, self._sells
        while buys and not buys[0][2].leaves:
            heappop(buys)
        while sells and not sells[0][2].leaves:
            heappop(sells)
        buy = buys[0] if buys and buys[0][0] <= last_price else None
        sell = sells[0] if sells and -sells[0][0] >= last_price else None
        if buy is None and sell is None:
            return None
        if sell is None or (buy is not None and buy[1] < sell[1]):
            return heappop(buys)[2]
        return heappop(sells)[2]

    def __bool__(self) -> bool:
        return bool(self._buys or self._sells)

    def orders(self) -> list[Order]:
        """Live stops in trigger order per side, buys first."""
        return [entry[2] for entry in sorted(self._buys) if entry[2].leaves] + [
            entry[2] for entry in sorted(self._sells) if entry[2].leaves
        ]


class InstrumentState:
    __slots__ = (
        "book",
        "halt_reason",
        "halted",
        "instrument",
        "last_price",
        "market_buys",
        "market_sells",
        "phase",
        "reference",
        "stops",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.book = OrderBook()
        self.phase = Phase.CLOSED
        self.halted = False
        self.halt_reason = ""
        self.last_price = 0
        self.reference = RollingReference(instrument.reference_price_ticks, instrument.band_window_seconds)
        self.market_buys: deque[Order] = deque()  # market orders waiting for an auction uncross
        self.market_sells: deque[Order] = deque()
        self.stops = StopBook()

    def reference_price(self) -> int:
        """The price collars and market-order reservations are drawn around."""
        return self.last_price or self.instrument.reference_price_ticks

    def band(self, timestamp_ns: int) -> tuple[int, int]:
        """The prices a continuous-trading trade may print at before the instrument halts."""
        reference = self.reference.value(timestamp_ns)
        width = reference * self.instrument.band_bps // BPS
        return reference - width, reference + width
