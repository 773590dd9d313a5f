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
from scalebox.exchange.settings import ExchangeSettings
from scalebox.exchange.snapshot import state_hash

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


async def test_a_torn_journal_tail_is_cut_at_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_exchange(settings) as exchange:
        await exchange.venue.submit_many(random_orders(50, seed=2))
        before, sequence = state_hash(exchange.venue.engine), exchange.venue.last_sequence
    segment = sorted(settings.journal_dir.glob("*.journal"))[-1]
    with segment.open("ab") as stream:
        stream.write(b"\x40\x00\x00\x00half a record")  # a crash in the middle of a write
    async with open_exchange(settings) as exchange:
        assert exchange.venue.last_sequence == sequence
        assert state_hash(exchange.venue.engine) == before


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
    lock = await asyncio.wait_for(standby, timeout=30)
    assert lock is not None
    assert lock.held
    async with open_exchange(settings, lock=lock) as promoted:
        assert promoted.venue.last_sequence >= last_acknowledged
        assert state_hash(promoted.venue.engine) == before


async def test_standby_stops_when_asked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, standby_poll_seconds=0.005)
    stop = asyncio.Event()
    async with open_exchange(settings):
        standby = asyncio.create_task(follow_as_standby(settings, SystemClock(), stop))
        stop.set()
        assert await asyncio.wait_for(standby, timeout=10) is None
