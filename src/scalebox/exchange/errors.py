"""The exchange's errors (order-level refusals are events, RejectReason, not exceptions).

DomainError (scalebox.core.errors)
├── UnknownInstrumentError   a symbol that is not listed
├── UnknownParticipantError  a participant id that is not configured
├── InvalidConfigError       an instruments/participants file that breaks a rule
├── NotPrimaryError          a write sent to a standby (or to a primary that is stopping)
├── OrderRejectedError       the engine rejected a new order (its RejectReason in `reason`)
└── CancelRejectedError      the engine refused a cancel or replace (its RejectReason in `reason`)
IntegrityError (scalebox.core.errors)
├── JournalCorruptError      a journal record whose checksum or hash chain does not verify
└── ClearingStalledError     post-trade capture stopped (queue overflow or a failed write)
ProtocolError (scalebox.core.errors)
└── BadCommandError          a journal payload that does not decode to a command
"""

from __future__ import annotations

from scalebox.core.errors import ConflictError, IntegrityError, InvalidError, NotFoundError, ProtocolError


class UnknownInstrumentError(NotFoundError):
    """No such instrument."""


class UnknownParticipantError(NotFoundError):
    """No such participant."""


class InvalidConfigError(InvalidError):
    """The exchange configuration breaks a rule."""


class NotPrimaryError(ConflictError):
    """This process is not the primary: it does not take orders."""


class JournalCorruptError(IntegrityError):
    """A journal record failed its checksum or hash chain."""


class BadCommandError(ProtocolError):
    """A journal payload that does not decode to a command."""


class OrderRejectedError(ConflictError):
    """The engine rejected the order (raised where a request-response edge answers with the
    rejection event); `reason` is the RejectReason's name in lower case."""

    code = "order_rejected"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CancelRejectedError(ConflictError):
    """The engine refused a cancel or replace; `reason` is the RejectReason's name in lower case."""

    code = "cancel_rejected"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ClearingStalledError(IntegrityError):
    """Post-trade capture stopped; a restart replays the journal from the last stored sequence."""
