"""Start-up and takeover: the engine is rebuilt as the latest snapshot plus the journal after it;
the primary holds an exclusive lock that a standby waits on, so exactly one process writes."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from scalebox.core.files import write_atomically
from scalebox.exchange.domain import Command, DefineInstrument, DefineParticipant, Phase, SetPhase
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.errors import NotPrimaryError
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.venue import replay
from scalebox.exchange.snapshot import import_state
from scalebox.exchange.storage.journal import GENESIS, Journal, JournalFollower
from scalebox.exchange.storage.snapshots import SnapshotStore

log = structlog.get_logger("scalebox.exchange")


@dataclass
class Recovered:
    engine: MatchingEngine
    snapshot_sequence: int
    replayed: int


def recover_engine(journal: Journal, snapshots: SnapshotStore) -> Recovered:
    """Latest snapshot + journal replay. The journal must be open (verified, torn tail cut)."""
    snapshot = snapshots.latest()
    engine = MatchingEngine() if snapshot is None else import_state(snapshot.state)
    start = 0 if snapshot is None else snapshot.sequence
    if start > journal.last_sequence:
        raise NotPrimaryError(f"snapshot at {start} is ahead of the journal ({journal.last_sequence})")
    replayed = replay(engine, journal.read(after_sequence=start))
    assert engine.last_sequence == journal.last_sequence, (engine.last_sequence, journal.last_sequence)
    return Recovered(engine, start, replayed)


def follower_after_snapshot(
    journal_dir: Path, snapshots: SnapshotStore
) -> tuple[MatchingEngine, JournalFollower]:
    """A standby's starting point: the latest snapshot and a journal follower right after it."""
    snapshot = snapshots.latest()
    if snapshot is None:
        return MatchingEngine(), JournalFollower(journal_dir, 0, GENESIS)
    return import_state(snapshot.state), JournalFollower(journal_dir, snapshot.sequence, snapshot.chain)


def reference_data_commands(
    engine: MatchingEngine, directory: Directory, *, open_market: bool
) -> list[Command]:
    """Define* commands for instruments and members the engine does not know (or knows
    differently), then, when asked, an opening call and continuous trading for closed instruments."""
    commands: list[Command] = []
    for instrument in directory.instruments.values():
        state = engine.instruments.get(instrument.symbol)
        if state is None or state.instrument != instrument:
            commands.append(DefineInstrument(instrument))
    for member in directory.members.values():
        account = engine.accounts.get(member.participant.participant_id)
        if account is None or account.participant != member.participant:
            commands.append(DefineParticipant(member.participant))
    if open_market:
        closed = [
            s
            for s in directory.instruments
            if (st := engine.instruments.get(s)) is None or st.phase is Phase.CLOSED
        ]
        commands += [SetPhase(symbol, Phase.AUCTION) for symbol in closed]
        commands += [SetPhase(symbol, Phase.CONTINUOUS) for symbol in closed]
    return commands


class PrimaryLock:
    """An exclusive flock on `primary.lock`: the kernel frees it when the holder dies, even by
    kill -9, which is how a standby learns that it must take over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, wait: bool) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder_pid(self) -> int | None:
        """The pid of the process holding the lock; None when nobody holds it (a pid left in
        the file by a primary that has since died is not a holder)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 32).decode(errors="replace").strip()
                return int(text) if text.isdigit() else None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def write_standby_status(path: Path, sequence: int, now: datetime) -> None:
    """The standby's position, for the primary's operations view (written atomically)."""
    status = {"sequence": sequence, "updated_at": now.isoformat(), "pid": os.getpid()}
    write_atomically(path, json.dumps(status).encode())


def read_standby_status(path: Path, primary_sequence: int) -> dict[str, object] | None:
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    sequence = int(raw.get("sequence", 0))
    return {**raw, "lag": max(0, primary_sequence - sequence)}
