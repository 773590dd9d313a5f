"""One seeded, realistic order-entry stream for a single instrument, generated against a shadow copy of
our matching engine so that every cancel and replace targets an order that is live at that point.

The stream is plain data (`Op` tuples of ints), independent of either engine: each runner turns it
into its own freshly built command objects (ours.py, liquibook_runner.py), so every run starts from
the same bytes and no run reuses objects another one mutated.

Shape of the stream (see MixConfig for the knobs):

- A set-up prefix of resting limit orders builds the book to its target size; runners apply it
  untimed.
- Then `operations` measured operations: about 60% resting limit adds, 25% cancels, 10% marketable
  orders (IOC limits priced through the touch, and IOC market orders) and 5% replaces.
- Prices follow a mean-reverting "fair value" a few ticks wide; resting adds are placed behind the
  touch with most of them within a few ticks of it (a geometric distribution) and a tail of far
  orders, and never cross. Marketable orders lean toward the side the fair value has moved to.
- Sizes are round lots (100 to 1,000 shares, mostly 100-300).
- Cancels pick a live order uniformly at random; replaces re-price a live order (always a new price,
  sometimes a new size), the move that both engines treat as cancel-and-re-add.
- With 60% adds against 25% cancels the book only stays a steady size when marketable orders take
  about 3.5 resting orders each: each marketable order takes the quantity of a random number of
  queued orders at the touch (mean 3.5, nudged by how far the book is from its target size) and
  sometimes part of the next one.
- Buyers and sellers are different participants (B0..B7 only buy, S0..S7 only sell), so no order can
  meet one of its own participant's: our self-trade prevention never acts and liquibook, which has
  none, trades exactly the same.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from typing import NamedTuple

from scalebox.exchange.domain import (
    CancelOrder,
    DefineInstrument,
    DefineParticipant,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    ReplaceOrder,
    SetPhase,
    Side,
    TimeInForce,
    Trade,
)
from scalebox.exchange.engine import MatchingEngine

SYMBOL = "ACME"
REFERENCE_PRICE = 10_000  # ticks of 0.01: $100.00
TIMESTAMP_ORIGIN_NS = 1_800_000_000_000_000_000
TIMESTAMP_STEP_NS = 1_000  # one operation per microsecond of sequencer time
PARTICIPANTS_PER_SIDE = 8

# Op kinds
ADD = 0  # resting limit order (DAY)
IOC = 1  # marketable limit order, immediate or cancel
MARKET = 2  # market order, immediate or cancel
CANCEL = 3
REPLACE = 4
KIND_NAMES = {ADD: "limit add", IOC: "marketable IOC limit", MARKET: "market (IOC)", CANCEL: "cancel",
              REPLACE: "replace"}  # fmt: skip
BUY, SELL = 1, 2


class Op(NamedTuple):
    """One operation. `ref` names an order for the whole stream (its adds, cancels and replaces);
    cl_ord_id is this request's ClOrdID and orig_cl_ord_id the order's current one (cancel and
    replace). `quantity` is the order's total size (a replace's new total, the filled part
    included, as FIX OrderQty); `open_delta` is the replace's change of open quantity, liquibook's
    way of saying the same thing."""

    kind: int
    ref: int
    participant: int  # index into participants(side)
    side: int  # 1 buy, 2 sell
    price: int  # ticks; 0 for market orders and cancels
    quantity: int
    cl_ord_id: int
    orig_cl_ord_id: int = 0
    open_delta: int = 0


def participant_name(side: int, index: int) -> str:
    return f"{'B' if side == BUY else 'S'}{index}"


@dataclass(frozen=True)
class MixConfig:
    operations: int = 1_000_000
    seed: int = 20261121
    book_target: int = 10_000  # live resting orders the book hovers around
    share_add: float = 0.60
    share_cancel: float = 0.25
    share_marketable: float = 0.10  # of which market_share are market orders
    share_replace: float = 0.05
    market_share: float = 0.3
    near_mean_ticks: float = 3.0  # mean distance behind the touch of most adds
    far_share: float = 0.08  # adds placed far from the touch (10-80 ticks)
    takes_mean: float = 3.5  # resting orders a marketable order takes, on average


@dataclass
class Stream:
    config: MixConfig
    setup: list[Op]  # builds the book; applied untimed
    ops: list[Op]  # the measured operations
    counts: dict[int, int] = field(default_factory=dict)
    book_sizes: list[int] = field(default_factory=list)  # live orders, sampled every 1,000 ops
    levels: list[int] = field(default_factory=list)  # price levels (both sides), sampled likewise
    trades: int = 0  # what our engine traded while generating (for the cross-check)
    volume: int = 0


def setup_commands() -> list[object]:
    """The instrument, the participants (no credit or position limits) and continuous trading."""
    instrument = Instrument(SYMBOL, reference_price_ticks=REFERENCE_PRICE, max_order_quantity=1_000_000)
    commands: list[object] = [DefineInstrument(instrument)]
    for side in (BUY, SELL):
        for index in range(PARTICIPANTS_PER_SIDE):
            commands.append(DefineParticipant(Participant(participant_name(side, index))))
    commands.append(SetPhase(SYMBOL, Phase.CONTINUOUS))
    return commands


def build_command(op: Op, names: dict[tuple[int, int], str]) -> object:
    """Our engine's command for `op` (a new object every call: the engine adopts orders)."""
    participant = names[op.side, op.participant]
    side = Side.BUY if op.side == BUY else Side.SELL
    kind = op.kind
    if kind == ADD:
        return Order(participant, SYMBOL, str(op.cl_ord_id), side, OrderType.LIMIT, TimeInForce.DAY,
                     op.quantity, op.price)  # fmt: skip
    if kind == IOC:
        return Order(participant, SYMBOL, str(op.cl_ord_id), side, OrderType.LIMIT, TimeInForce.IOC,
                     op.quantity, op.price)  # fmt: skip
    if kind == MARKET:
        return Order(participant, SYMBOL, str(op.cl_ord_id), side, OrderType.MARKET, TimeInForce.IOC,
                     op.quantity)  # fmt: skip
    if kind == CANCEL:
        return CancelOrder(participant, SYMBOL, str(op.cl_ord_id), str(op.orig_cl_ord_id))
    return ReplaceOrder(participant, SYMBOL, str(op.cl_ord_id), str(op.orig_cl_ord_id), op.quantity, op.price)


