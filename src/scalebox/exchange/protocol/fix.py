"""FIX 4.4 tag=value codec, sans-IO: frames a byte stream on 8=/9=/10=, verifies BodyLength and
CheckSum, and encodes messages with both computed. It knows bytes only; the session and
application rules live in `scalebox.exchange.fix`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import ClassVar

from scalebox.core.errors import ProtocolError

SOH = b"\x01"
BEGIN_STRING = "FIX.4.4"
_START = b"8=FIX"  # resynchronise on this: "8=" alone turns up inside values such as 58=
_HEAD = re.compile(rb"8=([^\x01]{1,32})\x019=([0-9]{1,9})\x01")
_HEAD_PREFIX = re.compile(rb"8=[^\x01]{0,32}(?:\x01(?:9(?:=[0-9]{0,9})?)?)?")
_HEAD_BYTES_MAX = 48
_TRAILER_BYTES = 7  # b"10=ddd\x01"
_TRAILER = re.compile(rb"\x0110=[0-9]{3}\x01")
_INT = re.compile(r"-?[0-9]+")
_TIMESTAMP = re.compile(r"(\d{8}-\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?")


class Tag(IntEnum):
    """The FIX 4.4 fields the gateway reads or writes."""

    AVG_PX = 6
    BEGIN_SEQ_NO = 7
    BEGIN_STRING = 8
    BODY_LENGTH = 9
    CHECK_SUM = 10
    CL_ORD_ID = 11
    CUM_QTY = 14
    END_SEQ_NO = 16
    EXEC_ID = 17
    LAST_PX = 31
    LAST_QTY = 32
    MSG_SEQ_NUM = 34
    MSG_TYPE = 35
    NEW_SEQ_NO = 36
    ORDER_ID = 37
    ORDER_QTY = 38
    ORD_STATUS = 39
    ORD_TYPE = 40
    ORIG_CL_ORD_ID = 41
    POSS_DUP_FLAG = 43
    PRICE = 44
    REF_SEQ_NUM = 45
    SENDER_COMP_ID = 49
    SENDING_TIME = 52
    SIDE = 54
    SYMBOL = 55
    TARGET_COMP_ID = 56
    TARGET_SUB_ID = 57
    TEXT = 58
    TIME_IN_FORCE = 59
    TRANSACT_TIME = 60
    ENCRYPT_METHOD = 98
    STOP_PX = 99
    CXL_REJ_REASON = 102
    ORD_REJ_REASON = 103
    HEART_BT_INT = 108
    MAX_FLOOR = 111
    TEST_REQ_ID = 112
    ORIG_SENDING_TIME = 122
    GAP_FILL_FLAG = 123
    RESET_SEQ_NUM_FLAG = 141
    EXEC_TYPE = 150
    LEAVES_QTY = 151
    REF_TAG_ID = 371
    REF_MSG_TYPE = 372
    SESSION_REJECT_REASON = 373
    BUSINESS_REJECT_REF_ID = 379
    BUSINESS_REJECT_REASON = 380
    CXL_REJ_RESPONSE_TO = 434
    USERNAME = 553
    PASSWORD = 554
    TRADE_ID = 1003
    SELF_MATCH_PREVENTION_INSTRUCTION = 2964


class MsgType(StrEnum):
    HEARTBEAT = "0"
    TEST_REQUEST = "1"
    RESEND_REQUEST = "2"
    REJECT = "3"
    SEQUENCE_RESET = "4"
    LOGOUT = "5"
    EXECUTION_REPORT = "8"
    ORDER_CANCEL_REJECT = "9"
    LOGON = "A"
    NEW_ORDER_SINGLE = "D"
    ORDER_CANCEL_REQUEST = "F"
    ORDER_CANCEL_REPLACE_REQUEST = "G"
    ORDER_STATUS_REQUEST = "H"
    BUSINESS_MESSAGE_REJECT = "j"


SESSION_MSG_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})


# -- errors: each carries the SessionRejectReason (373) it earns -----------------------------------


class FixError(ProtocolError):
    """A message that breaks a FIX rule. `reason` is its SessionRejectReason (373) and `tag` the
    RefTagID (371) when one field is to blame."""

    reason: ClassVar[int] = 99

    def __init__(self, detail: str = "", *, tag: int | None = None) -> None:
        super().__init__(detail or (self.__class__.__doc__ or "").strip())
        self.tag = tag


class InvalidTagNumberError(FixError):
    """Invalid tag number"""

    reason = 0


class RequiredTagMissingError(FixError):
    """Required tag missing"""

    reason = 1


class TagWithoutValueError(FixError):
    """Tag specified without a value"""

    reason = 4


class ValueIncorrectError(FixError):
    """Value is incorrect (out of range) for this tag"""

    reason = 5


class IncorrectDataFormatError(FixError):
    """Incorrect data format for value"""

    reason = 6


class CompIdProblemError(FixError):
    """CompID problem"""

    reason = 9


class SendingTimeAccuracyError(FixError):
    """SendingTime accuracy problem"""

    reason = 10


class InvalidMsgTypeError(FixError):
    """Invalid MsgType"""

    reason = 11


class TagOutOfOrderError(FixError):
    """Tag specified out of required order"""

    reason = 14


class BodyLengthError(ValueIncorrectError):
    """BodyLength (9) does not match the message"""


class ChecksumError(ValueIncorrectError):
    """CheckSum (10) does not match the message"""


class MessageTooLargeError(FixError):
    """A message over the gateway's size limit: the connection is closed, not answered."""


