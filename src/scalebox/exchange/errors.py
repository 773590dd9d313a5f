"""The exchange's errors (order-level refusals are events, RejectReason, not exceptions).

DomainError (scalebox.core.errors)
├── UnknownInstrumentError   a symbol that is not listed
├── UnknownParticipantError  a participant id that is not configured
├── InvalidConfigError       an instruments/participants file that breaks a rule
└── NotPrimaryError          a write sent to a standby (or to a primary that is stopping)
IntegrityError (scalebox.core.errors)
└── JournalCorruptError      a journal record whose checksum or hash chain does not verify
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
