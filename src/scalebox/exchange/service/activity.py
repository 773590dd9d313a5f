"""Orders and trades per second, counted from the applied commands (a venue listener): totals, and
rates over a sliding window of one-second buckets keyed by the sequencer's timestamps."""

from __future__ import annotations

from collections import deque

from scalebox.exchange.domain import Order, Trade
from scalebox.exchange.service.venue import Applied

NS_PER_SECOND = 1_000_000_000


class ActivityMeter:
    """Wire as `venue.add_listener(meter.on_applied)`; `rates(now_ns)` reads the last window."""

    def __init__(self, window_seconds: int = 10) -> None:
        assert window_seconds >= 1, window_seconds
        self.window_seconds = window_seconds
        self.orders_total = 0
        self.trades_total = 0
        self._buckets: deque[list[int]] = deque()  # [second, orders, trades], oldest first

    def on_applied(self, applied: Applied) -> None:
        orders = 1 if isinstance(applied.command, Order) else 0
        trades = sum(1 for event in applied.events if isinstance(event, Trade))
        if not orders and not trades:
            return
        self.orders_total += orders
        self.trades_total += trades
        second = applied.timestamp_ns // NS_PER_SECOND
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += orders
            buckets[-1][2] += trades
        else:
            buckets.append([second, orders, trades])
            if len(buckets) > self.window_seconds + 1:
                buckets.popleft()

    def rates(self, now_ns: int) -> tuple[float, float]:
        """(orders/s, trades/s) over the last `window_seconds` whole seconds before `now_ns`."""
        now = now_ns // NS_PER_SECOND
        start = now - self.window_seconds
        orders = sum(bucket[1] for bucket in self._buckets if start <= bucket[0] < now)
        trades = sum(bucket[2] for bucket in self._buckets if start <= bucket[0] < now)
        return orders / self.window_seconds, trades / self.window_seconds
