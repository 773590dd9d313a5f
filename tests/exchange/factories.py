"""Test data for the exchange: make_<thing>(**overrides) factories and a driver that applies
commands to a MatchingEngine with increasing sequence numbers and timestamps."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from scalebox.exchange.domain import (
    CancelOrder,
    Command,
    DefineInstrument,
    DefineParticipant,
    Event,
    ExecType,
    Execution,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    ReplaceOrder,
    SelfTradePrevention,
    SetPhase,
    Side,
    TimeInForce,
    Trade,
)
from scalebox.exchange.engine import MatchingEngine
from tests.exchange.invariants import assert_engine_consistent

SYMBOL = "ACME"
NS_PER_SECOND = 1_000_000_000

_cl_ord_ids = itertools.count(1)


def make_instrument(**overrides: Any) -> Instrument:
    """ACME around 100 ticks: collar 90..110 (10%), volatility band 95..105 (5%)."""
    fields: dict[str, Any] = {
        "symbol": SYMBOL,
        "reference_price_ticks": 100,
        "collar_bps": 1_000,
        "band_bps": 500,
    }
    return Instrument(**(fields | overrides))


def make_participant(**overrides: Any) -> Participant:
    fields: dict[str, Any] = {"participant_id": "alice"}
    return Participant(**(fields | overrides))


def make_order(**overrides: Any) -> Order:
    """A GTC limit buy of 10 ACME at 100 for alice, with a fresh ClOrdID."""
    fields: dict[str, Any] = {
        "participant": "alice",
        "symbol": SYMBOL,
        "cl_ord_id": f"c{next(_cl_ord_ids)}",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "tif": TimeInForce.GTC,
        "quantity": 10,
        "price": 100,
        "stop_price": 0,
        "display": 0,
        "stp": SelfTradePrevention.CANCEL_AGGRESSIVE,
    }
    return Order(**(fields | overrides))


def make_cancel(order: Order, **overrides: Any) -> CancelOrder:
    fields: dict[str, Any] = {
        "participant": order.participant,
        "symbol": order.symbol,
        "cl_ord_id": f"x{next(_cl_ord_ids)}",
        "orig_cl_ord_id": order.cl_ord_id,
    }
    return CancelOrder(**(fields | overrides))


def make_replace(order: Order, **overrides: Any) -> ReplaceOrder:
    fields: dict[str, Any] = {
        "participant": order.participant,
        "symbol": order.symbol,
        "cl_ord_id": f"r{next(_cl_ord_ids)}",
        "orig_cl_ord_id": order.cl_ord_id,
        "quantity": order.quantity,
        "price": order.price,
    }
    return ReplaceOrder(**(fields | overrides))


class EngineDriver:
    """A MatchingEngine plus the sequencer's part: numbering and timestamping each command."""

    def __init__(self, engine: MatchingEngine, step_ns: int = 1_000_000, *, check: bool = True) -> None:
        self.engine = engine
        self.timestamp_ns = 1_700_000_000 * NS_PER_SECOND
        self.step_ns = step_ns
        self.check = check  # assert the engine's invariants after every command

    def apply(self, command: Command) -> list[Event]:
        self.timestamp_ns += self.step_ns
        events = self.engine.apply(command, self.engine.last_sequence + 1, self.timestamp_ns)
        if self.check:
            assert_engine_consistent(self.engine)
        return events

    def apply_all(self, commands: Iterable[Command]) -> list[Event]:
        return [event for command in commands for event in self.apply(command)]

    def submit(self, **overrides: Any) -> tuple[Order, list[Event]]:
        """Submit make_order(**overrides); returns the order and the events."""
        order = make_order(**overrides)
        return order, self.apply(order)

    def rest(self, **overrides: Any) -> Order:
        """Submit an order that is expected to be accepted; returns it."""
        order, events = self.submit(**overrides)
        assert isinstance(events[0], Execution), events
        assert events[0].exec_type is ExecType.NEW, events[0]
        return order

    def advance(self, *, seconds: float) -> None:
        self.timestamp_ns += int(seconds * NS_PER_SECOND)

    @property
    def book(self):
        return self.engine.instruments[SYMBOL].book

    @property
    def state(self):
        return self.engine.instruments[SYMBOL]


def make_engine(
    *,
    instruments: Iterable[Instrument] | None = None,
    participants: Iterable[Participant] | None = None,
    phase: Phase = Phase.CONTINUOUS,
) -> EngineDriver:
    """An engine with ACME and alice, bob and carol defined, in the given phase (continuous)."""
    driver = EngineDriver(MatchingEngine())
    if instruments is None:
        instruments = [make_instrument()]
    if participants is None:
        participants = [make_participant(participant_id=p) for p in ("alice", "bob", "carol")]
    instruments = list(instruments)
    for instrument in instruments:
        driver.apply(DefineInstrument(instrument))
    for participant in participants:
        driver.apply(DefineParticipant(participant))
    if phase is not Phase.CLOSED:
        for instrument in instruments:
            driver.apply(SetPhase(instrument.symbol, Phase.AUCTION))
            if phase is Phase.CONTINUOUS:
                driver.apply(SetPhase(instrument.symbol, Phase.CONTINUOUS))
    return driver


# -- reading events ------------------------------------------------------------------------------


def executions(events: Iterable[Event], order: Order | None = None) -> list[Execution]:
    """Execution reports in the batch, only `order`'s when given (by order id, else identity)."""
    out = []
    for event in events:
        if not isinstance(event, Execution):
            continue
        if (
            order is None
            or event.order is order
            or (order.order_id and event.order.order_id == order.order_id)
        ):
            out.append(event)
    return out


def trades(events: Iterable[Event]) -> list[Trade]:
    return [event for event in events if isinstance(event, Trade)]


def of_type(events: Iterable[Event], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def queue(driver: EngineDriver, side: Side, symbol: str = SYMBOL) -> list[tuple[int, str, int]]:
    """(price, ClOrdID, leaves) of the live orders on one side, in priority order."""
    book = driver.engine.instruments[symbol].book
    return [(o.price, o.cl_ord_id, o.leaves) for o in book.side(side).orders()]
