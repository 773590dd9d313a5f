"""The one place the exchange's parts are chosen and wired: journal, snapshots, engine recovery,
sequencer, FIX gateway, market data (WebSocket and UDP with TCP replay), clearing, the web app,
and the standby that follows the journal and takes over when the primary dies."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvloop

from scalebox.core.clock import Clock, SystemClock
from scalebox.exchange.errors import NotPrimaryError
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.recovery import (
    PrimaryLock,
    follower_after_snapshot,
    recover_engine,
    reference_data_commands,
    write_standby_status,
)
from scalebox.exchange.service.venue import Venue, replay
from scalebox.exchange.settings import ExchangeSettings
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
    ports: dict[str, int] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)


def primary_lock(settings: ExchangeSettings) -> PrimaryLock:
    return PrimaryLock(settings.system_dir / "primary.lock")


@contextlib.asynccontextmanager
async def open_exchange(
    settings: ExchangeSettings,
    clock: Clock | None = None,
    *,
    lock: PrimaryLock | None = None,
    open_market: bool = True,
) -> AsyncIterator[Exchange]:
    """Take the primary lock (or use one already held, after a standby's takeover), recover the
    engine from the latest snapshot and the journal, start the sequencer and bring the engine's
    reference data up to date with the directory."""
    clock = clock or SystemClock()
    lock = lock or primary_lock(settings)
    if not lock.held and not lock.acquire(wait=False):
        raise NotPrimaryError(f"another primary holds {lock.path} (pid {lock.holder_pid()})")
    journal = Journal(settings.journal_dir, settings.journal_segment_bytes)
    snapshots = SnapshotStore(settings.snapshot_dir)
    try:
        await asyncio.to_thread(journal.open)
        recovered = await asyncio.to_thread(recover_engine, journal, snapshots)
        log.info(
            "engine recovered",
            snapshot=recovered.snapshot_sequence,
            replayed=recovered.replayed,
            sequence=recovered.engine.last_sequence,
        )
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
        sequencer = asyncio.get_running_loop().create_task(venue.run(), name="exchange-sequencer")
        try:
            await venue.submit_many(reference_data_commands(venue.engine, directory, open_market=open_market))
            yield Exchange(settings, clock, directory, journal, snapshots, venue, lock)
        finally:
            venue.stop()
            sequencer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sequencer
    finally:
        journal.close()
        lock.release()


async def follow_as_standby(
    settings: ExchangeSettings, clock: Clock, stop: asyncio.Event
) -> PrimaryLock | None:
    """Follow the primary's journal, applying every record to a shadow engine, until the primary's
    lock frees (it died or stopped): then return the lock, held. None if `stop` is set first."""
    lock = primary_lock(settings)
    snapshots = SnapshotStore(settings.snapshot_dir)
    engine, follower = follower_after_snapshot(settings.journal_dir, snapshots)
    status_path = settings.system_dir / "standby.json"
    acquired = _wait_for_lock(lock)
    log.info("standby following the journal", directory=str(settings.journal_dir))
    while not acquired.is_set():
        applied = replay(engine, await asyncio.to_thread(follower.poll))
        if applied:
            await asyncio.to_thread(write_standby_status, status_path, engine.last_sequence, clock.now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(stop.wait()), settings.standby_poll_seconds)
        if stop.is_set():
            acquired.abandon()
            return None
    log.warning("primary lock acquired: taking over", sequence=engine.last_sequence)
    status_path.unlink(missing_ok=True)
    return lock


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
    stop = stop or _signal_event()
    clock = SystemClock()
    lock = None
    if standby:
        lock = await follow_as_standby(settings, clock, stop)
        if lock is None:
            return
    async with open_exchange(settings, clock, lock=lock) as exchange:
        await start_parts(exchange)
        log.info("exchange ready", **exchange.ports)
        try:
            await stop.wait()
        finally:
            await stop_parts(exchange)


async def start_parts(exchange: Exchange) -> None:
    """Bind the FIX gateway, the market data feeds and the web app (port 0 picks a free port)."""


async def stop_parts(exchange: Exchange) -> None:
    for name, part in reversed(list(exchange.parts.items())):
        closer = getattr(part, "close", None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        log.info("stopped", part=name)


def _signal_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def run(settings: ExchangeSettings, *, standby: bool = False) -> None:
    uvloop.run(serve_exchange(settings, standby=standby))
