"""Start-up, restart and takeover in process: state = latest snapshot + journal replay, bit for
bit; one primary at a time; a standby that follows the journal and takes over with nothing lost."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from scalebox.core.auth.passwords import TEST_PARAMS
from scalebox.core.clock import SystemClock
from scalebox.exchange.app import follow_as_standby, open_exchange
from scalebox.exchange.domain import CancelOrder, Order, OrderType, Side, TimeInForce
from scalebox.exchange.errors import NotPrimaryError
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.recovery import recover_engine
from scalebox.exchange.settings import ExchangeSettings
from scalebox.exchange.snapshot import state_hash
from scalebox.exchange.storage.journal import Journal
from scalebox.exchange.storage.snapshots import SnapshotStore

MEMBERS = ("alice", "bob", "carol")


def make_settings(tmp_path: Path, **overrides: object) -> ExchangeSettings:
    directory = Directory.load(tmp_path / "exchange" / "directory.json", params=TEST_PARAMS)
    for member in MEMBERS:
        directory.set_member(member, "password123")
    directory.save()
    return ExchangeSettings(data_dir=tmp_path, **overrides)  # type: ignore[arg-type]


def random_orders(count: int, seed: int) -> list[Order | CancelOrder]:
    rng = random.Random(seed)
    commands: list[Order | CancelOrder] = []
    for index in range(count):
        member = rng.choice(MEMBERS)
        if index > 10 and rng.random() < 0.2:
            commands.append(CancelOrder(member, "ACME", f"x{index}", f"c{rng.randrange(index)}"))
            continue
        side = rng.choice((Side.BUY, Side.SELL))
        price = 10_000 + rng.randint(-20, 20)
        commands.append(
            Order(
                member,
                "ACME",
                f"c{index}",
                side,
                OrderType.LIMIT,
                TimeInForce.GTC,
                rng.randint(1, 9) * 10,
                price,
            )
        )
    return commands


async def test_restart_rebuilds_the_same_state(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_exchange(settings) as exchange:
        await exchange.venue.submit_many(random_orders(500, seed=1))
        before, sequence = state_hash(exchange.venue.engine), exchange.venue.last_sequence
    async with open_exchange(settings) as exchange:
        assert exchange.venue.last_sequence == sequence  # nothing new: the market was already open
        assert state_hash(exchange.venue.engine) == before


async def test_restart_from_a_snapshot_and_the_journal_after_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, snapshot_every=200)
    async with open_exchange(settings) as exchange:
        for chunk in range(4):
            await exchange.venue.submit_many(random_orders(150, seed=chunk))
        assert exchange.snapshots.paths(), "a snapshot was written along the way"
        before = state_hash(exchange.venue.engine)
    async with open_exchange(settings) as exchange:
        assert state_hash(exchange.venue.engine) == before
    journal = Journal(settings.journal_dir)
    journal.open()
    recovered = recover_engine(journal, SnapshotStore(settings.snapshot_dir))
    journal.close()
    assert recovered.snapshot_sequence > 0  # the restart started from the snapshot, not from scratch
    assert state_hash(recovered.engine) == before


async def test_a_torn_journal_tail_is_cut_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_exchange(settings) as exchange:
        await exchange.venue.submit_many(random_orders(50, seed=2))
        before, sequence = state_hash(exchange.venue.engine), exchange.venue.last_sequence
    segment = sorted(settings.journal_dir.glob("*.journal"))[-1]
    intact_bytes = segment.stat().st_size
    with segment.open("ab") as stream:
        stream.write(b"\x40\x00\x00\x00half a record")  # a crash in the middle of a write
    async with open_exchange(settings) as exchange:
        assert exchange.venue.last_sequence == sequence
        assert state_hash(exchange.venue.engine) == before
        assert segment.stat().st_size == intact_bytes  # cut, so what is appended next stays readable
        await exchange.venue.submit_many(random_orders(5, seed=6))
        after = state_hash(exchange.venue.engine)
    async with open_exchange(settings) as exchange:
        assert state_hash(exchange.venue.engine) == after


async def test_a_second_primary_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_exchange(settings):
        with pytest.raises(NotPrimaryError):
            async with open_exchange(settings):
                pass


async def test_standby_takes_over_with_every_acknowledged_command(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, standby_poll_seconds=0.005)
    stop = asyncio.Event()
    primary_cm = open_exchange(settings)
    primary = await primary_cm.__aenter__()
    standby = asyncio.create_task(follow_as_standby(settings, SystemClock(), stop))
    acknowledged = await primary.venue.submit_many(random_orders(300, seed=3))
    last_acknowledged = acknowledged[-1].sequence
    before = state_hash(primary.venue.engine)
    await primary_cm.__aexit__(None, None, None)  # the primary goes away; its lock frees
    takeover = await asyncio.wait_for(standby, timeout=30)
    assert takeover is not None
    assert takeover.lock.held
    # The standby hands over the engine it kept in step, already at the journal's end.
    assert takeover.engine.last_sequence >= last_acknowledged
    assert state_hash(takeover.engine) == before
    async with open_exchange(settings, takeover=takeover) as promoted:
        assert promoted.venue.engine is takeover.engine
        assert promoted.venue.last_sequence >= last_acknowledged
        assert state_hash(promoted.venue.engine) == before


async def test_standby_stops_when_asked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, standby_poll_seconds=0.005)
    stop = asyncio.Event()
    async with open_exchange(settings):
        standby = asyncio.create_task(follow_as_standby(settings, SystemClock(), stop))
        stop.set()
        assert await asyncio.wait_for(standby, timeout=10) is None
