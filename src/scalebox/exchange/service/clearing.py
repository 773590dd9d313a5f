"""Clearing: a venue listener that captures every trade and execution off the hot path (a bounded
queue, drained in batches into a store), and answers positions, fills and end-of-day netting.

The listener only reads the events and queues plain records; the store is written by `run()`,
one transaction per batch, together with the last sequence stored. After a restart the app feeds
the journal's replay from `last_sequence()` + 1; `accept` ignores what is already stored. If the
queue fills (the store cannot keep up), or a sequence is skipped (the replay started too late),
capture stops there rather than leave a hole, and `check()` reports it until a restart replays
the rest.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import structlog

from scalebox.exchange.domain import ExecType
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import ClearingStalledError
from scalebox.exchange.posttrade import (
    ExecutionRecord,
    Holding,
    Obligation,
    TradeRecord,
    capture,
    daily_positions,
    net_obligations,
)
from scalebox.exchange.service.venue import Applied, RecordLike, replay

log = structlog.get_logger("scalebox.exchange.clearing")

QUEUE_MAX = 100_000  # captured commands waiting for the store
LINGER_SECONDS = 0.05  # post-trade is off the hot path: batching beats freshness here
BATCH_MAX = 2_000  # commands per store transaction
READ_LIMIT_MAX = 1_000


class ClearingStore(Protocol):
    """Where captured records live. Implementation: SqlClearingStore (SQLite, PostgreSQL)."""

    async def last_sequence(self) -> int: ...

    async def store(
        self,
        last_sequence: int,
        trade_records: Sequence[TradeRecord],
        execution_records: Sequence[ExecutionRecord],
        holdings: Mapping[tuple[date, str, str], Holding],
    ) -> None: ...

    async def holdings(self, participant: str | None = None) -> list[Holding]: ...

    async def day_holdings(self, trade_date: date) -> list[Holding]: ...

    async def trade_dates(self, limit: int) -> list[date]: ...

    async def trades(
        self, participant: str | None, limit: int, symbol: str | None = None
    ) -> list[TradeRecord]: ...

    async def executions(
        self, participant: str, limit: int, exec_type: ExecType | None = None
    ) -> list[ExecutionRecord]: ...


@dataclass(frozen=True, slots=True)
class Capture:
    """One sequenced command's trades and executions, as plain records."""

    sequence: int
    trades: list[TradeRecord]
    executions: list[ExecutionRecord]