# -- messages ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixMessage:
    """One message: its (tag, value) pairs in wire order from MsgType (35) on. BeginString (8),
    BodyLength (9) and CheckSum (10) are not fields here: `encode_message` computes them."""

    fields: tuple[tuple[int, str], ...]
    begin_string: str = BEGIN_STRING

    @classmethod
    def of(cls, msg_type: str, *fields: tuple[int, str | int]) -> FixMessage:
        """A message of `msg_type` with these fields after 35 (ints are written in decimal)."""
        pairs = [(int(Tag.MSG_TYPE), msg_type)]
        pairs.extend((int(tag), str(value)) for tag, value in fields)
        return cls(tuple(pairs))

    @property
    def msg_type(self) -> str:
        return self.fields[0][1] if self.fields and self.fields[0][0] == Tag.MSG_TYPE else ""

    def get(self, tag: int) -> str | None:
        """The first value of `tag`, or None."""
        for field_tag, value in self.fields:
            if field_tag == tag:
                return value
        return None

    def get_int(self, tag: int) -> int | None:
        """The value of `tag` as an int, or None when absent; raises when it is not an integer."""
        value = self.get(tag)
        if value is None:
            return None
        if not _INT.fullmatch(value):
            raise IncorrectDataFormatError(f"tag {tag} must be an integer, not {value!r}", tag=tag)
        return int(value)

    def require(self, tag: int) -> str:
        value = self.get(tag)
        if value is None:
            raise RequiredTagMissingError(f"required tag {tag} missing", tag=tag)
        return value

    def require_int(self, tag: int) -> int:
        value = self.get_int(tag)
        if value is None:
            raise RequiredTagMissingError(f"required tag {tag} missing", tag=tag)
        return value

    def flag(self, tag: int) -> bool:
        """A Boolean field: Y is True, N or absent is False."""
        value = self.get(tag)
        if value is None or value == "N":
            return False
        if value != "Y":
            raise ValueIncorrectError(f"tag {tag} must be Y or N, not {value!r}", tag=tag)
        return True


@dataclass(frozen=True, slots=True, eq=False)
class FixGarbled:
    """A frame that was delimited but is not a valid message. `message` holds whatever fields
    could be read from it (for the Reject's RefSeqNum), or None."""

    raw: bytes
    error: FixError
    message: FixMessage | None


