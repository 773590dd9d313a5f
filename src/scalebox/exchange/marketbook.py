"""Market data built from the engine's events, with no I/O: per instrument the L3 book (every visible
order in priority order), the L2 levels, L1 (best bid and offer), the last trade and the trading
status, plus the sequenced incremental messages and the snapshots of each channel.

One market-data sequence number counts every message of every channel and symbol, so a consumer
of a subset sees `seq` strictly increasing with gaps. A snapshot is stamped with the sequence it is
valid at: it includes every message with `seq <= snapshot.seq` and none after. Within one applied
command, L3, trade and status messages come in event order; then one L2 message per level whose
(quantity, count) changed over the command, and one L1 message per symbol whose BBO changed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from scalebox.exchange.domain import BookAction, BookUpdate, Event, Phase, Side, StatusChange, Trade
from scalebox.exchange.errors import UnknownInstrumentError


class Channel(StrEnum):
    L1 = "l1"
    L2 = "l2"
    L3 = "l3"
    TRADES = "trades"
    STATUS = "status"


class Quote(NamedTuple):
    """Best bid and offer with the visible size at each; price and size 0 = that side is empty."""

    bid_price: int = 0
    bid_size: int = 0
    ask_price: int = 0
    ask_size: int = 0


# -- incremental messages ---------------------------------------------------------------------
# NamedTuples, as the engine's events are: one of these is built per book change on the
# sequencer's thread, and a tuple builds in a fraction of a frozen dataclass's time.


class L1Update(NamedTuple):
    """The BBO changed (sent only when it did)."""

    seq: int
    timestamp_ns: int
    symbol: str
    quote: Quote

    @property
    def channel(self) -> Channel:
        return Channel.L1


class L2Update(NamedTuple):
    """A price level's new visible total and order count; quantity 0 = the level is gone."""

    seq: int
    timestamp_ns: int
    symbol: str
    side: Side
    price: int
    quantity: int
    order_count: int

    @property
    def channel(self) -> Channel:
        return Channel.L2


class L3Update(NamedTuple):
    """One order-by-order change: ADD at the back of its level, UPDATE in place, DELETE."""

    seq: int
    timestamp_ns: int
    symbol: str
    action: BookAction
    order_id: int
    side: Side
    price: int
    visible: int

    @property
    def channel(self) -> Channel:
        return Channel.L3


class TradeUpdate(NamedTuple):
    """A trade print; aggressor None for an auction uncross."""

    seq: int
    timestamp_ns: int
    symbol: str
    trade_id: int
    price: int
    quantity: int
    buy_order_id: int
    sell_order_id: int
    aggressor: Side | None

    @property
    def channel(self) -> Channel:
        return Channel.TRADES


class StatusUpdate(NamedTuple):
    """A phase or halt change; symbol "" = market-wide (then only `halted` and `reason` count)."""

    seq: int
    timestamp_ns: int
    symbol: str
    phase: Phase
    halted: bool
    reason: str

    @property
    def channel(self) -> Channel:
        return Channel.STATUS


Message = L1Update | L2Update | L3Update | TradeUpdate | StatusUpdate


# -- snapshots --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelEntry:
    price: int
    quantity: int
    order_count: int


@dataclass(frozen=True, slots=True)
class OrderEntry:
    order_id: int
    price: int
    visible: int


@dataclass(frozen=True, slots=True)
class L1Snapshot:
    seq: int
    symbol: str
    quote: Quote


@dataclass(frozen=True, slots=True)
class L2Snapshot:
    """Every level, best first on each side."""

    seq: int
    symbol: str
    bids: tuple[LevelEntry, ...]
    asks: tuple[LevelEntry, ...]


@dataclass(frozen=True, slots=True)
class L3Snapshot:
    """Every visible order in priority order (best price first, then time)."""

    seq: int
    symbol: str
    bids: tuple[OrderEntry, ...]
    asks: tuple[OrderEntry, ...]