class Clearing:
    """Post-trade capture and queries. `await open()` once, add `accept` as a venue listener,
    run `run()` as a background task."""

    def __init__(
        self,
        store: ClearingStore,
        *,
        queue_max: int = QUEUE_MAX,
        batch_max: int = BATCH_MAX,
        holidays: frozenset[date] = frozenset(),
        linger_seconds: float = LINGER_SECONDS,
    ) -> None:
        assert queue_max > 0, queue_max
        assert batch_max > 0, batch_max
        self.store = store
        self.batch_max = batch_max
        self.linger_seconds = linger_seconds
        self.holidays = holidays
        self._queue: asyncio.Queue[Capture] = asyncio.Queue(maxsize=queue_max)
        self._stored = 0
        self._accepted = 0
        self._stalled_at: int | None = None
        self._failed = False
        self._progress = asyncio.Condition()
        self._arrived = asyncio.Event()  # set when a capture is queued; `run` waits on it
        # One store at a time, taking captures in order: `run` and `drain` never interleave.
        self._writing = asyncio.Lock()
        self.trades_total = 0
        self.executions_total = 0

    async def open(self) -> int:
        """Read the replay point from the store; returns it."""
        self._stored = self._accepted = await self.store.last_sequence()
        return self._stored

    def last_sequence(self) -> int:
        """The last sequence whose records are stored: replay the journal after it."""
        return self._stored

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def stalled_at(self) -> int | None:
        return self._stalled_at

    def accept(self, applied: Applied) -> None:
        """The venue listener: queue this command's records; never blocks, never raises."""
        if applied.sequence <= self._accepted or self._stalled_at is not None or self._failed:
            return
        if applied.sequence != self._accepted + 1:
            # The journal must be fed from right after the last stored sequence, or records are missed.
            self._stalled_at = self._accepted + 1
            log.error(
                "clearing missed sequences: capture stopped",
                expected=self._accepted + 1,
                got=applied.sequence,
            )
            return
        trades, executions = capture(applied.sequence, applied.timestamp_ns, applied.events)
        try:
            self._queue.put_nowait(Capture(applied.sequence, trades, executions))
            self._arrived.set()
        except asyncio.QueueFull:
            # Dropping this one but storing later ones would leave a hole no replay fills.
            self._stalled_at = applied.sequence
            log.error("clearing queue full: capture stopped", sequence=applied.sequence, stored=self._stored)
            return
        self._accepted = applied.sequence

    async def catch_up(self, engine: MatchingEngine, records: Iterable[RecordLike]) -> int:
        """At start-up, before the venue runs and before `run()`: apply journal records to `engine`
        (as `venue.replay` does) and store the trades and executions of those after
        `last_sequence()`, batch by batch, straight into the store. `engine` must not be past
        `last_sequence()` (a snapshot's engine may be, and then a fresh engine replays from the
        start). Returns how many commands were stored."""
        assert engine.last_sequence <= self._stored, (engine.last_sequence, self._stored)
        batch: list[Capture] = []
        stored = 0

        def collect(applied: Applied) -> None:
            if applied.sequence > self._stored:
                batch.append(
                    Capture(
                        applied.sequence, *capture(applied.sequence, applied.timestamp_ns, applied.events)
                    )
                )

        pending = iter(records)
        while chunk := list(itertools.islice(pending, self.batch_max)):
            replay(engine, chunk, [collect])
            await self._store(batch)
            stored += len(batch)
            batch.clear()
        self._accepted = max(self._accepted, self._stored)
        return stored

    async def run(self) -> None:
        """Drain the queue into the store until cancelled. Captures stay queued until the moment
        they are stored, so cancelling this (after `drain`) loses nothing."""
        while True:
            if self._queue.empty():
                await self._arrived.wait()
            self._arrived.clear()
            if self.linger_seconds and self._queue.qsize() < self.batch_max:
                # One SQL transaction costs a millisecond or more of CPU through SQLAlchemy:
                # let a trickle of commands gather into one batch instead of paying it per command.
                await asyncio.sleep(self.linger_seconds)
            async with self._writing:
                await self._store(self._take(self.batch_max))

    async def drain(self) -> int:
        """Store everything queued now, after any store `run` has in flight; returns how many
        commands it stored. The way to stop: drain, then cancel `run`."""
        count = 0
        async with self._writing:
            while batch := self._take(self.batch_max):
                await self._store(batch)
                count += len(batch)
        return count

    async def wait_stored(self, sequence: int) -> None:
        """Until the records of `sequence` are stored (callers bound it with a timeout)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._stored >= sequence or self._failed)
        self.check()

    def check(self) -> None:
        """Raise ClearingStalledError when capture has stopped (the health check)."""
        if self._failed:
            raise ClearingStalledError(f"a store write failed after sequence {self._stored}")
        if self._stalled_at is not None:
            raise ClearingStalledError(
                f"capture stopped at sequence {self._stalled_at} (queue full, or the journal was not "
                "replayed from there); restart to replay it"
            )

    def _take(self, count: int) -> list[Capture]:
        batch: list[Capture] = []
        while len(batch) < count and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _store(self, batch: list[Capture]) -> None:
        batch = [item for item in batch if item.sequence > self._stored]
        if not batch:
            return
        trades = [trade for item in batch for trade in item.trades]
        executions = [execution for item in batch for execution in item.executions]
        outcome = "failed"
        try:
            await self.store.store(batch[-1].sequence, trades, executions, daily_positions(trades))
            outcome = "stored"
        except asyncio.CancelledError:
            outcome = "cancelled"  # shutting down: the next start replays this batch from the journal
            raise
        finally:
            if outcome == "stored":
                self._stored = batch[-1].sequence
                self.trades_total += len(trades)
                self.executions_total += len(executions)
            elif outcome == "failed":
                self._failed = True
                log.error("clearing store write failed", after_sequence=self._stored)
            async with self._progress:
                self._progress.notify_all()

    # -- queries ---------------------------------------------------------------------------------

    async def netting(self, trade_date: date) -> list[Obligation]:
        """End-of-day netting of `trade_date`: one obligation per participant and instrument, T+1."""
        return net_obligations(await self.store.day_holdings(trade_date), trade_date, self.holidays)

    async def positions(self, participant: str | None = None) -> list[Holding]:
        """Positions and cash over every stored trade, by participant and instrument."""
        return await self.store.holdings(participant)

    async def trade_dates(self, limit: int = 30) -> list[date]:
        return await self.store.trade_dates(min(limit, READ_LIMIT_MAX))

    async def trades(
        self, participant: str | None = None, limit: int = 100, symbol: str | None = None
    ) -> list[TradeRecord]:
        """The newest trades (a participant's, or one instrument's, when given), newest first."""
        return await self.store.trades(participant, min(limit, READ_LIMIT_MAX), symbol)

    async def fills(self, participant: str, limit: int = 100) -> list[ExecutionRecord]:
        """A participant's fills (trade executions), newest first."""
        return await self.store.executions(participant, min(limit, READ_LIMIT_MAX), ExecType.TRADE)
