"""Where FIX application messages go: the sessions the gateway knows, each with its store, and the
venue listener that turns applied commands into reports for them.

Sessions are keyed (SenderCompID, drop copy), see logon.py. An order-entry session's
SenderCompID is its participant id, so each report has one home session: it is numbered and
stored there whether the session is logged on or not, and a later Logon (whose MsgSeqNum then
jumps) or ResendRequest recovers it. Drop-copy sessions get a copy of every execution report of
their participant while this process knows them (from their first Logon after it started).
Every member's reports are stored, so a member's first FIX Logon can recover what it did on other
channels; participants that are not directory members get nothing. The listener writes to the
stores with plain write() calls (page cache, no fsync), so it does not block the sequencer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from scalebox.core.clock import Clock
from scalebox.core.errors import IntegrityError
from scalebox.exchange.fix.logon import LogonRequest
from scalebox.exchange.fix.reports import ReportWriter
from scalebox.exchange.fix.resend import record_outbound
from scalebox.exchange.fix.session import FixSession
from scalebox.exchange.fix.store import FileSessionStore
from scalebox.exchange.protocol.fix import FixMessage, MsgType, Tag
from scalebox.exchange.service.venue import Applied

log = structlog.get_logger("scalebox.exchange.fix")


class SessionLink(Protocol):
    """A logged-on connection, as routing sees it."""

    @property
    def session(self) -> FixSession: ...

    @property
    def peer(self) -> str: ...

    def send(self, message: FixMessage, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class FixSessionStats:
    """One session as the operations view shows it."""

    sender_comp_id: str
    participant: str
    drop_copy: bool
    connected: bool
    next_in_seq: int  # the MsgSeqNum expected next from the peer
    next_out_seq: int  # the MsgSeqNum our next message gets
    messages_in: int  # since this process started
    messages_out: int
    peer: str


@dataclass(eq=False)
class SessionEntry:
    """A session this process knows: its store outlives its connections."""

    sender_comp_id: str
    participant: str
    drop_copy: bool
    store: FileSessionStore
    link: SessionLink | None = None
    messages_in: int = 0
    messages_out: int = 0


class SessionRouter:
    """The known sessions and the routing of reports to them."""

    def __init__(
        self,
        fix_dir: Path,
        comp_id: str,
        reports: ReportWriter,
        clock: Clock,
        *,
        is_member: Callable[[str], bool],
        store_messages_max: int = 10_000,
        on_store_pending: Callable[[], None] | None = None,
    ) -> None:
        self.on_store_pending = on_store_pending  # the gateway flushes stores at the end of the turn
        self.fix_dir = fix_dir
        self.comp_id = comp_id
        self.reports = reports
        self.clock = clock
        self.is_member = is_member
        self.store_messages_max = store_messages_max
        self._entries: dict[tuple[str, bool], SessionEntry] = {}
        self._drop_copies: dict[str, list[SessionEntry]] = {}

    def on_applied(self, applied: Applied) -> None:
        """The venue listener: every report to its participant's sessions. Never raises."""
        rendered = self.reports.render(applied.sequence, applied.timestamp_ns, applied.events, self._wanted)
        if not rendered:
            return
        now = self.clock.now()
        for participant, message in rendered:
            home = self._entries.get((participant, False))
            if home is None and self.is_member(participant):
                home = self._open(participant, participant, drop_copy=False)
            if home is not None:
                self.route(home, message, now)
            for copy in self._drop_copies.get(participant, []):
                self.route(copy, message, now)

    def _wanted(self, participant: str) -> bool:
        return (
            (participant, False) in self._entries
            or participant in self._drop_copies
            or self.is_member(participant)
        )

    def route(self, entry: SessionEntry, message: FixMessage, now: datetime) -> None:
        """Send `message` on the entry's session if it is logged on, else number and store it."""
        link = entry.link
        try:
            if link is not None and link.session.active:
                link.send(message, now)
            else:
                record_outbound(
                    entry.store, message, sender=self.comp_id, target=entry.sender_comp_id, now=now
                )
                entry.messages_out += 1
        except OSError as exc:
            log.error("FIX store write failed", session=entry.sender_comp_id, error=str(exc))

    def reply(self, entry: SessionEntry, message: FixMessage, now: datetime) -> None:
        """An answer the gateway made itself (not from engine events) to `entry`'s session.
        ExecutionReports other than status answers are copied to the participant's drop copies."""
        self.route(entry, message, now)
        if message.msg_type == MsgType.EXECUTION_REPORT and message.get(Tag.EXEC_TYPE) != "I":
            for copy in self._drop_copies.get(entry.participant, []):
                if copy is not entry:
                    self.route(copy, message, now)

    def attach(self, request: LogonRequest, link: SessionLink) -> SessionEntry | str:
        """Bind an authenticated connection to its session; a text says why it cannot be."""
        entry = self._entries.get(request.session_key)
        if entry is None:
            entry = self._open(request.sender_comp_id, request.participant_id, drop_copy=request.drop_copy)
        if entry is None:
            return "logon refused: the session store is unavailable"
        if entry.participant != request.participant_id:
            return "logon refused: this SenderCompID belongs to another participant"
        if entry.link is not None:
            return "logon refused: this session is already logged on"
        entry.link = link
        return entry

    def detach(self, entry: SessionEntry, link: SessionLink) -> None:
        if entry.link is link:
            entry.link = None
            entry.messages_in += link.session.messages_in
            entry.messages_out += link.session.messages_out

    def sessions(self) -> list[FixSessionStats]:
        stats = []
        for entry in sorted(self._entries.values(), key=lambda e: (e.sender_comp_id, e.drop_copy)):
            link = entry.link
            live_in, live_out = (link.session.messages_in, link.session.messages_out) if link else (0, 0)
            stats.append(
                FixSessionStats(
                    entry.sender_comp_id,
                    entry.participant,
                    entry.drop_copy,
                    link is not None,
                    entry.store.next_target_seq,
                    entry.store.next_sender_seq,
                    entry.messages_in + live_in,
                    entry.messages_out + live_out,
                    link.peer if link is not None else "",
                )
            )
        return stats

    def flush_stores(self) -> None:
        """Write every store's pending records (before any socket sees what they record)."""
        for entry in self._entries.values():
            if entry.store.pending:
                entry.store.flush()

    def close(self) -> None:
        for entry in self._entries.values():
            entry.store.close()

    def _open(self, sender_comp_id: str, participant: str, *, drop_copy: bool) -> SessionEntry | None:
        name = f"{self.comp_id}-{sender_comp_id}" + ("-DROPCOPY" if drop_copy else "")
        try:
            store = FileSessionStore(self.fix_dir / name, self.store_messages_max, self.on_store_pending)
        except (OSError, IntegrityError) as exc:
            log.error("FIX session store unavailable", session=name, error=str(exc))
            return None
        entry = SessionEntry(sender_comp_id, participant, drop_copy, store)
        self._entries[sender_comp_id, drop_copy] = entry
        if drop_copy:
            self._drop_copies.setdefault(participant, []).append(entry)
        return entry