def encode_message(message: FixMessage) -> bytes:
    """The wire bytes of `message`, with BodyLength and CheckSum computed."""
    assert message.fields, message
    assert message.fields[0][0] == Tag.MSG_TYPE, message
    body = b"".join(b"%d=%s\x01" % (tag, value.encode("latin-1")) for tag, value in message.fields)
    assert body.count(SOH) == len(message.fields), "a value contains SOH"
    frame = b"8=%s\x019=%d\x01%s" % (message.begin_string.encode("latin-1"), len(body), body)
    return frame + b"10=%03d\x01" % (sum(frame) % 256)


def decode_message(frame: bytes) -> FixMessage:
    """Exactly one complete, valid message (for example one read back from a store)."""
    items = FixParser(len(frame)).feed(frame)
    if len(items) != 1 or not isinstance(items[0], FixMessage):
        raise BodyLengthError("not exactly one valid FIX message", tag=Tag.BODY_LENGTH)
    return items[0]


class FixParser:
    """Splits a byte stream into FIX messages. Bytes before a frame's 8=FIX are skipped; a frame
    that is delimited but wrong comes out as FixGarbled; one over the limit raises."""

    def __init__(self, message_bytes_max: int) -> None:
        self._buffer = bytearray()
        self._message_bytes_max = message_bytes_max
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[FixMessage | FixGarbled]:
        buffer = self._buffer
        buffer += data
        items: list[FixMessage | FixGarbled] = []
        position = 0
        while (found := self._next(position)) is not None:
            item, position = found
            if item is not None:
                items.append(item)
        del buffer[:position]
        if len(buffer) > self._message_bytes_max:
            raise MessageTooLargeError(f"over {self._message_bytes_max} bytes without a complete message")
        return items

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _next(self, position: int) -> tuple[FixMessage | FixGarbled | None, int] | None:
        """The next item from `position` and where the one after starts; None for "need more bytes"."""
        start = self._buffer.find(_START, position)
        if start != position:
            return self._skip(position, start)
        header = self._header(start)
        if header is None or isinstance(header[0], FixGarbled):
            return header
        return self._body(start, *header)

    def _skip(self, position: int, start: int) -> tuple[None, int] | None:
        """Drop bytes that cannot begin a message (keeping a tail that may be half a start)."""
        if start < 0:
            start = max(len(self._buffer) - len(_START) + 1, position)
        self.skipped_bytes += start - position
        return None if start == position else (None, start)

    def _header(self, start: int) -> tuple[str, int, int] | tuple[FixGarbled, int] | None:
        """(BeginString, where the body starts, BodyLength), a garbled header, or None for more bytes."""
        buffer = self._buffer
        match = _HEAD.match(buffer, start)
        if match is not None:
            return match.group(1).decode("latin-1"), match.end(), int(match.group(2))
        if len(buffer) - start <= _HEAD_BYTES_MAX and _HEAD_PREFIX.fullmatch(buffer, start):
            return None  # a header still arriving
        error = IncorrectDataFormatError("malformed BeginString or BodyLength", tag=Tag.BODY_LENGTH)
        return FixGarbled(bytes(buffer[start : start + 2]), error, None), start + 2

    def _body(
        self, start: int, begin_string: str, body_start: int, body_length: int
    ) -> tuple[FixMessage | FixGarbled, int] | None:
        buffer = self._buffer
        body_end = body_start + body_length
        end = body_end + _TRAILER_BYTES
        if end - start > self._message_bytes_max:
            limit = self._message_bytes_max
            raise MessageTooLargeError(f"a message of {body_length} bytes; the limit is {limit}")
        if len(buffer) < end:
            return None
        if not _has_trailer(buffer, body_start, body_end):
            return self._resynchronise(start, body_start)
        frame = bytes(buffer[start:end])
        error: FixError
        if sum(frame[: body_end - start]) % 256 != int(frame[-4:-1]):
            error = ChecksumError(tag=Tag.CHECK_SUM)
        else:
            try:
                return FixMessage(
                    _parse_fields(frame[body_start - start : body_end - start]), begin_string
                ), end
            except FixError as exc:
                error = exc
        return FixGarbled(frame, error, _lenient(frame)), end

    def _resynchronise(self, start: int, body_start: int) -> tuple[FixGarbled, int] | None:
        """BodyLength was wrong: the frame runs to the next trailer, if one has arrived yet."""
        match = _TRAILER.search(self._buffer, body_start - 1)
        if match is None:
            return None
        frame = bytes(self._buffer[start : match.end()])
        return FixGarbled(frame, BodyLengthError(tag=Tag.BODY_LENGTH), _lenient(frame)), match.end()


