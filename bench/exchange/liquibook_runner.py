"""The stream through liquibook (the C++ engine, through its SWIG wrapper from PyPI `liquibook`).

The book is the wrapper's plain `OrderBook<shared_ptr<SimpleOrder>>` (`liquibook_book_OrderBook`):
price-time matching and callbacks, no depth aggregation, like our engine (which emits order-by-order
book updates and aggregates nothing). The wrapper's `DepthOrderBook` adds a 5-level depth tracker,
and on this stream that tracker breaks: once per run it throws "DepthLevel::close_order level
quantity too low" inside a fill callback (the fill is then never reported to the listener), and from
then on "Unexpected ignore_bid_fill_qty_" for every later buy that fills in full on arrival (about
100,000 C++ exceptions per million operations, each printed to stderr).

The book calls an `OrderListener` subclass written in Python for every accept, fill, cancel and
replace. liquibook's own C++ `SimpleOrderBook` keeps each `SimpleOrder` up to date in those
callbacks (accept, fill both sides, cancel, replace); the wrapper does not expose that class with
`add`, so the listener here does the same four calls from Python and counts the fills, the minimum
a venue needs to report executions. The book's state depends on them: without `accept()` a
SimpleOrder ignores `replace()`, keeps its old price, and a later cancel of it is refused as "not
found".

Mapping of the stream: a resting add is `add(SimpleOrder(is_buy, price, qty))`; a marketable IOC
limit and a market order (price 0) are added with `oc_immediate_or_cancel`; a cancel is
`cancel(order)`; a replace is `replace(order, open_delta, new_price)` (liquibook takes the change of
open quantity where FIX, and our engine, take the new total size).
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from typing import Any

import liquibook  # type: ignore[import-untyped]
import mix
from measure import Latency, Outcome, Throughput, summarise_latency, watch_gc
from mix import ADD, CANCEL, IOC, MARKET, REPLACE, Op, Stream

NAME = "liquibook (C++ OrderBook, SWIG wrapper)"
_IOC = liquibook.oc_immediate_or_cancel


class _Listener(liquibook.OrderListener):  # type: ignore[misc]
    """What liquibook's SimpleOrderBook does in C++, plus counting fills and refusals."""

    def __init__(self) -> None:
        liquibook.OrderListener.__init__(self)
        self.trades = 0
        self.volume = 0
        self.notional = 0
        self.rejects = 0
        self.cancel_rejects = 0
        self.replace_rejects = 0

    def on_accept(self, order: Any) -> None:
        order.accept()

    def on_reject(self, order: Any, reason: str) -> None:
        self.rejects += 1

    def on_fill(self, order: Any, matched_order: Any, quantity: int, price: int) -> None:
        cost = quantity * price
        self.trades += 1
        matched_order.fill(quantity, cost, self.trades)
        order.fill(quantity, cost, self.trades)
        self.volume += quantity
        self.notional += cost

    def on_cancel(self, order: Any) -> None:
        order.cancel()

    def on_cancel_reject(self, order: Any, reason: str) -> None:
        self.cancel_rejects += 1

    def on_replace(self, order: Any, size_delta: int, new_price: int) -> None:
        order.replace(size_delta, new_price)

    def on_replace_reject(self, order: Any, reason: str) -> None:
        self.replace_rejects += 1

    def on_trigger_stop(self, order: Any) -> None:
        pass


Call = tuple[Callable[..., Any], tuple[Any, ...]]


def _prepared(stream: Stream) -> tuple[Any, _Listener, list[Call]]:
    """A fresh book with the set-up orders added, and the measured operations as calls on it with
    freshly built SimpleOrder objects."""
    book = liquibook.liquibook_book_OrderBook()
    listener = _Listener()
    book.set_symbol(mix.SYMBOL)
    book.set_order_listener(listener)
    orders: dict[int, Any] = {}
    for op in stream.setup:
        order = orders[op.ref] = liquibook.SimpleOrder(op.side == mix.BUY, op.price, op.quantity)
        book.add(order, 0)
    calls = [_call(book, orders, op) for op in stream.ops]
    return book, listener, calls


def _call(book: Any, orders: dict[int, Any], op: Op) -> Call:
    kind = op.kind
    if kind == ADD:
        order = orders[op.ref] = liquibook.SimpleOrder(op.side == mix.BUY, op.price, op.quantity)
        return book.add, (order, 0)
    if kind in (IOC, MARKET):
        order = liquibook.SimpleOrder(op.side == mix.BUY, op.price, op.quantity, 0, _IOC)
        return book.add, (order, _IOC)
    if kind == CANCEL:
        return book.cancel, (orders.pop(op.ref),)
    assert kind == REPLACE
    return book.replace, (orders[op.ref], op.open_delta, op.price)


def throughput(stream: Stream, gc_mode: str) -> Throughput:
    book, listener, calls = _prepared(stream)
    with watch_gc(gc_mode) as gc_stats:
        cpu_start = time.process_time()
        start = time.perf_counter_ns()
        for method, args in calls:
            method(*args)
        elapsed = time.perf_counter_ns() - start
        cpu = time.process_time() - cpu_start
    del book, listener
    return Throughput(len(calls), elapsed / 1e9, cpu, gc_stats)


def latency(stream: Stream, gc_mode: str) -> tuple[Latency, Outcome]:
    book, listener, calls = _prepared(stream)
    clock = time.perf_counter_ns
    latencies: list[int] = [0] * len(calls)
    with watch_gc(gc_mode) as gc_stats:
        for index, (method, args) in enumerate(calls):
            start = clock()
            method(*args)
            latencies[index] = clock() - start
    resting = [tracker.open_qty() for side in (book.bids(), book.asks()) for tracker in side.values()]
    outcome = Outcome(
        trades=listener.trades,
        volume=listener.volume,
        notional=listener.notional,
        resting_orders=len(resting),
        resting_quantity=sum(resting),
        cancel_rejects=listener.cancel_rejects,
        replace_rejects=listener.replace_rejects,
    )
    return summarise_latency(latencies, [op.kind for op in stream.ops], gc_stats), outcome


def version() -> str:
    return importlib.metadata.version("liquibook")