@dataclass(frozen=True, slots=True)
class TradesSnapshot:
    """The last trade seen since market data started (None after a restart until the next one)
    and the last trade price, which survives a restart (0 = no trade yet)."""

    seq: int
    symbol: str
    last: TradeUpdate | None
    last_price: int


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Phase and halt; `reason` is why it is halted ("" when it is not)."""

    seq: int
    symbol: str
    phase: Phase
    halted: bool
    reason: str
    market_halted: bool


Snapshot = L1Snapshot | L2Snapshot | L3Snapshot | TradesSnapshot | StatusSnapshot


# -- the book ---------------------------------------------------------------------------------


class _Level:
    __slots__ = ("orders", "quantity")

    def __init__(self) -> None:
        self.orders: dict[int, int] = {}  # order id -> visible, in time priority (insertion order)
        self.quantity = 0


class _Side:
    """One side's levels; `prices` ascending, so the best bid is last and the best ask first."""

    __slots__ = ("levels", "prices", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.levels: dict[int, _Level] = {}
        self.prices: list[int] = []

    def best(self) -> tuple[int, int]:
        if not self.prices:
            return 0, 0
        price = self.prices[-1] if self.side is Side.BUY else self.prices[0]
        return price, self.levels[price].quantity

    def state(self, price: int) -> tuple[int, int]:
        level = self.levels.get(price)
        return (0, 0) if level is None else (level.quantity, len(level.orders))

    def set(self, order_id: int, price: int, visible: int) -> None:
        """Add an order at the back of its level, or change its visible size in place."""
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = _Level()
            insort(self.prices, price)
        level.quantity += visible - level.orders.get(order_id, 0)
        level.orders[order_id] = visible

    def delete(self, order_id: int, price: int) -> None:
        level = self.levels[price]
        level.quantity -= level.orders.pop(order_id)
        if not level.orders:
            del self.levels[price]
            del self.prices[bisect_left(self.prices, price)]

    def best_first(self) -> list[int]:
        return self.prices[::-1] if self.side is Side.BUY else list(self.prices)


class SymbolBook:
    """One instrument's market data state."""

    __slots__ = ("asks", "bids", "halted", "last_price", "last_trade", "orders", "phase", "quote",
                 "reason", "symbol")  # fmt: skip

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.orders: dict[int, tuple[Side, int]] = {}  # order id -> (side, price)
        self.bids = _Side(Side.BUY)
        self.asks = _Side(Side.SELL)
        self.quote = Quote()
        self.last_trade: TradeUpdate | None = None
        self.last_price = 0
        self.phase = Phase.CLOSED
        self.halted = False
        self.reason = ""

    def side(self, side: Side) -> _Side:
        return self.bids if side is Side.BUY else self.asks

    def current_quote(self) -> Quote:
        bid_price, bid_size = self.bids.best()
        ask_price, ask_size = self.asks.best()
        return Quote(bid_price, bid_size, ask_price, ask_size)

    def change(self, action: BookAction, order_id: int, side: Side, price: int, visible: int) -> None:
        if action is BookAction.DELETE:
            known = self.orders.pop(order_id)
            assert known == (side, price), (order_id, known, side, price)
            self.side(side).delete(order_id, price)
            return
        if action is BookAction.ADD:
            assert order_id not in self.orders, order_id
            self.orders[order_id] = (side, price)
        else:
            assert self.orders.get(order_id) == (side, price), (order_id, side, price)
        assert visible > 0, (order_id, visible)
        self.side(side).set(order_id, price, visible)

    def levels(self, side: Side) -> tuple[LevelEntry, ...]:
        book_side = self.side(side)
        return tuple(LevelEntry(p, *book_side.state(p)) for p in book_side.best_first())

    def order_entries(self, side: Side) -> tuple[OrderEntry, ...]:
        book_side = self.side(side)
        return tuple(
            OrderEntry(order_id, price, visible)
            for price in book_side.best_first()
            for order_id, visible in book_side.levels[price].orders.items()
        )


class _Batch:
    """What one applied command touched: each level's (quantity, count) before it, and the symbols
    whose book changed (dicts, not sets, so messages come out in first-touched order)."""

    __slots__ = ("levels", "symbols")

    def __init__(self) -> None:
        self.levels: dict[tuple[str, Side, int], tuple[int, int]] = {}
        self.symbols: dict[str, None] = {}


class MarketBook:
    """Every instrument's market data, fed with the engine's events one command at a time."""

    def __init__(self) -> None:
        self.sequence = 0  # the last market-data sequence number handed out
        self.symbols: dict[str, SymbolBook] = {}
        self.market_halted = False
        self.market_reason = ""

    def define(self, symbol: str) -> SymbolBook:
        book = self.symbols.get(symbol)
        if book is None:
            book = self.symbols[symbol] = SymbolBook(symbol)
        return book

    def restore(self, symbol: str, *, phase: Phase, halted: bool, reason: str, last_price: int,
                orders: Iterable[tuple[int, Side, int, int]]) -> None:  # fmt: skip
        """Set one instrument's state from the engine's (after a restart): `orders` are
        (order id, side, price, visible) in priority order. Emits no messages."""
        book = self.symbols[symbol] = SymbolBook(symbol)
        book.phase, book.halted, book.reason, book.last_price = phase, halted, reason, last_price
        for order_id, side, price, visible in orders:
            book.change(BookAction.ADD, order_id, side, price, visible)
        book.quote = book.current_quote()

    def apply(self, events: Iterable[Event], timestamp_ns: int) -> list[Message]:
        """Fold one applied command's events in; return its messages, numbered in order."""
        out: list[Message] = []
        batch: _Batch | None = None
        for event in events:
            kind = type(event)  # exact types: the engine builds its events as plain tuples
            if kind is BookUpdate:
                batch = batch or _Batch()
                self._book_update(event, timestamp_ns, batch, out)  # type: ignore[arg-type]
            elif kind is Trade:
                self._trade(event, timestamp_ns, out)  # type: ignore[arg-type]
            elif kind is StatusChange:
                self._status(event, timestamp_ns, out)  # type: ignore[arg-type]
        if batch is not None:
            self._aggregate(batch, timestamp_ns, out)
        return out

    def _aggregate(self, batch: _Batch, ts: int, out: list[Message]) -> None:
        """The L2 and L1 messages of a command: only what differs from before it."""
        for (symbol, side, price), before in batch.levels.items():
            after = self.symbols[symbol].side(side).state(price)
            if after != before:
                out.append(L2Update(self._next(), ts, symbol, side, price, *after))
        for symbol in batch.symbols:
            book = self.symbols[symbol]
            quote = book.current_quote()
            if quote != book.quote:
                book.quote = quote
                out.append(L1Update(self._next(), ts, symbol, quote))

    def _next(self) -> int:
        self.sequence += 1
        return self.sequence

    def _book_update(self, event: BookUpdate, ts: int, batch: _Batch, out: list[Message]) -> None:
        symbol, side, price = event.symbol, event.side, event.price
        book = self.define(symbol)
        key = (symbol, side, price)
        if key not in batch.levels:
            batch.levels[key] = book.side(side).state(price)
        batch.symbols[symbol] = None
        book.change(event.action, event.order_id, side, price, event.visible)
        out.append(
            L3Update(self._next(), ts, symbol, event.action, event.order_id, side, price, event.visible)
        )

    def _trade(self, event: Trade, ts: int, out: list[Message]) -> None:
        book = self.define(event.symbol)
        trade = TradeUpdate(self._next(), ts, event.symbol, event.trade_id, event.price, event.quantity,
                            event.buy_order_id, event.sell_order_id, event.aggressor)  # fmt: skip
        book.last_trade, book.last_price = trade, event.price
        out.append(trade)

    def _status(self, event: StatusChange, ts: int, out: list[Message]) -> None:
        # The state keeps why it is halted: a later phase change while halted keeps that reason.
        if event.symbol:
            book = self.define(event.symbol)
            book.reason = _halt_reason(book.halted, book.reason, event)
            book.phase, book.halted = event.phase, event.halted
        else:
            self.market_reason = _halt_reason(self.market_halted, self.market_reason, event)
            self.market_halted = event.halted
        out.append(StatusUpdate(self._next(), ts, event.symbol, event.phase, event.halted, event.reason))

    # -- snapshots --------------------------------------------------------------------------

    def snapshot(self, symbol: str, channel: Channel) -> Snapshot:
        """The channel's state for `symbol` as of the last message handed out."""
        book = self.symbols.get(symbol)
        if book is None:
            raise UnknownInstrumentError(f"unknown symbol {symbol!r}")
        seq = self.sequence
        if channel is Channel.L1:
            return L1Snapshot(seq, symbol, book.quote)
        if channel is Channel.L2:
            return L2Snapshot(seq, symbol, book.levels(Side.BUY), book.levels(Side.SELL))
        if channel is Channel.L3:
            return L3Snapshot(seq, symbol, book.order_entries(Side.BUY), book.order_entries(Side.SELL))
        if channel is Channel.TRADES:
            return TradesSnapshot(seq, symbol, book.last_trade, book.last_price)
        return StatusSnapshot(seq, symbol, book.phase, book.halted, book.reason, self.market_halted)


def _halt_reason(was_halted: bool, reason: str, event: StatusChange) -> str:
    if not event.halted:
        return ""
    return reason if was_halted else event.reason
