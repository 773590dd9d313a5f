"""The sequencer's rules: journal before the engine, fail-stop on a journal error, bounded inbox,
listeners isolated, order objects submitted once, reference data validated before journaling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError, LimitExceededError
from scalebox.exchange.domain import (
    DefineInstrument,
    DefineParticipant,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    SetPhase,
    Side,
    TimeInForce,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import InvalidConfigError, NotPrimaryError
from scalebox.exchange.service.venue import Applied, Venue
from scalebox.exchange.storage.journal import Journal


def make_order(cl_ord_id: str = "c1", side: Side = Side.BUY, price: int = 10_000) -> Order:
    return Order("alice", "ACME", cl_ord_id, side, OrderType.LIMIT, TimeInForce.DAY, 10, price)


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[Venue]:
    journal = Journal(tmp_path / "journal")
    journal.open()
    venue = Venue(MatchingEngine(), journal, FakeClock(), inbox_max=50)
    task = asyncio.create_task(venue.run())
    await venue.submit_many(
        [
            DefineInstrument(Instrument("ACME")),
            DefineParticipant(Participant("alice")),
            SetPhase("", Phase.CONTINUOUS),
        ]
    )
    yield venue
    task.cancel()
    journal.close()


async def test_an_acknowledged_command_is_in_the_journal(venue: Venue, tmp_path: Path) -> None:
    applied = await venue.submit(make_order())
    reread = Journal(tmp_path / "journal")
    reread.open()
    assert reread.last_sequence == applied.sequence
    reread.close()


async def test_timestamps_never_go_backwards_even_if_the_clock_does(venue: Venue) -> None:
    clock = venue.clock
    assert isinstance(clock, FakeClock)
    first = await venue.submit(make_order("a"))
    clock.current = clock.current.replace(year=2020)
    second = await venue.submit(make_order("b"))
    assert second.timestamp_ns > first.timestamp_ns


async def test_the_same_order_object_cannot_be_submitted_twice(venue: Venue) -> None:
    order = make_order()
    await venue.submit(order)
    with pytest.raises(InvalidError):
        venue.submit_nowait(order)


async def test_a_full_inbox_refuses_new_commands(venue: Venue) -> None:
    futures = [venue.submit_nowait(make_order(f"c{i}")) for i in range(50)]
    with pytest.raises(LimitExceededError):
        venue.submit_nowait(make_order("one-too-many"))
    await asyncio.gather(*futures)


async def test_a_failing_listener_does_not_stop_the_venue(venue: Venue) -> None:
    seen: list[int] = []

    def broken(applied: Applied) -> None:
        raise RuntimeError("a bug in a reader")

    venue.add_listener(broken)
    venue.add_listener(lambda applied: seen.append(applied.sequence))
    first = await venue.submit(make_order("a"))
    second = await venue.submit(make_order("b"))
    assert seen == [first.sequence, second.sequence]
    assert venue.listener_failures == 2


async def test_a_journal_failure_stops_the_venue(venue: Venue) -> None:
    def refuse(records: list[tuple[int, int, bytes]]) -> list[bytes]:
        raise OSError(28, "No space left on device")

    venue.journal.append = refuse  # type: ignore[method-assign]
    with pytest.raises(NotPrimaryError):
        await venue.submit(make_order())
    with pytest.raises(NotPrimaryError):
        venue.submit_nowait(make_order("later"))


@pytest.mark.parametrize(
    "fields",
    [
        {"lot_size": 0},
        {"tick_size": Decimal(0)},
        {"reference_price_ticks": 0},
        {"collar_bps": -1},
        {"band_bps": 10_001},
    ],
)
def test_an_instrument_that_would_break_the_engine_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        Instrument("BAD", **fields)  # type: ignore[arg-type]
