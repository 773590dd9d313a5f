"""Inbound admission for a FIX session: the header checks every message passes (BeginString,
CompIDs, MsgSeqNum, SendingTime, PossDup), and the queue of messages that arrived ahead of a
sequence gap, held until a resend or gap fill closes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scalebox.exchange.protocol.fix import (
    BEGIN_STRING,
    CompIdProblemError,
    FixMessage,
    SendingTimeAccuracyError,
    Tag,
    ValueIncorrectError,
    parse_timestamp,
)


def check_header(message: FixMessage, *, their_comp_id: str, our_comp_id: str) -> None:
    """Raise for the faults that end a session: BeginString, CompIDs, an unreadable MsgSeqNum."""
    if message.begin_string != BEGIN_STRING:
        raise ValueIncorrectError(f"BeginString must be {BEGIN_STRING}", tag=Tag.BEGIN_STRING)
    if message.get(Tag.SENDER_COMP_ID) != their_comp_id:
        raise CompIdProblemError(f"SenderCompID must be {their_comp_id}", tag=Tag.SENDER_COMP_ID)
    if message.get(Tag.TARGET_COMP_ID) != our_comp_id:
        raise CompIdProblemError(f"TargetCompID must be {our_comp_id}", tag=Tag.TARGET_COMP_ID)
    message.require_int(Tag.MSG_SEQ_NUM)


def check_sending_time(message: FixMessage, now: datetime, tolerance_seconds: float | None) -> None:
    """SendingTime must be there and readable, and within the tolerance of `now` when one is
    given; a possible duplicate needs an OrigSendingTime no later than its SendingTime."""
    sending_time = parse_timestamp(message.require(Tag.SENDING_TIME), Tag.SENDING_TIME)
    if tolerance_seconds is not None and abs((now - sending_time).total_seconds()) > tolerance_seconds:
        raise SendingTimeAccuracyError("SendingTime is too far from our clock", tag=Tag.SENDING_TIME)
    if message.flag(Tag.POSS_DUP_FLAG):
        original = message.require(Tag.ORIG_SENDING_TIME)
        if parse_timestamp(original, Tag.ORIG_SENDING_TIME) > sending_time:
            raise SendingTimeAccuracyError("OrigSendingTime after SendingTime", tag=Tag.ORIG_SENDING_TIME)


@dataclass(slots=True)
class Held:
    message: FixMessage
    answered: bool  # a Logon or ResendRequest already acted on when it arrived early


class GapQueue:
    """Messages numbered above the expected MsgSeqNum, and the ResendRequest out for the gap."""

    def __init__(self, held_max: int) -> None:
        self.held_max = held_max
        self._held: dict[int, Held] = {}
        self._requested_until = 0  # the last number our outstanding ResendRequest covers

    def __len__(self) -> int:
        return len(self._held)

    @property
    def full(self) -> bool:
        return len(self._held) >= self.held_max

    def hold(self, sequence: int, expected: int, message: FixMessage, *, answered: bool) -> bool:
        """Hold an early message; True when a ResendRequest from `expected` must go out (none
        is outstanding: one with EndSeqNo 0 already covers everything the peer had sent)."""
        assert sequence > expected, (sequence, expected)
        self._held[sequence] = Held(message, answered)
        request = self._requested_until < expected
        self._requested_until = max(self._requested_until, sequence - 1)
        return request

    def pop(self, sequence: int) -> Held | None:
        return self._held.pop(sequence, None)

    def discard_below(self, sequence: int) -> None:
        """Drop what a gap fill or reset skipped over."""
        for stale in [s for s in self._held if s < sequence]:
            del self._held[stale]
