"""The one place the exchange's parts are chosen and wired: journal, snapshots, engine recovery,
sequencer, FIX gateway, market data (WebSocket and UDP with TCP replay), clearing, the web app,
and the standby that follows the journal and takes over when the primary dies."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core import db
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.files import write_atomically
from scalebox.core.supervisor import stop_on_signals
from scalebox.exchange.domain import Phase, SetPhase
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import InvalidConfigError, NotPrimaryError
from scalebox.exchange.feed import start_feed
from scalebox.exchange.fix.gateway import start_fix_gateway
from scalebox.exchange.http.app import create_web_app
from scalebox.exchange.http.context import WebContext
from scalebox.exchange.http.server import start_web_server
from scalebox.exchange.service.clearing import Clearing
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.marketdata import MarketData
from scalebox.exchange.service.recovery import (
    PrimaryLock,
    Recovered,
    follower_after_snapshot,
    read_standby_status,
    recover_engine,
    reference_data_commands,
    write_standby_status,
)
from scalebox.exchange.service.venue import Venue, replay
from scalebox.exchange.settings import ExchangeSettings
from scalebox.exchange.snapshot import import_state
from scalebox.exchange.storage.clearing_sql import MIGRATIONS, VERSION_TABLE, SqlClearingStore
from scalebox.exchange.storage.journal import Journal
from scalebox.exchange.storage.snapshots import SnapshotStore

log = structlog.get_logger("scalebox.exchange")


@dataclass
class Exchange:
    """A running primary: the sequencer and everything attached to it."""

    settings: ExchangeSettings
    clock: Clock
    directory: Directory
    journal: Journal
    snapshots: SnapshotStore
    venue: Venue
    lock: PrimaryLock
    clearing: Clearing
    ports: dict[str, int] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)


def primary_lock(settings: ExchangeSettings) -> PrimaryLock:
    return PrimaryLock(settings.system_dir / "primary.lock")


@contextlib.asynccontextmanager
async def open_exchange(
    settings: ExchangeSettings,
    clock: Clock | None = None,
    *,
    takeover: Takeover | None = None,
    open_market: bool = True,
) -> AsyncIterator[Exchange]:
    """Take the primary lock (or, after a standby's takeover, use its lock and its engine), recover
    the engine from the latest snapshot and the journal, bring post-trade capture up to the
    journal's end, start the sequencer and bring the reference data up to date with the directory."""
    clock = clock or SystemClock()
    lock = takeover.lock if takeover is not None else primary_lock(settings)
    if not lock.held and not lock.acquire(wait=False):
        raise NotPrimaryError(f"another primary holds {lock.path} (pid {lock.holder_pid()})")
    journal = Journal(settings.journal_dir, settings.journal_segment_bytes)
    snapshots = SnapshotStore(settings.snapshot_dir)
    database = db.open_engine(settings.resolved_database_url)
    try:
        await asyncio.to_thread(journal.open)
        if takeover is None:
            recovered = await asyncio.to_thread(recover_engine, journal, snapshots)
        else:  # the standby's engine is already at the journal's end: only a tail it missed, if any
            replayed = replay(takeover.engine, journal.read(after_sequence=takeover.engine.last_sequence))
            recovered = Recovered(takeover.engine, -1, replayed)
        assert recovered.engine.last_sequence == journal.last_sequence
        log.info(
            "engine recovered",
            snapshot=recovered.snapshot_sequence,
            replayed=recovered.replayed,
            sequence=recovered.engine.last_sequence,
        )
        clearing = await _open_clearing(settings, database, journal, snapshots)
        directory = Directory.load(settings.directory_path)
        venue = Venue(
            recovered.engine,
            journal,
            clock,
            snapshots=snapshots,
            snapshot_every=settings.snapshot_every,
            batch_max=settings.batch_max,
            inbox_max=settings.inbox_max,
        )
        venue.add_listener(clearing.accept)
        sequencer = asyncio.get_running_loop().create_task(venue.run(), name="exchange-sequencer")
        capture = asyncio.get_running_loop().create_task(clearing.run(), name="exchange-clearing")
        try:
            await venue.submit_many(reference_data_commands(venue.engine, directory, open_market=open_market))
            yield Exchange(settings, clock, directory, journal, snapshots, venue, lock, clearing)
        finally:
            venue.stop()
            sequencer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sequencer
            await clearing.drain()
            capture.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await capture
    finally:
        journal.close()
        await database.dispose()
        lock.release()


async def _open_clearing(
    settings: ExchangeSettings, database: AsyncEngine, journal: Journal, snapshots: SnapshotStore
) -> Clearing:
    """Post-trade capture, caught up with the journal: after a crash it may be behind by the
    commands it had queued; they are replayed (from a snapshot not past its position) and stored."""
    await db.upgrade(database, MIGRATIONS, version_table=VERSION_TABLE)
    clearing = Clearing(
        SqlClearingStore(database),
        queue_max=settings.clearing_queue_max,
        batch_max=settings.clearing_batch_max,
    )
    stored = await clearing.open()
    if stored < journal.last_sequence:
        snapshot = snapshots.latest_at_or_before(stored)
        engine = MatchingEngine() if snapshot is None else import_state(snapshot.state)
        count = await clearing.catch_up(engine, journal.read(after_sequence=engine.last_sequence))
        log.info("clearing caught up with the journal", stored_from=stored + 1, commands=count)
    return clearing


@dataclass
class Takeover:
    """What a standby hands over when the primary's lock frees: the lock, held, and its engine,
    in step with the journal."""

    lock: PrimaryLock
    engine: MatchingEngine


STANDBY_STATUS_SECONDS = 1.0  # how often the standby tells the primary's operations view its position


async def follow_as_standby(settings: ExchangeSettings, clock: Clock, stop: asyncio.Event) -> Takeover | None:
    """Follow the primary's journal, applying every record to a shadow engine, until the primary's
    lock frees (it died or stopped): then hand over the lock and the engine. None if `stop` is
    set first."""
    lock = primary_lock(settings)
    snapshots = SnapshotStore(settings.snapshot_dir)
    engine, follower = follower_after_snapshot(settings.journal_dir, snapshots)
    status_path = settings.system_dir / "standby.json"
    acquired = _wait_for_lock(lock)
    log.info("standby following the journal", directory=str(settings.journal_dir))
    reported_at = -STANDBY_STATUS_SECONDS
    while not acquired.is_set():
        replay(engine, await asyncio.to_thread(follower.poll))
        if clock.monotonic() - reported_at >= STANDBY_STATUS_SECONDS:
            reported_at = clock.monotonic()
            await asyncio.to_thread(write_standby_status, status_path, engine.last_sequence, clock.now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.standby_poll_seconds)
        if stop.is_set():
            acquired.abandon()
            return None
    # The primary is gone: what it appended after the last poll (complete records) is read now.
    replay(engine, await asyncio.to_thread(follower.poll))
    log.warning("primary lock acquired: taking over", sequence=engine.last_sequence)
    status_path.unlink(missing_ok=True)
    return Takeover(lock, engine)


class _LockWaiter(threading.Thread):
    """Blocks in flock on a daemon thread (an executor would keep a worker for as long as the
    primary lives). A waiter abandoned before it gets the lock gives the lock straight back."""

    def __init__(self, lock: PrimaryLock) -> None:
        super().__init__(name="exchange-standby-lock", daemon=True)
        self.lock = lock
        self._got = threading.Event()
        self._abandoned = False
        self._decision = threading.Lock()  # got-versus-abandoned is decided once, under this

    def run(self) -> None:
        self.lock.acquire(wait=True)
        with self._decision:
            if self._abandoned:
                self.lock.release()
            else:
                self._got.set()

    def is_set(self) -> bool:
        return self._got.is_set()

    def abandon(self) -> None:
        with self._decision:
            self._abandoned = True
            if self._got.is_set():
                self.lock.release()


def _wait_for_lock(lock: PrimaryLock) -> _LockWaiter:
    waiter = _LockWaiter(lock)
    waiter.start()
    return waiter


async def serve_exchange(
    settings: ExchangeSettings, *, stop: asyncio.Event | None = None, standby: bool = False
) -> None:
    """Serve as primary (or first follow as standby, then serve) until SIGINT/SIGTERM or `stop`."""
    stop = stop or stop_on_signals()
    clock = SystemClock()
    takeover = None
    if standby:
        takeover = await follow_as_standby(settings, clock, stop)
        if takeover is None:
            return
    async with open_exchange(settings, clock, takeover=takeover) as exchange:
        await start_parts(exchange)
        log.info("exchange ready", **exchange.ports)
        try:
            await stop.wait()
        finally:
            await stop_parts(exchange)


async def start_parts(exchange: Exchange) -> None:
    """Attach market data, then bind the FIX gateway, the UDP feed with its TCP replay, and the web
    app (port 0 picks a free port); the bound ports are written to ports.json."""
    settings, venue, clock = exchange.settings, exchange.venue, exchange.clock
    market_data = MarketData(
        subscribers_max=settings.subscribers_max, subscriber_queue_max=settings.subscriber_queue_max
    )
    # No await between the rebuild and the listener: no command can slip in between.
    market_data.rebuild(venue.engine)
    venue.add_listener(market_data.on_applied)
    exchange.parts["market_data"] = market_data
    exchange.parts["directory_watch"] = _Task(asyncio.create_task(watch_directory(exchange)))
    gateway = await start_fix_gateway(venue, exchange.directory, settings, clock=clock)
    exchange.parts["fix"] = gateway
    exchange.ports["fix_port"] = gateway.port
    feed = await start_feed(
        market_data,
        clock=clock,
        group=settings.feed_group,
        port=settings.feed_port,
        replay_port=settings.replay_port,
        replay_messages_max=settings.feed_replay_messages_max,
        host=settings.host,
    )
    exchange.parts["feed"] = feed
    exchange.ports["feed_port"] = settings.feed_port
    exchange.ports["replay_port"] = feed.replay_port
    gateway_stats = gateway.sessions
    web = create_web_app(
        WebContext(
            settings,
            venue,
            exchange.directory,
            exchange.clearing,
            market_data=market_data,
            fix_sessions=lambda: [_readable(asdict(stats)) for stats in gateway_stats()],
            standby_status=lambda: read_standby_status(
                settings.system_dir / "standby.json", venue.last_sequence
            ),
            journal_status=lambda: journal_status(exchange),
            clock=clock,
        )
    )
    server = await start_web_server(web, settings.host, settings.port)
    exchange.parts["web"] = server
    exchange.ports["port"] = server.port
    await _write_ports(exchange)


def _readable(stats: dict[str, Any]) -> dict[str, Any]:
    """Session figures as the operations view shows them: yes/no rather than True/False."""
    return {
        key: ("yes" if value else "no") if isinstance(value, bool) else value for key, value in stats.items()
    }


def journal_status(exchange: Exchange) -> dict[str, Any]:
    snapshots = exchange.snapshots.paths()
    return {
        "last_sequence": exchange.venue.last_sequence,
        "chain": exchange.journal.last_chain.hex(),
        "segments": len(exchange.journal.segments()),
        "last_snapshot": int(snapshots[-1].stem) if snapshots else "none yet",
        "commands": exchange.venue.commands_total,
        "group_commits": exchange.venue.batches_total,
    }


async def _write_ports(exchange: Exchange) -> None:
    path = exchange.settings.system_dir / "ports.json"
    data = json.dumps({**exchange.ports, "pid": os.getpid()}).encode()
    await asyncio.to_thread(write_atomically, path, data)


@dataclass
class _Task:
    """A background task as a part: closing cancels it."""

    task: asyncio.Task[None]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def watch_directory(exchange: Exchange, interval_seconds: float = 1.0) -> None:
    """Pick up members and instruments changed on disk (by `scalebox exchange members add` ...):
    reload the file when it changes and sequence the Define* commands it implies. New
    instruments open with an opening call, like the ones there at start."""
    path = exchange.settings.directory_path
    seen = _mtime(path)
    while True:
        await asyncio.sleep(interval_seconds)
        current = _mtime(path)
        if current == seen:
            continue
        seen = current
        try:
            fresh = Directory.load(path)
        except InvalidConfigError as exc:
            log.warning("directory file not reloaded", error=str(exc))
            continue
        exchange.directory.instruments, exchange.directory.members = fresh.instruments, fresh.members
        known = set(exchange.venue.engine.instruments)
        commands = reference_data_commands(exchange.venue.engine, fresh, open_market=False)
        for symbol in fresh.instruments.keys() - known:
            commands += [SetPhase(symbol, Phase.AUCTION), SetPhase(symbol, Phase.CONTINUOUS)]
        await exchange.venue.submit_many(commands)
        log.info("directory reloaded", commands=len(commands))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


async def stop_parts(exchange: Exchange) -> None:
    for name, part in reversed(list(exchange.parts.items())):
        closer = getattr(part, "close", None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        log.info("stopped", part=name)


# The venue keeps a large, long-lived heap (books, sessions, market data) and allocates a few
# short-lived objects per event. CPython's default first GC threshold (700 allocations) makes it
# scan young objects thousands of times a second, and each scan promotes survivors towards full
# collections of the whole heap; with these thresholds the FIX gateway's throughput rose by half
# (bench/exchange, disabled GC as the upper bound). Cycles are still collected, just less often.
GC_THRESHOLDS = (50_000, 20, 20)


def run(settings: ExchangeSettings, *, standby: bool = False) -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    uvloop.run(serve_exchange(settings, standby=standby))
