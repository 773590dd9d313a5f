"""The clearing service over its real store (SQLite on tmp_path, and PostgreSQL when
SCALEBOX_TEST_POSTGRES_URL is set): capture off the venue's hot path, positions, fills, netting,
restart from the last stored sequence, and a full queue stopping capture rather than leaving a hole.

The schema comes from the exchange's Alembic migrations, so they are under test as well."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.clock import FakeClock
from scalebox.core.db import open_engine, sqlite_url, upgrade
from scalebox.exchange.domain import (
    Command,
    DefineInstrument,
    DefineParticipant,
    ExecType,
    Phase,
    SetPhase,
    Side,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import ClearingStalledError
from scalebox.exchange.posttrade import Holding, Obligation
from scalebox.exchange.service.clearing import Clearing
from scalebox.exchange.service.venue import Applied, Venue, replay
from scalebox.exchange.storage.clearing_sql import MIGRATIONS, VERSION_TABLE, SqlClearingStore
from scalebox.exchange.storage.journal import Journal
from tests.exchange.factories import make_instrument, make_order, make_participant

FRIDAY = date(2025, 3, 7)
MONDAY = date(2025, 3, 10)
TIMEOUT_SECONDS = 10


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "exchange.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    await upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def clearing(engine: AsyncEngine) -> Clearing:
    clearing = Clearing(SqlClearingStore(engine))
    await clearing.open()
    return clearing


class Sequencer:
    """The venue's numbering without its journal: apply commands to an engine at a chosen time and
    hand each Applied to the listeners, as the venue does."""

    def __init__(self, *listeners, moment: datetime = datetime(2025, 3, 7, 15, tzinfo=UTC)) -> None:
        self.engine = MatchingEngine()
        self.listeners = listeners
        self.timestamp_ns = int(moment.timestamp()) * 1_000_000_000

    def apply(self, *commands: Command) -> list[Applied]:
        out = []
        for command in commands:
            self.timestamp_ns += 1_000
            sequence = self.engine.last_sequence + 1
            applied = Applied(
                sequence, self.timestamp_ns, command, self.engine.apply(command, sequence, self.timestamp_ns)
            )
            for listener in self.listeners:
                listener(applied)
            out.append(applied)
        return out


def market_setup() -> list[Command]:
    commands: list[Command] = [DefineInstrument(make_instrument())]
    commands += [DefineParticipant(make_participant(participant_id=p)) for p in ("alice", "bob", "carol")]
    return [*commands, SetPhase("", Phase.AUCTION), SetPhase("", Phase.CONTINUOUS)]


def buy(quantity: int = 10, price: int = 100, who: str = "alice"):
    return make_order(participant=who, side=Side.BUY, quantity=quantity, price=price)


def sell(quantity: int = 10, price: int = 100, who: str = "bob"):
    return make_order(participant=who, side=Side.SELL, quantity=quantity, price=price)


async def test_upgrade_creates_the_tables_and_is_idempotent(engine: AsyncEngine):
    await upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)

    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    assert {"exchange_trades", "exchange_executions", "exchange_position_days", "exchange_clearing_state",
            VERSION_TABLE} <= names  # fmt: skip


async def test_capture_stores_trades_fills_and_positions(clearing: Clearing):
    venue = Sequencer(clearing.accept)
    venue.apply(*market_setup(), buy(10, 100), buy(5, 99, who="carol"))
    (crossing,) = venue.apply(sell(12, 99))

    assert await clearing.drain() == crossing.sequence
    assert clearing.last_sequence() == crossing.sequence

    trades = await clearing.trades()
    assert [(t.buyer, t.seller, t.price_ticks, t.quantity) for t in trades] == [
        ("carol", "bob", 99, 2),
        ("alice", "bob", 100, 10),
    ]
    assert [t.buyer for t in await clearing.trades("carol")] == ["carol"]
    fills = await clearing.fills("bob")
    assert [(f.exec_type, f.last_quantity, f.last_price_ticks, f.cum, f.leaves) for f in fills] == [
        (ExecType.TRADE, 2, 99, 12, 0),
        (ExecType.TRADE, 10, 100, 10, 2),
    ]
    assert await clearing.positions("bob") == [Holding("bob", "ACME", 0, 12, 0, 1198)]
    everyone = {(h.participant, h.net_quantity, h.net_cash_ticks) for h in await clearing.positions()}
    assert everyone == {("alice", 10, -1000), ("bob", -12, 1198), ("carol", 2, -198)}


async def test_netting_gives_obligations_due_the_next_business_day(clearing: Clearing):
    venue = Sequencer(clearing.accept)  # trading on a Friday
    venue.apply(*market_setup(), buy(10, 100), sell(10, 100), sell(4, 101), buy(4, 101, who="carol"))
    await clearing.drain()

    obligations = await clearing.netting(FRIDAY)

    assert obligations == [
        Obligation("alice", "ACME", FRIDAY, MONDAY, 10, -1000),
        Obligation("bob", "ACME", FRIDAY, MONDAY, -14, 1404),
        Obligation("carol", "ACME", FRIDAY, MONDAY, 4, -404),
    ]
    assert await clearing.netting(MONDAY) == []
    assert await clearing.trade_dates() == [FRIDAY]


async def test_positions_add_up_over_several_batches_and_days(clearing: Clearing):
    venue = Sequencer(clearing.accept)
    venue.apply(*market_setup(), buy(10, 100), sell(10, 100))
    await clearing.drain()
    venue.timestamp_ns += 3 * 86_400 * 1_000_000_000  # Monday
    venue.apply(buy(3, 100, who="bob"), sell(3, 100, who="alice"))
    await clearing.drain()

    assert await clearing.positions("alice") == [Holding("alice", "ACME", 10, 3, 1000, 300)]
    assert [o.quantity for o in await clearing.netting(MONDAY) if o.participant == "alice"] == [-3]
    assert await clearing.trade_dates() == [MONDAY, FRIDAY]


async def test_run_drains_in_the_background(clearing: Clearing):
    venue = Sequencer(clearing.accept)
    task = asyncio.create_task(clearing.run())
    try:
        applied = venue.apply(*market_setup(), buy(), sell())
        await asyncio.wait_for(clearing.wait_stored(applied[-1].sequence), TIMEOUT_SECONDS)
    finally:
        task.cancel()
    assert len(await clearing.trades()) == 1
    assert clearing.trades_total == 1
    assert clearing.executions_total == 4  # two NEW, two TRADE


async def test_accept_ignores_sequences_already_stored(engine: AsyncEngine, clearing: Clearing):
    commands = [*market_setup(), buy(), sell()]
    Sequencer(clearing.accept).apply(*commands)
    await clearing.drain()

    restarted = Clearing(SqlClearingStore(engine))
    assert await restarted.open() == len(commands)
    again = Sequencer(restarted.accept)  # the journal replayed from the start: nothing new
    again.apply(*[*market_setup(), buy(), sell()])
    assert restarted.queued == 0
    more = again.apply(buy(5, 101), sell(5, 101))
    await restarted.drain()

    assert restarted.last_sequence() == more[-1].sequence
    assert [t.quantity for t in await restarted.trades()] == [5, 10]


async def test_restart_replays_the_journal_after_the_last_stored_sequence(
    tmp_path: Path, engine: AsyncEngine
):
    journal = Journal(tmp_path / "journal")
    journal.open()
    clearing = Clearing(SqlClearingStore(engine))
    await clearing.open()
    venue = Venue(MatchingEngine(), journal, FakeClock())
    venue.add_listener(clearing.accept)
    sequencer = asyncio.create_task(venue.run())
    try:
        await venue.submit_many(market_setup())
        await venue.submit(buy())
        await clearing.drain()  # stored up to here; what follows is lost with the process
        await venue.submit(sell())
    finally:
        venue.stop()
        sequencer.cancel()
    journal.close()

    restarted = Clearing(SqlClearingStore(engine))
    stored = await restarted.open()
    assert stored < journal.last_sequence
    reopened = Journal(tmp_path / "journal")
    reopened.open()
    replay(MatchingEngine(), reopened.read(), listeners=[restarted.accept])
    await restarted.drain()
    reopened.close()

    assert restarted.last_sequence() == journal.last_sequence
    assert [(t.buyer, t.seller, t.quantity) for t in await restarted.trades()] == [("alice", "bob", 10)]
    assert len(await restarted.fills("alice")) == 1


async def test_catch_up_stores_the_journal_after_the_last_stored_sequence_in_one_pass(
    tmp_path: Path, engine: AsyncEngine
):
    journal = Journal(tmp_path / "journal")
    journal.open()
    venue = Venue(MatchingEngine(), journal, FakeClock())  # no clearing attached: it fell behind
    sequencer = asyncio.create_task(venue.run())
    try:
        await venue.submit_many([*market_setup(), buy(), sell(4), sell(6)])
    finally:
        venue.stop()
        sequencer.cancel()
    journal.close()
    reopened = Journal(tmp_path / "journal")
    reopened.open()
    clearing = Clearing(SqlClearingStore(engine), batch_max=2)
    await clearing.open()

    recovered = MatchingEngine()
    stored = await clearing.catch_up(recovered, reopened.read())
    more = await clearing.catch_up(recovered, reopened.read())
    reopened.close()

    assert stored == reopened.last_sequence
    assert more == 0
    assert recovered.last_sequence == clearing.last_sequence() == reopened.last_sequence
    assert [t.quantity for t in await clearing.trades()] == [6, 4]
    assert await clearing.positions("alice") == [Holding("alice", "ACME", 10, 0, 1000, 0)]
    venue_again = Sequencer(clearing.accept)
    venue_again.engine = recovered  # live commands carry on where the replay stopped
    venue_again.apply(buy(1, 101), sell(1, 101))
    await clearing.drain()
    assert clearing.last_sequence() == recovered.last_sequence


async def test_a_full_queue_stops_capture_without_leaving_a_hole(engine: AsyncEngine):
    clearing = Clearing(SqlClearingStore(engine), queue_max=3)
    await clearing.open()
    venue = Sequencer(clearing.accept)

    venue.apply(*market_setup())  # six commands into a queue of three

    with pytest.raises(ClearingStalledError, match="capture stopped at sequence 4 \\(queue full"):
        clearing.check()
    await clearing.drain()
    assert clearing.last_sequence() == 3
    venue.apply(buy(), sell())
    assert clearing.queued == 0  # nothing after the gap is taken, so a replay from 3 fills it


async def test_a_skipped_sequence_stops_capture(clearing: Clearing):
    venue = Sequencer()
    applied = venue.apply(*market_setup())

    clearing.accept(applied[0])
    clearing.accept(applied[2])  # the replay skipped sequence 2: its records would be lost
    clearing.accept(applied[3])
    await clearing.drain()

    assert clearing.last_sequence() == 1
    with pytest.raises(ClearingStalledError, match="capture stopped at sequence 2"):
        clearing.check()


class FailingStore(SqlClearingStore):
    async def store(
        self, last_sequence: int, trade_records: Sequence, execution_records: Sequence, holdings
    ) -> None:
        raise OSError("disk on fire")


async def test_a_failed_write_is_reported_and_capture_stops(engine: AsyncEngine):
    clearing = Clearing(FailingStore(engine))
    await clearing.open()
    venue = Sequencer(clearing.accept)
    venue.apply(*market_setup())

    with pytest.raises(OSError, match="disk on fire"):
        await clearing.drain()

    with pytest.raises(ClearingStalledError, match="write failed"):
        clearing.check()
    with pytest.raises(ClearingStalledError):
        await asyncio.wait_for(clearing.wait_stored(99), TIMEOUT_SECONDS)
    venue.apply(buy())
    assert clearing.queued == 0
