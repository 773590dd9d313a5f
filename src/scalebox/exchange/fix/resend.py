"""Outbound numbering and resending: how a message gets its header and its place in the store, and
how a ResendRequest is answered from it (application messages again with PossDupFlag=Y and
OrigSendingTime; session-level ones, and any the bounded store no longer holds, gap-filled)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from scalebox.exchange.protocol.fix import (
    SESSION_MSG_TYPES,
    FixMessage,
    MsgType,
    Tag,
    decode_message,
    encode_message,
    format_timestamp,
)

_HEADER_TAGS = frozenset(
    {Tag.SENDER_COMP_ID, Tag.TARGET_COMP_ID, Tag.MSG_SEQ_NUM, Tag.SENDING_TIME, Tag.POSS_DUP_FLAG,
     Tag.ORIG_SENDING_TIME}
)  # fmt: skip


class OutboundStore(Protocol):
    """What numbering and resending need from a session store."""

    @property
    def next_sender_seq(self) -> int: ...

    def save(self, sequence: int, data: bytes | None) -> None: ...

    def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]: ...


def stamp(
    body: FixMessage, sequence: int, *, sender: str, target: str, now: datetime, orig_sending_time: str = ""
) -> FixMessage:
    """`body` (MsgType and body fields) with the standard header in front. With
    `orig_sending_time` it is a possible duplicate: PossDupFlag=Y and OrigSendingTime."""
    header = [
        (int(Tag.MSG_TYPE), body.msg_type),
        (int(Tag.SENDER_COMP_ID), sender),
        (int(Tag.TARGET_COMP_ID), target),
        (int(Tag.MSG_SEQ_NUM), str(sequence)),
    ]
    if orig_sending_time:
        header.append((int(Tag.POSS_DUP_FLAG), "Y"))
    header.append((int(Tag.SENDING_TIME), format_timestamp(now)))
    if orig_sending_time:
        header.append((int(Tag.ORIG_SENDING_TIME), orig_sending_time))
    return FixMessage((*header, *body.fields[1:]))


def record_outbound(
    store: OutboundStore, body: FixMessage, *, sender: str, target: str, now: datetime
) -> bytes:
    """Number `body` with the store's next MsgSeqNum, record it and return its bytes. Application
    messages are kept for resending; session-level ones only use up their number."""
    sequence = store.next_sender_seq
    data = encode_message(stamp(body, sequence, sender=sender, target=target, now=now))
    store.save(sequence, None if body.msg_type in SESSION_MSG_TYPES else data)
    return data


def answer_resend(
    store: OutboundStore, begin: int, end: int, *, sender: str, target: str, now: datetime
) -> list[bytes]:
    """The messages that answer ResendRequest(BeginSeqNo=begin, EndSeqNo=end; 0 = all), in order.
    Resent messages keep their numbers and are not stored again."""
    last = store.next_sender_seq - 1
    if end == 0 or end > last:
        end = last
    answer: list[bytes] = []
    gap_start = begin
    for sequence, data in store.messages(begin, end):
        if sequence > gap_start:
            answer.append(_gap_fill(gap_start, sequence, sender=sender, target=target, now=now))
        original = decode_message(data)
        orig_sending_time = original.get(Tag.SENDING_TIME) or format_timestamp(now)
        body = FixMessage(tuple((tag, value) for tag, value in original.fields if tag not in _HEADER_TAGS))
        answer.append(
            encode_message(
                stamp(
                    body, sequence, sender=sender, target=target, now=now, orig_sending_time=orig_sending_time
                )
            )
        )
        gap_start = sequence + 1
    if gap_start <= end:
        answer.append(_gap_fill(gap_start, end + 1, sender=sender, target=target, now=now))
    return answer


def _gap_fill(sequence: int, new_sequence: int, *, sender: str, target: str, now: datetime) -> bytes:
    """SequenceReset-GapFill numbered `sequence`: the next message will be `new_sequence`."""
    body = FixMessage.of(MsgType.SEQUENCE_RESET, (Tag.GAP_FILL_FLAG, "Y"), (Tag.NEW_SEQ_NO, new_sequence))
    return encode_message(
        stamp(body, sequence, sender=sender, target=target, now=now, orig_sending_time=format_timestamp(now))
    )