def all_names() -> dict[tuple[int, int], str]:
    return {
        (side, i): participant_name(side, i) for side in (BUY, SELL) for i in range(PARTICIPANTS_PER_SIDE)
    }


def timestamp(sequence: int) -> int:
    return TIMESTAMP_ORIGIN_NS + sequence * TIMESTAMP_STEP_NS


_SIZES = (100, 100, 100, 100, 200, 200, 200, 300, 300, 400, 500, 1000)


class _Generator:
    def __init__(self, config: MixConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.engine = MatchingEngine()
        self.names = all_names()
        self.sequence = 0
        for command in setup_commands():
            self._apply(command)
        self.inst = self.engine.instruments[SYMBOL]
        self.fair = float(REFERENCE_PRICE)
        self.next_ref = 1
        self.next_cl = 1
        # Live orders by ref, for uniform picks: a list and each ref's index in it (swap-remove).
        self.live: list[int] = []
        self.live_index: dict[int, int] = {}
        self.order_of: dict[int, tuple[int, int, int]] = {}  # ref -> (side, participant, current cl)
        self.trades = 0
        self.volume = 0
        boundaries = [config.share_add, config.share_cancel, config.share_marketable, config.share_replace]
        self.cumulative = [sum(boundaries[: i + 1]) for i in range(len(boundaries))]

    def _apply(self, command: object) -> None:
        self.sequence += 1
        for event in self.engine.apply(command, self.sequence, timestamp(self.sequence)):  # type: ignore[arg-type]
            if type(event) is Trade:
                self.trades += 1
                self.volume += event.quantity

    # -- the market ------------------------------------------------------------------------------

    def _best(self) -> tuple[int | None, int | None]:
        book = self.inst.book
        return book.best_bid(), book.best_ask()

    def _drift(self) -> None:
        """The fair value: a mean-reverting random walk around the reference price."""
        rng = self.rng
        if rng.random() < 0.05:
            pull = (REFERENCE_PRICE - self.fair) / 300.0
            self.fair += rng.choice((-1.0, 1.0)) + pull

    def _resting_price(self, side: int) -> int:
        rng, config = self.rng, self.config
        bid, ask = self._best()
        if rng.random() < config.far_share:
            distance = rng.randint(10, 80)
        else:
            distance = int(rng.expovariate(1.0 / config.near_mean_ticks))
        if side == BUY:
            price = int(self.fair) - distance
            if ask is not None and price >= ask:
                price = ask - 1 - min(distance, 2)
        else:
            price = int(self.fair + 0.999) + distance
            if bid is not None and price <= bid:
                price = bid + 1 + min(distance, 2)
        return max(price, 1)

    def _size(self) -> int:
        return self.rng.choice(_SIZES)

    # -- live orders -----------------------------------------------------------------------------

    def _track(self, ref: int) -> None:
        self.live_index[ref] = len(self.live)
        self.live.append(ref)

    def _untrack(self, ref: int) -> None:
        index = self.live_index.pop(ref)
        last = self.live.pop()
        if last != ref:
            self.live[index] = last
            self.live_index[last] = index

    def _live_order(self, ref: int) -> Order | None:
        side, participant, cl = self.order_of[ref]
        return self.engine.by_client.get((self.names[side, participant], str(cl)))

    def _pick_live(self) -> tuple[int, Order] | None:
        """A uniformly random live order; orders filled since they were added are dropped here."""
        while self.live:
            ref = self.live[self.rng.randrange(len(self.live))]
            order = self._live_order(ref)
            if order is not None and order.leaves:
                return ref, order
            self._untrack(ref)
        return None

    # -- operations ------------------------------------------------------------------------------

    def add(self) -> Op:
        side = BUY if self.rng.random() < 0.5 else SELL
        ref, cl = self.next_ref, self.next_cl
        self.next_ref += 1
        self.next_cl += 1
        participant = self.rng.randrange(PARTICIPANTS_PER_SIDE)
        op = Op(ADD, ref, participant, side, self._resting_price(side), self._size(), cl)
        self.order_of[ref] = (side, participant, cl)
        self._track(ref)
        return op

    def cancel(self) -> Op | None:
        picked = self._pick_live()
        if picked is None:
            return None
        ref, _ = picked
        side, participant, cl = self.order_of[ref]
        new_cl = self.next_cl
        self.next_cl += 1
        self._untrack(ref)
        return Op(CANCEL, ref, participant, side, 0, 0, new_cl, cl)

    def replace(self) -> Op | None:
        picked = self._pick_live()
        if picked is None:
            return None
        ref, order = picked
        side, participant, cl = self.order_of[ref]
        price = order.price
        for _ in range(10):
            price = self._resting_price(side)
            if price != order.price:
                break
        if price == order.price:
            price += -1 if side == BUY else 1
        leaves = order.leaves if self.rng.random() < 0.7 else self._size()
        new_cl = self.next_cl
        self.next_cl += 1
        self.order_of[ref] = (side, participant, new_cl)
        return Op(
            REPLACE, ref, participant, side, price, order.cum + leaves, new_cl, cl, leaves - order.leaves
        )

    def marketable(self) -> Op | None:
        rng, config = self.rng, self.config
        bid, ask = self._best()
        mid = (bid + ask) / 2 if bid is not None and ask is not None else self.fair
        lean = max(-0.4, min(0.4, (self.fair - mid) / 4.0))
        side = BUY if rng.random() < 0.5 + lean else SELL
        book_side = self.inst.book.asks if side == BUY else self.inst.book.bids
        if not book_side.levels:
            return None
        # Steer the book toward its target size: take more orders when it is larger than the target.
        ratio = len(self.engine.orders) / config.book_target
        mean = max(0.5, min(12.0, config.takes_mean * ratio * ratio))
        takes = 1 + int(rng.expovariate(1.0 / mean)) if mean > 1 else 1
        quantity = 0
        last_price = 0
        for price in book_side.prices():
            for order in book_side.levels[price]:
                if takes == 0:
                    break
                quantity += order.leaves
                last_price = price
                takes -= 1
            if takes == 0:
                break
        if rng.random() < 0.4:
            quantity += 100 * rng.randint(1, 3)  # part of the next order, or an IOC remainder
        ref, cl = self.next_ref, self.next_cl
        self.next_ref += 1
        self.next_cl += 1
        participant = rng.randrange(PARTICIPANTS_PER_SIDE)
        if rng.random() < config.market_share:
            return Op(MARKET, ref, participant, side, 0, quantity, cl)
        through = rng.randint(0, 2)
        price = last_price + through if side == BUY else max(1, last_price - through)
        return Op(IOC, ref, participant, side, price, quantity, cl)

    def step(self) -> Op:
        self._drift()
        draw = self.rng.random()
        kind = bisect.bisect_right(self.cumulative, draw)
        op: Op | None
        if kind == 1:
            op = self.cancel()
        elif kind == 2:
            op = self.marketable()
        elif kind == 3:
            op = self.replace()
        else:
            op = None
        if op is None:
            op = self.add()
        self._apply(build_command(op, self.names))
        return op


def generate(config: MixConfig) -> Stream:
    """Generate the stream by running it through our engine once."""
    generator = _Generator(config)
    setup: list[Op] = []
    while len(generator.live) < config.book_target:
        op = generator.add()
        generator._apply(build_command(op, generator.names))
        setup.append(op)
    generator.trades = generator.volume = 0  # count the measured part only
    ops: list[Op] = []
    counts: dict[int, int] = {}
    sizes: list[int] = []
    levels: list[int] = []
    book = generator.inst.book
    for index in range(config.operations):
        op = generator.step()
        ops.append(op)
        counts[op.kind] = counts.get(op.kind, 0) + 1
        if index % 1000 == 999:
            sizes.append(len(generator.engine.orders))
            levels.append(len(book.bids.levels) + len(book.asks.levels))
    return Stream(config, setup, ops, counts, sizes, levels, generator.trades, generator.volume)
