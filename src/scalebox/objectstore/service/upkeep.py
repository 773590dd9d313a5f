"""Background care of the data: deleting unreachable shard sets, healing damaged ones, scrubbing.

- Garbage: shard sets a write or delete made unreachable are queued in the same transaction and
  deleted from the drives here (first when the loop starts), so a crash between the two only delays
  the deletion until the next start.
- Healing: reads and writes that met a missing or corrupt shard report it; the healer rebuilds
  those shard sets from the good shards. `heal_all` walks every shard set (after a drive was
  replaced by an empty one).
- Scrubbing: `scrub` verifies every block of every shard set against its checksum and heals what
  fails, so bitrot is found before a second fault makes it unrecoverable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from scalebox.core.errors import IntegrityError
from scalebox.objectstore.storage.erasure import ErasureSet, ShardSetReport
from scalebox.objectstore.storage.sql import SqlMetadataStore

log = structlog.get_logger("objectstore.upkeep")
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(slots=True)
class RepairTally:
    """What a heal or scrub pass did."""

    checked: int = 0
    damaged: int = 0
    healed: int = 0
    unrecoverable: list[str] = field(default_factory=list)
    shards_rebuilt: int = 0


class DamageReports:
    """Shard sets reads and writes found damaged, reported from any thread, for the healer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.pending: set[tuple[str, int]] = set()  # touched on the loop's thread only
        self.ready = asyncio.Event()

    def report(self, data_id: str, part: int, _shards: Sequence[int]) -> None:
        # Reads report from worker threads; adding there could race `take` (a lost report, or a set
        # that changes size while the healer sorts it), so the add is handed to the loop.
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
            self._loop.call_soon_threadsafe(self._add, (data_id, part))

    def _add(self, shard_set: tuple[str, int]) -> None:
        self.pending.add(shard_set)
        self.ready.set()

    def take(self) -> set[tuple[str, int]]:
        taken, self.pending = self.pending, set()
        return taken


class Upkeep:
    """Garbage collection, healing and scrubbing over one erasure set."""

    def __init__(self, store: SqlMetadataStore, erasure: ErasureSet, damage: DamageReports) -> None:
        self.store = store
        self.erasure = erasure
        self.damage = damage
        self.garbage_ready = asyncio.Event()
        self.last_scrub: RepairTally | None = None
        self.scrub_progress: tuple[int, int] | None = None

    def garbage_queued(self) -> None:
        self.garbage_ready.set()

    async def collect_garbage(self, batch: int = 500) -> int:
        """Delete queued shard sets from the drives; returns how many."""
        removed = 0
        while rows := await self.store.take_garbage(batch):
            for _id, data_id, number in rows:
                await asyncio.to_thread(self.erasure.delete, data_id, number)
            await self.store.drop_garbage([row[0] for row in rows])
            removed += len(rows)
        return removed

    async def heal_pending(self) -> RepairTally:
        """Heal the shard sets reads and writes reported damaged since the last call."""
        tally = RepairTally()
        for data_id, number in sorted(self.damage.take()):
            await self._heal_one(data_id, number, tally)
        return tally

    async def _heal_one(self, data_id: str, number: int, tally: RepairTally) -> ShardSetReport | None:
        tally.checked += 1
        try:
            report = await asyncio.to_thread(self.erasure.heal, data_id, number)
        except (IntegrityError, OSError) as exc:  # one unreadable set must not stop the pass; it is reported
            tally.damaged += 1
            tally.unrecoverable.append(f"{data_id}.{number}: {exc}")
            log.error("shard set cannot be healed", data_id=data_id, part=number, error=str(exc))
            return None
        if report.healed:
            tally.damaged += 1
            tally.healed += 1
            tally.shards_rebuilt += len(report.healed)
            log.info("healed shard set", data_id=data_id, part=number, shards=list(report.healed))
        return report

    async def _shard_sets(self) -> AsyncIterator[tuple[str, int]]:
        """Every shard set a version or an upload part refers to."""
        after = 0
        while versions := await self.store.versions_after(after, 500):
            for version in versions:
                for part in version.parts:
                    yield part.data_id, part.number
            after = versions[-1].sequence
        for data_id, number in await self.store.all_upload_parts():
            yield data_id, number

    async def heal_all(self, progress: Progress | None = None) -> RepairTally:
        """Heal every referenced shard set (a drive was lost or replaced by an empty directory)."""
        await asyncio.to_thread(self.erasure.format_drives)
        sets = [item async for item in self._shard_sets()]
        tally = RepairTally()
        for done, (data_id, number) in enumerate(sets, start=1):
            await self._heal_one(data_id, number, tally)
            if progress is not None:
                progress(done, len(sets))
        return tally

    async def scrub(self, progress: Progress | None = None) -> RepairTally:
        """Verify every block of every referenced shard set; heal what fails."""
        sets = [item async for item in self._shard_sets()]
        tally = RepairTally()
        for done, (data_id, number) in enumerate(sets, start=1):
            tally.checked += 1
            self.scrub_progress = (done, len(sets))
            report = await asyncio.to_thread(self.erasure.verify, data_id, number)
            if not report.ok:
                tally.damaged += 1
                log.warning("scrub found damage", data_id=data_id, part=number, shards=list(report.damaged))
                healed = RepairTally()
                await self._heal_one(data_id, number, healed)
                tally.healed += healed.healed
                tally.shards_rebuilt += healed.shards_rebuilt
                tally.unrecoverable += healed.unrecoverable
            if progress is not None:
                progress(done, len(sets))
        self.scrub_progress = None
        self.last_scrub = tally
        return tally

    async def run(self, *, gc_seconds: float, scrub_seconds: float) -> None:
        """The background loops, until cancelled."""
        await asyncio.gather(self._gc_loop(gc_seconds), self._heal_loop(), self._scrub_loop(scrub_seconds))

    async def _gc_loop(self, seconds: float) -> None:
        # Collect first: garbage queued before a crash or restart is not left for a whole interval.
        # Writes wake the loop whether or not they queued anything (most PUTs replace nothing); a
        # wake after which this process queued nothing new skips the read of the garbage table.
        # The timer always reads it, for what other processes queued.
        collected_after = -1
        while True:
            self.garbage_ready.clear()
            if self.store.garbage_queued != collected_after:
                collected_after = self.store.garbage_queued
                try:
                    await self.collect_garbage()
                except OSError as exc:
                    log.error("garbage collection failed", error=str(exc))
                    collected_after = -1  # try again at the next wake
            try:
                await asyncio.wait_for(self.garbage_ready.wait(), timeout=seconds)
            except TimeoutError:
                collected_after = -1

    async def _heal_loop(self) -> None:
        while True:
            await self.damage.ready.wait()
            self.damage.ready.clear()
            await self.heal_pending()

    async def _scrub_loop(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.scrub()
