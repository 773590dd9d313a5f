"""The sequencer: every command gets the next sequence number and a timestamp, is journaled and
fsynced in a group commit, and only then reaches the single-threaded engine. Listeners (FIX
sessions, market data, post-trade, drop copy) see each applied command with its events, in
sequence order; `submit` answers after that, so nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

import orjson
import structlog

from scalebox.core.clock import Clock, epoch_ns
from scalebox.core.errors import InvalidError, LimitExceededError
from scalebox.exchange.domain import Command, Event, Order
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import NotPrimaryError
from scalebox.exchange.protocol.commands import decode_command, encode_command
from scalebox.exchange.snapshot import export_state

log = structlog.get_logger("scalebox.exchange")


class Applied(NamedTuple):
    """One sequenced command and what the engine made of it."""

    sequence: int
    timestamp_ns: int
    command: Command
    events: list[Event]


Listener = Callable[[Applied], None]


class JournalPort(Protocol):
    last_sequence: int
    last_chain: bytes

    def append(self, records: list[tuple[int, int, bytes]]) -> list[bytes]: ...


class SnapshotPort(Protocol):
    def save(self, sequence: int, chain: bytes, state: dict[str, object]) -> None: ...


class Venue:
    """The primary's write path. `run()` is the sequencer loop; `submit` is how commands enter."""

    def __init__(
        self,
        engine: MatchingEngine,
        journal: JournalPort,
        clock: Clock,
        *,
        snapshots: SnapshotPort | None = None,
        snapshot_every: int = 100_000,
        batch_max: int = 2048,
        inbox_max: int = 100_000,
    ) -> None:
        assert engine.last_sequence == journal.last_sequence, (engine.last_sequence, journal.last_sequence)
        self.engine = engine
        self.journal = journal
        self.clock = clock
        self.snapshots = snapshots
        self.snapshot_every = snapshot_every
        self.batch_max = batch_max
        self.inbox_max = inbox_max
        self._inbox: asyncio.Queue[tuple[Command, asyncio.Future[Applied] | None]] = asyncio.Queue()
        self._listeners: list[Listener] = []
        self._queued_orders: set[int] = set()  # id() of Order objects waiting to be applied
        self._last_timestamp_ns = 0
        self._since_snapshot = 0
        self._failed: BaseException | None = None
        self._stopping = False
        self.commands_total = 0
        self.batches_total = 0
        self.listener_failures = 0

    @property
    def last_sequence(self) -> int:
        return self.engine.last_sequence

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every applied command, in order, on the event loop's thread. It
        must not block: hand work to a queue."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def submit_nowait(self, command: Command) -> asyncio.Future[Applied]:
        """Queue a command; the future resolves once it is journaled and applied."""
        if self._failed is not None or self._stopping:
            raise NotPrimaryError("the sequencer has stopped")
        if self._inbox.qsize() >= self.inbox_max:
            raise LimitExceededError("the sequencer's inbox is full", retry_after_seconds=0.1)
        if isinstance(command, Order):
            # The engine adopts order objects: the same one twice would be refused live but
            # accepted on replay (a fresh decoded object), and the two would disagree.
            if command.order_id or id(command) in self._queued_orders:
                raise InvalidError("this order object was already submitted; build a new one")
            self._queued_orders.add(id(command))
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait((command, future))
        return future

    async def submit(self, command: Command) -> Applied:
        return await self.submit_nowait(command)

    async def submit_many(self, commands: Iterable[Command]) -> list[Applied]:
        return list(await asyncio.gather(*(self.submit_nowait(c) for c in commands)))

    async def run(self) -> None:
        """The sequencer loop: take what is queued, journal it in one fsync, apply it in order."""
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < self.batch_max and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # any journal failure stops the venue (fail-stop), then re-raises
                self._fail(exc, batch)
                raise

    async def _commit(self, batch: list[tuple[Command, asyncio.Future[Applied] | None]]) -> None:
        sequence = self.journal.last_sequence
        records: list[tuple[int, int, bytes]] = []
        for command, _ in batch:
            sequence += 1
            records.append((sequence, self._timestamp_ns(), orjson.dumps(encode_command(command))))
        await asyncio.to_thread(self.journal.append, records)
        self.batches_total += 1
        for (command, future), (sequence, timestamp_ns, _) in zip(batch, records, strict=True):
            applied = self._apply(command, sequence, timestamp_ns)
            if future is not None and not future.done():
                future.set_result(applied)
        self._since_snapshot += len(batch)
        if self.snapshots is not None and self._since_snapshot >= self.snapshot_every:
            await self.snapshot()

    def _apply(self, command: Command, sequence: int, timestamp_ns: int) -> Applied:
        applied = Applied(sequence, timestamp_ns, command, self.engine.apply(command, sequence, timestamp_ns))
        self._queued_orders.discard(id(command))
        self.commands_total += 1
        for listener in self._listeners:
            # A broken reader must not stop the venue: the command is durable and applied.
            try:
                listener(applied)
            except Exception:
                self.listener_failures += 1
                log.exception(
                    "venue listener failed", listener=getattr(listener, "__qualname__", repr(listener))
                )
        return applied

    async def snapshot(self) -> int:
        """Write the engine's state as of now (between two commands); returns its sequence."""
        assert self.snapshots is not None
        state = export_state(self.engine)
        sequence, chain = self.engine.last_sequence, self.journal.last_chain
        self._since_snapshot = 0
        await asyncio.to_thread(self.snapshots.save, sequence, chain, state)
        log.info("snapshot written", sequence=sequence)
        return sequence

    def _timestamp_ns(self) -> int:
        ns = epoch_ns(self.clock.now())
        # Never backwards, even if the wall clock is: time priority and audit order agree.
        self._last_timestamp_ns = max(ns, self._last_timestamp_ns + 1)
        return self._last_timestamp_ns

    def _fail(self, exc: BaseException, batch: list[tuple[Command, asyncio.Future[Applied] | None]]) -> None:
        log.error("journal write failed; the venue stops taking orders", error=str(exc))
        self._failed = exc
        pending = [future for _, future in batch]
        while not self._inbox.empty():
            pending.append(self._inbox.get_nowait()[1])
        for future in pending:
            if future is not None and not future.done():
                future.set_exception(NotPrimaryError(f"journal write failed: {exc}"))

    def stop(self) -> None:
        self._stopping = True


class RecordLike(Protocol):
    @property
    def sequence(self) -> int: ...
    @property
    def timestamp_ns(self) -> int: ...
    @property
    def payload(self) -> bytes: ...


def replay(engine: MatchingEngine, records: Iterable[RecordLike], listeners: Iterable[Listener] = ()) -> int:
    """Apply journal records (sequence, timestamp, payload) after the engine's last sequence;
    returns how many were applied. Used at start-up and by the standby."""
    count = 0
    listeners = list(listeners)
    for record in records:
        sequence, timestamp_ns = record.sequence, record.timestamp_ns
        if sequence <= engine.last_sequence:
            continue
        command = decode_command(orjson.loads(record.payload))
        applied = Applied(sequence, timestamp_ns, command, engine.apply(command, sequence, timestamp_ns))
        for listener in listeners:
            listener(applied)
        count += 1
    return count
