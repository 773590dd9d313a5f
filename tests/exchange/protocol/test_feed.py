"""The binary feed codec: golden bytes field by field, Hypothesis round trips, and hostile input
that must raise BadFeedDataError (a ProtocolError) and nothing else. Replay framing: test_replay.py."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.errors import ProtocolError
from scalebox.exchange.domain import Phase, Side
from scalebox.exchange.protocol import feed as feed_codec
from scalebox.exchange.protocol.feed import (
    AddOrder,
    BadFeedDataError,
    BestBidOffer,
    DeleteOrder,
    Packet,
    TradeReport,
    TradingStatus,
    UpdateOrder,
    decode_message,
    decode_packet,
    encode_message,
    encode_packet,
)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


# -- golden bytes ---------------------------------------------------------------------------------


def test_packet_with_an_add_order_golden_bytes():
    packet = Packet("S1", 5, (AddOrder(1_700_000_000_000_000_000, "ACME", 7, Side.BUY, 10_050, 300),))

    expected = (
        b"S1        "  # 0   session, 10 bytes ASCII, space-padded
        + u64(5)  # 10  sequence number of the first message
        + u16(1)  # 18  message count
        + u16(39)  # 20  block length: the message that follows is 39 bytes
        + b"A"  # 0   type: add order
        + u64(1_700_000_000_000_000_000)  # 1   timestamp_ns
        + u64(7)  # 9   order_id
        + b"B"  # 17  side: buy
        + u64(10_050)  # 18  price in ticks
        + u64(300)  # 26  visible quantity
        + b"\x04ACME"  # 34  symbol: u8 length, ASCII
    )
    assert encode_packet(packet) == expected
    assert decode_packet(expected) == packet


def test_heartbeat_is_a_header_with_count_zero():
    encoded = encode_packet(Packet("S1", 42))

    assert encoded == b"S1        " + u64(42) + u16(0)
    assert decode_packet(encoded).is_heartbeat


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            DeleteOrder(9, "X", 7, Side.SELL, 101),
            b"D" + u64(9) + u64(7) + b"S" + u64(101) + b"\x01X",  # type, ts, order_id, side, price, symbol
        ),
        (
            TradeReport(9, "X", 3, 101, 50, 7, 8, None),
            # type, ts, trade_id, price, quantity, buy_order_id, sell_order_id, aggressor (auction), symbol
            b"P" + u64(9) + u64(3) + u64(101) + u64(50) + u64(7) + u64(8) + b" " + b"\x01X",
        ),
        (
            BestBidOffer(9, "X", 100, 5, 0, 0),
            # type, ts, bid price, bid size, ask price (none), ask size, symbol
            b"Q" + u64(9) + u64(100) + u64(5) + u64(0) + u64(0) + b"\x01X",
        ),
        (
            TradingStatus(9, "", Phase.AUCTION, True, "operator"),
            # type, ts, phase, halted, symbol (market-wide: empty), reason
            b"H" + u64(9) + b"A" + b"\x01" + b"\x00" + b"\x08operator",
        ),
    ],
)
def test_message_golden_bytes(message, expected):
    assert encode_message(message) == expected
    assert decode_message(expected) == message


# -- round trips ----------------------------------------------------------------------------------

U64 = st.integers(0, 2**64 - 1)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
SYMBOLS = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=32)
REASONS = st.text(max_size=64).filter(lambda r: len(r.encode("utf-8")) <= 64)
SESSIONS = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10)

MESSAGES = st.one_of(
    st.builds(AddOrder, U64, SYMBOLS, U64, SIDES, U64, U64),
    st.builds(UpdateOrder, U64, SYMBOLS, U64, SIDES, U64, U64),
    st.builds(DeleteOrder, U64, SYMBOLS, U64, SIDES, U64),
    st.builds(TradeReport, U64, SYMBOLS, U64, U64, U64, U64, U64, st.one_of(st.none(), SIDES)),
    st.builds(BestBidOffer, U64, SYMBOLS, U64, U64, U64, U64),
    st.builds(TradingStatus, U64, SYMBOLS, st.sampled_from(Phase), st.booleans(), REASONS),
)


@given(session=SESSIONS, sequence=st.integers(0, 2**63), messages=st.lists(MESSAGES, max_size=20))
def test_packet_round_trip(session, sequence, messages):
    packet = Packet(session, sequence, tuple(messages))

    assert decode_packet(encode_packet(packet)) == packet


# -- hostile input --------------------------------------------------------------------------------

GOOD = encode_packet(Packet("S1", 5, (AddOrder(1, "ACME", 7, Side.BUY, 100, 3),)))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(GOOD[:19], id="short-header"),
        pytest.param(GOOD[:-1], id="truncated-message"),
        pytest.param(GOOD + b"\x00", id="trailing-byte"),
        pytest.param(GOOD[:18] + u16(2) + GOOD[20:], id="count-over-blocks"),
        pytest.param(GOOD[:20] + u16(0) + GOOD[22:], id="zero-length-block"),
        pytest.param(GOOD[:20] + u16(999) + GOOD[22:], id="block-past-end"),
        pytest.param(GOOD[:22] + b"Z" + GOOD[23:], id="unknown-type"),
        pytest.param(GOOD[:39] + b"X" + GOOD[40:], id="bad-side"),
        pytest.param(GOOD[:-5] + b"\x05ACME", id="symbol-length-past-end"),
        pytest.param(GOOD[:-5] + b"\x03ACME", id="bytes-after-symbol"),
        pytest.param(GOOD[:-4] + b"AC\xffE", id="non-ascii-symbol"),
        pytest.param(b"S\xff" + GOOD[2:], id="non-ascii-session"),
    ],
)
def test_malformed_packets_raise_a_protocol_error(data):
    with pytest.raises(BadFeedDataError):
        decode_packet(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"H" + u64(1) + b"T\x02\x00\x00", id="halted-not-boolean"),
        pytest.param(b"H" + u64(1) + b"X\x00\x00\x00", id="unknown-phase"),
        pytest.param(b"H" + u64(1) + b"T\x00\x00\x02\xff\xfe", id="reason-not-utf8"),
        pytest.param(b"H" + u64(1) + b"T\x00\x00", id="no-reason-length"),
        pytest.param(b"P" + u64(1) + bytes(40) + b"Q\x00", id="bad-aggressor"),
        pytest.param(b"Q" + u64(1), id="short-bbo"),
        pytest.param(b"A", id="only-a-type"),
    ],
)
def test_malformed_messages_raise_a_protocol_error(data):
    with pytest.raises(BadFeedDataError):
        decode_message(data)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(AddOrder(1, "ACME", 7, Side.BUY, -1, 3), id="negative-price"),
        pytest.param(AddOrder(1, "ACME", 2**64, Side.BUY, 1, 3), id="order-id-over-u64"),
        pytest.param(DeleteOrder(1, "A" * 33, 7, Side.BUY, 1), id="long-symbol"),
        pytest.param(DeleteOrder(1, "ÄCME", 7, Side.BUY, 1), id="non-ascii-symbol"),
        pytest.param(TradingStatus(1, "", Phase.CLOSED, False, "é" * 33), id="long-reason"),
    ],
)
def test_values_the_layout_cannot_hold_are_refused_on_encode(message):
    with pytest.raises(BadFeedDataError):
        encode_message(message)


def test_a_long_session_is_refused_on_encode():
    with pytest.raises(BadFeedDataError):
        encode_packet(Packet("ELEVENCHARS", 1))


@given(data=st.binary(max_size=200))
def test_random_bytes_decode_or_raise_a_protocol_error(data):
    with contextlib.suppress(ProtocolError):
        decode_packet(data)


@given(data=st.binary(max_size=60))
def test_random_message_bodies_decode_or_raise_a_protocol_error(data):
    for kind in b"AUDPQH":
        with contextlib.suppress(ProtocolError):
            decode_message(bytes([kind]) + data)


def test_struct_layout_sizes_match_the_documented_offsets():
    # The docstring's offsets against the codec's own structs: fixed parts end where the symbol starts.
    assert feed_codec._ORDER.size == 34  # add/update: symbol at 34
    assert feed_codec._DELETE.size == 26  # delete: symbol at 26
    assert feed_codec._TRADE.size == 50  # trade: symbol at 50
    assert feed_codec._BBO.size == 41  # BBO: symbol at 41