def _has_trailer(buffer: bytearray, body_start: int, body_end: int) -> bool:
    trailer = buffer[body_end : body_end + _TRAILER_BYTES]
    return (
        body_end > body_start
        and buffer[body_end - 1] == 1
        and trailer[:3] == b"10="
        and trailer[3:6].isdigit()
        and trailer[6] == 1
    )


def _parse_fields(body: bytes) -> tuple[tuple[int, str], ...]:
    """The fields of a body that ends with SOH; MsgType must come first."""
    fields: list[tuple[int, str]] = []
    for part in body[:-1].split(SOH):
        tag_bytes, separator, value = part.partition(b"=")
        if not separator or not tag_bytes.isdigit() or tag_bytes.startswith(b"0"):
            raise InvalidTagNumberError(f"invalid tag {tag_bytes[:16]!r}")
        tag = int(tag_bytes)
        if not value:
            raise TagWithoutValueError(f"tag {tag} has no value", tag=tag)
        if tag in _FRAMING_TAGS:
            raise TagOutOfOrderError(f"tag {tag} inside the body", tag=tag)
        fields.append((tag, value.decode("latin-1")))
    if fields[0][0] != Tag.MSG_TYPE:
        raise TagOutOfOrderError("MsgType (35) must be the third field", tag=Tag.MSG_TYPE)
    return tuple(fields)


def _lenient(frame: bytes) -> FixMessage | None:
    """Whatever well-formed fields a garbled frame has, for MsgSeqNum and MsgType."""
    fields: list[tuple[int, str]] = []
    for part in frame.split(SOH):
        tag_bytes, separator, value = part.partition(b"=")
        if separator and tag_bytes.isdigit() and int(tag_bytes) not in (8, 9, 10):
            fields.append((int(tag_bytes), value.decode("latin-1")))
    return FixMessage(tuple(fields)) if fields else None


# Plain ints: an enum member lookup per field costs more than the rest of the test (Python 3.11).
_FRAMING_TAGS = frozenset((int(Tag.BEGIN_STRING), int(Tag.BODY_LENGTH), int(Tag.CHECK_SUM)))

# -- UTCTimestamp (52, 60, 122) ----------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """YYYYMMDD-HH:MM:SS.sss in UTC."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Every message carries one or two timestamps: formatting by hand is 4x strftime here.
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}-{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}"
    )


def parse_timestamp(value: str, tag: int = Tag.SENDING_TIME) -> datetime:
    """A UTCTimestamp with 0 to 9 fractional digits (sub-microsecond digits are dropped)."""
    match = _TIMESTAMP.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        whole = match.group(1)  # YYYYMMDD-HH:MM:SS, digits checked by the pattern
        fraction = (match.group(2) or "").ljust(6, "0")[:6]
        return datetime(
            int(whole[0:4]), int(whole[4:6]), int(whole[6:8]), int(whole[9:11]), int(whole[12:14]),
            int(whole[15:17]), int(fraction), tzinfo=UTC,
        )  # fmt: skip
    except ValueError as exc:  # month 13, second 61, ...
        raise IncorrectDataFormatError(f"tag {tag} is not a UTCTimestamp: {value!r}", tag=tag) from exc
