"""The FIX tag=value codec: golden bytes, garbled input, limits and a Hypothesis round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import simplefix
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.errors import ProtocolError
from scalebox.exchange.protocol.fix import (
    BodyLengthError,
    ChecksumError,
    FixGarbled,
    FixMessage,
    FixParser,
    IncorrectDataFormatError,
    InvalidTagNumberError,
    MessageTooLargeError,
    RequiredTagMissingError,
    TagOutOfOrderError,
    TagWithoutValueError,
    ValueIncorrectError,
    decode_message,
    encode_message,
    format_timestamp,
    parse_timestamp,
)

LOGON = FixMessage.of(
    "A", (49, "alice"), (56, "SCALEBOX"), (34, 1), (52, "20250101-09:30:00.000"), (98, 0), (108, 30)
)
LOGON_BYTES = (
    b"8=FIX.4.4\x01"  # BeginString
    b"9=68\x01"  # BodyLength: bytes from 35= up to and including the SOH before 10=
    b"35=A\x01"  # MsgType: Logon
    b"49=alice\x01"  # SenderCompID
    b"56=SCALEBOX\x01"  # TargetCompID
    b"34=1\x01"  # MsgSeqNum
    b"52=20250101-09:30:00.000\x01"  # SendingTime (UTCTimestamp, milliseconds)
    b"98=0\x01"  # EncryptMethod: none
    b"108=30\x01"  # HeartBtInt, seconds
    b"10=058\x01"  # CheckSum: sum of every byte before 10=, modulo 256, three digits
)
ORDER = FixMessage.of(
    "D", (49, "alice"), (56, "SCALEBOX"), (34, 2), (52, "20250101-09:30:00.250"),
    (11, "o-1"), (55, "ACME"), (54, 1), (38, 100), (40, 2), (44, "100.25"), (59, 1),
)  # fmt: skip
ORDER_BYTES = (
    b"8=FIX.4.4\x01"  # BeginString
    b"9=103\x01"  # BodyLength
    b"35=D\x01"  # MsgType: NewOrderSingle
    b"49=alice\x01"  # SenderCompID
    b"56=SCALEBOX\x01"  # TargetCompID
    b"34=2\x01"  # MsgSeqNum
    b"52=20250101-09:30:00.250\x01"  # SendingTime
    b"11=o-1\x01"  # ClOrdID
    b"55=ACME\x01"  # Symbol
    b"54=1\x01"  # Side: buy
    b"38=100\x01"  # OrderQty
    b"40=2\x01"  # OrdType: limit
    b"44=100.25\x01"  # Price (decimal; the gateway turns it into ticks)
    b"59=1\x01"  # TimeInForce: good till cancel
    b"10=012\x01"  # CheckSum
)


def parse(data: bytes, limit: int = 4096) -> list[FixMessage | FixGarbled]:
    return FixParser(limit).feed(data)


def garbled(data: bytes) -> FixGarbled:
    [item] = parse(data)
    assert isinstance(item, FixGarbled), item
    return item


def with_checksum(frame_without_trailer: bytes) -> bytes:
    return frame_without_trailer + b"10=%03d\x01" % (sum(frame_without_trailer) % 256)


@pytest.mark.parametrize(("message", "golden"), [(LOGON, LOGON_BYTES), (ORDER, ORDER_BYTES)])
def test_encode_matches_golden_bytes(message, golden):
    assert encode_message(message) == golden


@pytest.mark.parametrize(("message", "golden"), [(LOGON, LOGON_BYTES), (ORDER, ORDER_BYTES)])
def test_decode_golden_bytes(message, golden):
    assert parse(golden) == [message]
    assert decode_message(golden) == message


def test_golden_bytes_agree_with_simplefix():
    independent = simplefix.FixMessage()
    for tag, value in [(8, "FIX.4.4"), *LOGON.fields]:
        independent.append_pair(tag, value)
    assert independent.encode() == LOGON_BYTES


def test_field_helpers():
    assert ORDER.msg_type == "D"
    assert ORDER.get(55) == "ACME"
    assert ORDER.get(9999) is None
    assert ORDER.get_int(38) == 100
    assert ORDER.get_int(9999) is None
    assert ORDER.require_int(54) == 1
    with pytest.raises(IncorrectDataFormatError) as info:
        ORDER.get_int(44)
    assert (info.value.reason, info.value.tag) == (6, 44)
    with pytest.raises(RequiredTagMissingError) as missing:
        ORDER.require(58)
    assert (missing.value.reason, missing.value.tag) == (1, 58)
    assert FixMessage.of("0", (43, "Y")).flag(43)
    assert not FixMessage.of("0", (43, "N")).flag(43)
    assert not ORDER.flag(43)
    with pytest.raises(ValueIncorrectError):
        FixMessage.of("0", (43, "yes")).flag(43)


def test_messages_split_anywhere_and_back_to_back_are_all_found():
    stream = LOGON_BYTES + ORDER_BYTES
    parser = FixParser(4096)
    items = [item for byte in stream for item in parser.feed(bytes([byte]))]
    assert items == [LOGON, ORDER]
    assert parser.buffered == 0


def test_bytes_before_a_message_are_skipped():
    parser = FixParser(4096)
    assert parser.feed(b"noise\x0158=8=\x01" + LOGON_BYTES) == [LOGON]
    assert parser.skipped_bytes == len(b"noise\x0158=8=\x01")


def test_bad_checksum_is_garbled_but_keeps_its_fields():
    item = garbled(LOGON_BYTES[:-4] + b"059\x01")
    assert isinstance(item.error, ChecksumError)
    assert (item.error.reason, item.error.tag) == (5, 10)
    assert item.message is not None
    assert item.message.get(34) == "1"


@pytest.mark.parametrize("declared", [60, 75])
def test_wrong_body_length_is_garbled_and_the_next_message_survives(declared):
    wrong = LOGON_BYTES.replace(b"9=68", b"9=%d" % declared)
    items = parse(wrong + ORDER_BYTES)
    assert isinstance(items[0], FixGarbled)
    assert isinstance(items[0].error, BodyLengthError)
    assert items[0].message is not None
    assert items[0].message.get(34) == "1"
    assert items[-1] == ORDER


@pytest.mark.parametrize(
    ("body", "error", "tag"),
    [
        (b"49=alice\x0135=A\x01", TagOutOfOrderError, 35),  # MsgType must be the third field
        (b"35=A\x0149=\x01", TagWithoutValueError, 49),
        (b"35=A\x01x9=alice\x01", InvalidTagNumberError, None),
        (b"35=A\x0110=123\x01", TagOutOfOrderError, 10),
    ],
)
def test_malformed_bodies_are_garbled(body, error, tag):
    item = garbled(with_checksum(b"8=FIX.4.4\x019=%d\x01" % len(body) + body))
    assert isinstance(item.error, error)
    assert item.error.tag == tag


def test_body_length_must_come_second():
    items = parse(b"8=FIX.4.4\x0135=A\x019=5\x01" + LOGON_BYTES)
    assert isinstance(items[0], FixGarbled)
    assert isinstance(items[0].error, IncorrectDataFormatError)
    assert items[-1] == LOGON


def test_a_message_over_the_limit_raises():
    with pytest.raises(MessageTooLargeError):
        FixParser(64).feed(ORDER_BYTES)
    with pytest.raises(MessageTooLargeError):  # declared, before the bytes arrive
        FixParser(1000).feed(b"8=FIX.4.4\x019=5000\x0135=A\x01")
    assert issubclass(MessageTooLargeError, ProtocolError)


def test_an_incomplete_message_waits_for_more():
    parser = FixParser(4096)
    assert parser.feed(ORDER_BYTES[:-1]) == []
    assert parser.feed(ORDER_BYTES[-1:]) == [ORDER]


def test_timestamps_round_trip_and_reject_nonsense():
    moment = datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert format_timestamp(moment) == "20250102-03:04:05.678"
    assert parse_timestamp("20250102-03:04:05.678") == moment
    assert parse_timestamp("20250102-03:04:05") == moment.replace(microsecond=0)
    assert parse_timestamp("20250102-03:04:05.678123456") == moment.replace(microsecond=678_123)
    for nonsense in ("2025-01-02 03:04:05", "20251302-03:04:05", "yesterday"):
        with pytest.raises(IncorrectDataFormatError):
            parse_timestamp(nonsense)


_values = st.text(st.characters(min_codepoint=2, max_codepoint=255), min_size=1, max_size=20)
_tags = st.integers(min_value=1, max_value=99_999).filter(lambda tag: tag not in (8, 9, 10, 35))


@given(
    msg_type=st.text("ABCDEFGHjx0123456789", min_size=1, max_size=2),
    fields=st.lists(st.tuples(_tags, _values), max_size=15),
)
def test_round_trip(msg_type, fields):
    message = FixMessage(((35, msg_type), *fields))
    encoded = encode_message(message)
    assert decode_message(encoded) == message
    assert FixParser(len(encoded)).feed(encoded + encoded[:7]) == [message]
