"""The engine in continuous trading against a simple model of a price-time priority book.

Hypothesis drives limit (DAY/GTC/IOC/FOK), market, iceberg and stop orders, cancels, replaces and
a close-and-reopen from three participants over a few prices. The model is a plain list of orders
sorted by (price, arrival): it predicts every trade and rejection, and the book must match it
order by order. The other invariants read only the engine and its events: never crossed at rest,
quantity conserved, fill-or-kill all or nothing, exact level totals and risk bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from scalebox.exchange.domain import (
    BPS,
    CancelOrder,
    CancelReject,
    ExecType,
    Execution,
    Order,
    OrderType,
    Phase,
    RejectReason,
    ReplaceOrder,
    SelfTradePrevention,
    SetPhase,
    Side,
    TimeInForce,
    Trade,
)
from tests.exchange.factories import SYMBOL, make_engine, make_instrument, make_participant
from tests.exchange.invariants import assert_engine_consistent

PARTICIPANTS = ("alice", "bob", "carol")
REFERENCE = 100
COLLAR_BPS = 1_000
CREDIT_LIMIT = 4_000  # carol's limits; alice and bob have none
POSITION_LIMIT = 30
PRICES = st.integers(REFERENCE - 4, REFERENCE + 4)
QUANTITIES = st.integers(1, 12)
SIDES = st.sampled_from(Side)
STPS = st.sampled_from(SelfTradePrevention)
TIFS = st.sampled_from(TimeInForce)


@dataclass(eq=False)
class Model:
    """One order as the model sees it."""

    order_id: int
    participant: str
    cl_ord_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    stop_price: int
    display: int
    stp: SelfTradePrevention
    quantity: int
    reserve: int
    leaves: int = 0
    cum: int = 0
    visible: int = 0
    arrival: int = 0  # time priority: a refilled iceberg tranche or a re-entered replace arrives anew

    def priority(self) -> tuple[int, int]:
        return (-self.price if self.side is Side.BUY else self.price, self.arrival)


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.driver = make_engine(
            # A band this wide never halts: prices stay within 96..104.
            instruments=[
                make_instrument(reference_price_ticks=REFERENCE, collar_bps=COLLAR_BPS, band_bps=BPS)
            ],
            participants=[
                make_participant(participant_id="alice"),
                make_participant(participant_id="bob"),
                make_participant(
                    participant_id="carol", credit_limit_ticks=CREDIT_LIMIT, position_limit=POSITION_LIMIT
                ),
            ],
        )
        self.driver.check = False  # the invariants below check it after every step
        self.engine = self.driver.engine
        # The model.
        self.book: list[Model] = []  # resting orders, both sides
        self.stops: list[Model] = []  # waiting stop orders
        self.live: dict[int, Model] = {}
        self.net = dict.fromkeys(PARTICIPANTS, 0)
        self.last_price = 0
        self.next_order_id = 1
        self.arrivals = 0
        self.expected_trades: list[tuple[int, int, int, int]] = []
        self.cl_ord_ids = 0
        # Bookkeeping read from the events alone.
        self.submitted = self.rejected = self.replaced = self.cancelled = self.traded = 0
        self.leaves_seen: dict[int, int] = {}
        self.orders_seen: list[Order] = []
        self.fok_orders: list[Order] = []

    # -- rules ---------------------------------------------------------------------------------

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        side=SIDES,
        price=st.one_of(PRICES, st.just(0)),  # 0: a market order
        quantity=QUANTITIES,
        tif=TIFS,
        stp=STPS,
        display=st.one_of(st.just(0), st.integers(1, 5)),
    )
    def submit_order(self, *, participant, side, price, quantity, tif, stp, display) -> None:
        order_type = OrderType.LIMIT if price else OrderType.MARKET
        self._submit(
            participant=participant,
            side=side,
            order_type=order_type,
            tif=tif,
            quantity=quantity,
            price=price,
            stop_price=0,
            display=display,
            stp=stp,
        )

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        side=SIDES,
        price=PRICES,
        quantity=QUANTITIES,
        tif=st.sampled_from([TimeInForce.DAY, TimeInForce.GTC]),
        display=st.one_of(st.just(0), st.integers(1, 5)),
    )
    def rest_limit(self, *, participant, side, price, quantity, tif, display) -> None:
        self._submit(
            participant=participant,
            side=side,
            order_type=OrderType.LIMIT,
            tif=tif,
            quantity=quantity,
            price=price,
            stop_price=0,
            display=display,
            stp=SelfTradePrevention.CANCEL_RESTING,
        )

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        side=SIDES,
        stop_price=PRICES,
        limit=st.one_of(st.just(0), PRICES),
        quantity=QUANTITIES,
        tif=TIFS,
        stp=STPS,
    )
    def submit_stop(self, *, participant, side, stop_price, limit, quantity, tif, stp) -> None:
        order_type = OrderType.STOP_LIMIT if limit else OrderType.STOP
        self._submit(
            participant=participant,
            side=side,
            order_type=order_type,
            tif=tif,
            quantity=quantity,
            price=limit,
            stop_price=stop_price,
            display=0,
            stp=stp,
        )

    @precondition(lambda self: self.live)
    @rule(index=st.integers(0, 1_000), by_order_id=st.booleans(), mistake=st.integers(0, 9))
    def cancel(self, *, index, by_order_id, mistake) -> None:
        target = self._pick(index)
        cl_ord_id = self._cl_ord_id()
        if mistake == 0:  # now and then, cancel an order that is not (or no longer) there
            command = CancelOrder(target.participant, SYMBOL, cl_ord_id, "never", 0 if by_order_id else 10**6)
            (reject,) = self._apply(command)
            assert isinstance(reject, CancelReject)
            assert reject.reason is RejectReason.UNKNOWN_ORDER
            return
        if mistake == 1:  # or send a new order under a live order's ClOrdID
            order = Order(
                target.participant,
                SYMBOL,
                target.cl_ord_id,
                Side.BUY,
                OrderType.LIMIT,
                TimeInForce.DAY,
                1,
                REFERENCE,
            )
            events = self._apply(order)
            assert [(e.exec_type, e.reason) for e in events] == [
                (ExecType.REJECTED, RejectReason.DUPLICATE_ORDER)
            ]
            return
        if by_order_id:
            command = CancelOrder(target.participant, SYMBOL, cl_ord_id, "", target.order_id)
        else:
            command = CancelOrder(target.participant, SYMBOL, cl_ord_id, target.cl_ord_id)
        self._forget(target)
        events = self._apply(command)
        (report,) = [e for e in events if isinstance(e, Execution)]
        assert (report.exec_type, report.order.order_id, report.leaves, report.cum) == (
            ExecType.CANCELED,
            target.order_id,
            0,
            target.cum,
        )

    @precondition(lambda self: self.live)
    @rule(index=st.integers(0, 1_000), leaves=st.integers(-2, 12), price=PRICES, unknown=st.integers(0, 9))
    def replace(self, *, index, leaves, price, unknown) -> None:
        target = self._pick(index)
        if not unknown:
            command = ReplaceOrder(target.participant, "OTHER", self._cl_ord_id(), target.cl_ord_id, 5, price)
            (reject,) = self._apply(command)
            assert isinstance(reject, CancelReject)
            assert (reject.reason, reject.is_replace) == (RejectReason.UNKNOWN_ORDER, True)
            return
        quantity = target.cum + leaves
        if target.order_type is OrderType.STOP:
            price = 0
        command = ReplaceOrder(
            target.participant, SYMBOL, self._cl_ord_id(), target.cl_ord_id, quantity, price
        )
        reason = self._refuse_replace(target, quantity, price)
        if reason is not None:
            (reject,) = self._apply(command)
            assert isinstance(reject, CancelReject)
            assert reject.reason is reason
            return
        target.cl_ord_id = command.cl_ord_id
        in_book = target in self.book
        if in_book and price == target.price and leaves <= target.leaves:
            target.quantity, target.leaves = quantity, leaves
            target.visible = min(target.visible, leaves)
        else:
            if in_book:
                self.book.remove(target)
            target.price, target.quantity, target.leaves = price, quantity, leaves
            if price:
                target.reserve = price
            if in_book:
                self._work(target)
        self._apply(command)

    @precondition(lambda self: len(self.live) >= 4)
    @rule()
    def close_and_reopen(self) -> None:
        expired = sorted(
            (o for o in self.live.values() if o.tif is TimeInForce.DAY), key=lambda o: o.order_id
        )
        for order in expired:
            self._forget(order)
        events = self._apply(SetPhase(SYMBOL, Phase.CLOSED))
        assert [e.order.order_id for e in events if isinstance(e, Execution)] == [o.order_id for o in expired]
        assert all(e.reason is RejectReason.END_OF_DAY for e in events if isinstance(e, Execution))
        self._apply(SetPhase(SYMBOL, Phase.AUCTION))
        self._apply(SetPhase(SYMBOL, Phase.CONTINUOUS))

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def engine_is_consistent(self) -> None:
        # Never crossed at rest, level totals, priority order in every level, risk bookkeeping,
        # engine.orders and by_client holding exactly the live orders.
        assert_engine_consistent(self.engine)

    @invariant()
    def book_matches_the_model_order_by_order(self) -> None:
        book = self.engine.instruments[SYMBOL].book
        for side in Side:
            actual = [
                (o.order_id, o.price, o.leaves, o.visible, o.cl_ord_id) for o in book.side(side).orders()
            ]
            model = sorted((o for o in self.book if o.side is side), key=Model.priority)
            assert actual == [(o.order_id, o.price, o.leaves, o.visible, o.cl_ord_id) for o in model]
        stops = self.engine.instruments[SYMBOL].stops.orders()
        assert sorted((o.order_id, o.leaves, o.price) for o in stops) == sorted(
            (o.order_id, o.leaves, o.price) for o in self.stops
        )
        assert sorted(self.engine.orders) == sorted(self.live)
        for participant, net in self.net.items():
            position = self.engine.accounts[participant].positions.get(SYMBOL)
            assert (position.net if position else 0) == net

    @invariant()
    def quantity_is_conserved(self) -> None:
        # Every traded unit consumes one unit from the taker and one from the maker.
        resting = sum(order.leaves for order in self.engine.orders.values())
        assert self.submitted + self.replaced == (
            resting + 2 * self.traded + self.cancelled + self.rejected
        ), (self.submitted, self.replaced, resting, self.traded, self.cancelled, self.rejected)
        for order_id, order in self.engine.orders.items():
            assert self.leaves_seen[order_id] == order.leaves

    @invariant()
    def fill_or_kill_is_all_or_nothing(self) -> None:
        for order in self.fok_orders:
            assert order.cum in (0, order.quantity), order

    @invariant()
    def no_order_fills_beyond_its_quantity(self) -> None:
        for order in self.orders_seen:
            assert 0 <= order.cum <= order.quantity
            assert order.leaves + order.cum <= order.quantity, order

    # -- the model -----------------------------------------------------------------------------

    def _submit(self, *, participant, side, order_type, tif, quantity, price, stop_price, display, stp):
        order = Order(
            participant,
            SYMBOL,
            self._cl_ord_id(),
            side,
            order_type,
            tif,
            quantity,
            price,
            stop_price,
            display,
            stp,
        )
        if tif is TimeInForce.FOK:
            self.fok_orders.append(order)
        if order_type is OrderType.MARKET and display:
            reason: RejectReason | None = RejectReason.UNSUPPORTED
        else:
            reason = self._refuse(participant, side, order_type, quantity, price)
        if reason is not None:
            events = self._apply(order)
            assert [(e.exec_type, e.reason) for e in events] == [(ExecType.REJECTED, reason)]
            return
        model = Model(
            order_id=self.next_order_id,
            participant=participant,
            cl_ord_id=order.cl_ord_id,
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            stop_price=stop_price,
            display=display,
            stp=stp,
            quantity=quantity,
            reserve=self._reserve(side, order_type, price),
            leaves=quantity,
        )
        self.next_order_id += 1
        self.live[model.order_id] = model
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            model.arrival = self._arrival()
            self.stops.append(model)
            self._trigger_stops()
        else:
            self._work(model)
        self._apply(order)

    def _work(self, taker: Model) -> None:
        """Match a taker as the engine must: best price, then arrival; then rest, or cancel the rest."""
        if taker.tif is TimeInForce.FOK and self._fillable(taker) < taker.leaves:
            self._forget(taker)
            return
        traded, stopped = self._match(taker, self.book, record=True)
        if stopped:
            self._forget(taker)
        elif taker.leaves:
            if not taker.price or taker.tif in (TimeInForce.IOC, TimeInForce.FOK):
                self._forget(taker)
            else:
                taker.arrival = self._arrival()
                taker.visible = min(taker.display, taker.leaves) if taker.display else taker.leaves
                self.book.append(taker)
        else:
            self._forget(taker)
        if traded:
            self._trigger_stops()

    def _match(self, taker: Model, book: list[Model], *, record: bool) -> tuple[bool, bool]:
        """Trade `taker` against `book`; (anything traded, stopped by self-trade prevention)."""
        traded = False
        while taker.leaves:
            makers = sorted((o for o in book if o.side is not taker.side), key=Model.priority)
            if not makers or not self._crosses(taker, makers[0].price):
                break
            maker = makers[0]
            if maker.participant == taker.participant:
                if taker.stp is not SelfTradePrevention.CANCEL_AGGRESSIVE:
                    book.remove(maker)
                    if record:
                        self._forget(maker)
                if taker.stp is SelfTradePrevention.CANCEL_RESTING:
                    continue
                return traded, True
            quantity = min(taker.leaves, maker.visible)
            for order in (taker, maker):
                order.leaves -= quantity
                order.cum += quantity
            maker.visible -= quantity
            traded = True
            if record:
                buy, sell = (taker, maker) if taker.side is Side.BUY else (maker, taker)
                self.expected_trades.append((maker.price, quantity, buy.order_id, sell.order_id))
                self.net[buy.participant] += quantity
                self.net[sell.participant] -= quantity
                self.last_price = maker.price
            if not maker.visible:
                if maker.leaves:  # the iceberg's next tranche queues behind everyone at its price
                    maker.visible = min(maker.display, maker.leaves)
                    maker.arrival = self._arrival()
                else:
                    book.remove(maker)
                    if record:
                        self._forget(maker)
        return traded, False

    def _fillable(self, taker: Model) -> int:
        """Fill or kill means: what matching would fill, on a copy of the book, is all of it."""
        probe = replace(taker)
        self._match(probe, [replace(order) for order in self.book], record=False)
        return probe.cum - taker.cum

    def _trigger_stops(self) -> None:
        """Buy stops trigger at or above their stop price, sell stops at or below; the lowest buy
        stop (highest sell stop) first, and between the two sides the earlier arrival."""
        while self.last_price:
            buys = [s for s in self.stops if s.side is Side.BUY and s.stop_price <= self.last_price]
            sells = [s for s in self.stops if s.side is Side.SELL and s.stop_price >= self.last_price]
            candidates = [
                *([min(buys, key=lambda s: (s.stop_price, s.arrival))] if buys else []),
                *([min(sells, key=lambda s: (-s.stop_price, s.arrival))] if sells else []),
            ]
            if not candidates:
                return
            stop = min(candidates, key=lambda s: s.arrival)
            self.stops.remove(stop)
            self._work(stop)

    @staticmethod
    def _crosses(taker: Model, price: int) -> bool:
        if not taker.price:
            return True
        return price <= taker.price if taker.side is Side.BUY else price >= taker.price

    def _reference(self) -> int:
        return self.last_price or REFERENCE

    def _reserve(self, side: Side, order_type: OrderType, price: int) -> int:
        if price:
            return price
        reference = self._reference()
        width = reference * COLLAR_BPS // BPS
        return reference + width if side is Side.BUY else max(1, reference - width)

    def _refuse(self, participant, side, order_type, quantity, price, *, held: Model | None = None):
        """Carol's credit and position limits (every price in play is inside the collar)."""
        if participant != "carol":
            return None
        others = [o for o in self.live.values() if o.participant == "carol" and o is not held]
        notional = self._reserve(side, order_type, price) * quantity
        if sum(o.reserve * o.leaves for o in others) + notional > CREDIT_LIMIT:
            return RejectReason.CREDIT_LIMIT
        open_quantity = sum(o.leaves for o in others if o.side is side)
        net = self.net["carol"] if side is Side.BUY else -self.net["carol"]
        if net + open_quantity + quantity > POSITION_LIMIT:
            return RejectReason.POSITION_LIMIT
        return None

    def _refuse_replace(self, target: Model, quantity: int, price: int) -> RejectReason | None:
        if quantity <= target.cum:
            return RejectReason.INVALID_QUANTITY
        leaves = quantity - target.cum
        return self._refuse(target.participant, target.side, target.order_type, leaves, price, held=target)

    def _forget(self, order: Model) -> None:
        """The order is done: filled, cancelled, expired or killed."""
        order.leaves = 0
        del self.live[order.order_id]
        if order in self.book:
            self.book.remove(order)
        if order in self.stops:
            self.stops.remove(order)

    def _pick(self, index: int) -> Model:
        live = sorted(self.live)
        return self.live[live[index % len(live)]]

    def _arrival(self) -> int:
        self.arrivals += 1
        return self.arrivals

    def _cl_ord_id(self) -> str:
        self.cl_ord_ids += 1
        return f"m{self.cl_ord_ids}"

    # -- the engine ----------------------------------------------------------------------------

    def _apply(self, command):
        expected, self.expected_trades = self.expected_trades, []
        events = self.driver.apply(command)
        trades = [
            (t.price, t.quantity, t.buy_order_id, t.sell_order_id) for t in events if isinstance(t, Trade)
        ]
        assert trades == expected
        if isinstance(command, Order):
            self.submitted += command.quantity
            self.orders_seen.append(command)
        for event in events:
            if isinstance(event, Trade):
                self.traded += event.quantity
            if not isinstance(event, Execution):
                continue
            order_id = event.order.order_id
            if event.exec_type is ExecType.REJECTED:
                self.rejected += event.order.quantity
            elif event.exec_type is ExecType.REPLACED:
                self.replaced += event.leaves - self.leaves_seen[order_id]
                self.orders_seen.append(event.order)
            elif event.exec_type in (ExecType.CANCELED, ExecType.EXPIRED):
                self.cancelled += self.leaves_seen[order_id]
            self.leaves_seen[order_id] = event.leaves
        return events


BookMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBook = BookMachine.TestCase
