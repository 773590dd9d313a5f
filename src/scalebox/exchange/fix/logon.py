"""FIX logon rules: what a well-formed Logon asks for (LogonRequest), who may have it once the
password is checked, and the unnumbered Logout that refuses one.

Session keys: an order-entry session is (SenderCompID, order entry) and its SenderCompID must be
the participant id, so every execution report of a participant has exactly one home session,
logged on or not. A drop-copy session (TargetSubID 57=DROPCOPY, participant from Username 553 or
SenderCompID, member flagged drop_copy) is (SenderCompID, drop copy) and only receives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from scalebox.exchange.protocol.fix import (
    BEGIN_STRING,
    CompIdProblemError,
    FixMessage,
    MsgType,
    Tag,
    ValueIncorrectError,
    encode_message,
    format_timestamp,
)

DROP_COPY_SUB_ID = "DROPCOPY"  # TargetSubID (57) of a Logon that asks for a drop-copy session
_COMP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # also a directory name in the store


@dataclass(frozen=True, slots=True)
class LogonRequest:
    """A well-formed Logon: the gateway authenticates it, finds its store, then calls the
    session's `accept_logon` or `refuse_logon`."""

    sender_comp_id: str
    participant_id: str
    password: str
    drop_copy: bool
    heartbeat_seconds: int
    reset: bool

    @property
    def session_key(self) -> tuple[str, bool]:
        return self.sender_comp_id, self.drop_copy


def parse_logon(message: FixMessage, comp_id: str, heartbeat_seconds_max: int) -> LogonRequest:
    """The request a Logon (35=A) makes; raises FixError when it breaks a rule."""
    if message.begin_string != BEGIN_STRING:
        raise ValueIncorrectError(f"BeginString must be {BEGIN_STRING}", tag=Tag.BEGIN_STRING)
    sender = message.require(Tag.SENDER_COMP_ID)
    if not _COMP_ID.fullmatch(sender):
        raise CompIdProblemError("SenderCompID: 1-64 letters, digits, '.', '-', '_'", tag=Tag.SENDER_COMP_ID)
    if message.require(Tag.TARGET_COMP_ID) != comp_id:
        raise CompIdProblemError(f"TargetCompID must be {comp_id}", tag=Tag.TARGET_COMP_ID)
    message.require_int(Tag.MSG_SEQ_NUM)
    heartbeat = message.require_int(Tag.HEART_BT_INT)
    if not 1 <= heartbeat <= heartbeat_seconds_max:
        raise ValueIncorrectError(f"HeartBtInt must be 1 to {heartbeat_seconds_max}", tag=Tag.HEART_BT_INT)
    if message.get_int(Tag.ENCRYPT_METHOD) not in (None, 0):
        raise ValueIncorrectError("EncryptMethod must be 0 (none)", tag=Tag.ENCRYPT_METHOD)
    password = message.require(Tag.PASSWORD)
    participant = message.get(Tag.USERNAME) or sender
    drop_copy = message.get(Tag.TARGET_SUB_ID) == DROP_COPY_SUB_ID
    return LogonRequest(
        sender, participant, password, drop_copy, heartbeat, message.flag(Tag.RESET_SEQ_NUM_FLAG)
    )


def refuse_reason(request: LogonRequest, member_drop_copy: bool | None) -> str | None:
    """Why an authenticated-or-not Logon is refused, or None. `member_drop_copy` is None when the
    participant id and password did not verify, else the member's drop_copy permission."""
    if member_drop_copy is None:
        return "logon refused: unknown participant or wrong password"
    if request.drop_copy and not member_drop_copy:
        return "logon refused: this member has no drop-copy permission"
    if not request.drop_copy and request.sender_comp_id != request.participant_id:
        return "logon refused: an order-entry session's SenderCompID must be its participant id"
    return None


def encode_refusal(comp_id: str, their_comp_id: str, text: str, now: datetime) -> bytes:
    """A Logout refusing a Logon. It is numbered 1 and stored nowhere: a peer that has not
    authenticated must not move a real session's sequence numbers."""
    logout = FixMessage.of(
        MsgType.LOGOUT,
        (Tag.SENDER_COMP_ID, comp_id),
        (Tag.TARGET_COMP_ID, their_comp_id or "UNKNOWN"),
        (Tag.MSG_SEQ_NUM, 1),
        (Tag.SENDING_TIME, format_timestamp(now)),
        (Tag.TEXT, text),
    )
    return encode_message(logout)
