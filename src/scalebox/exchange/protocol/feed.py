"""The binary market data feed, sans-IO: MoldUDP64-style packets carrying ITCH-style messages. The
layout is our own (modelled on Nasdaq's, not compatible with it). Integers are unsigned big-endian,
as in MoldUDP64 and ITCH.

Packet (one UDP datagram; also the body of a replay response)
    0   10  session        ASCII, right-padded with spaces
    10  8   sequence       u64: the first message's sequence number (a heartbeat: the next one's)
    18  2   count          u16: messages that follow; 0 = heartbeat
    20  ..  count blocks, each: u16 length (>= 1) then that many bytes of one message

Message: every type starts with the same 9 bytes, then its fixed fields, then the symbol
(u8 length 0-32, then ASCII; "" only in a market-wide status)
    0   1   type           ASCII: A add, U update, D delete, P trade, Q BBO, H status
    1   8   timestamp_ns   u64: the sequencer's timestamp of the command that caused it
    A add order / U update order (visible size changed in place, e.g. partly executed):
        9 order_id u64 | 17 side u8 'B'/'S' | 18 price u64 | 26 visible u64 | 34 symbol
    D delete order:
        9 order_id u64 | 17 side u8 | 18 price u64 | 26 symbol
    P trade:
        9 trade_id u64 | 17 price u64 | 25 quantity u64 | 33 buy_order_id u64
        | 41 sell_order_id u64 | 49 aggressor u8 'B'/'S'/' ' (auction) | 50 symbol
    Q best bid and offer (0 price and size = that side is empty):
        9 bid_price u64 | 17 bid_size u64 | 25 ask_price u64 | 33 ask_size u64 | 41 symbol
    H trading status:
        9 phase u8 'C' closed/'A' auction/'T' continuous | 10 halted u8 0/1 | 11 symbol
        | then reason: u8 length 0-64, then UTF-8

The TCP replay service that recovers lost packets frames its requests and answers in replay.py.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scalebox.core.errors import ProtocolError
from scalebox.exchange.domain import Phase, Side

SESSION_BYTES = 10
SYMBOL_BYTES_MAX = 32
REASON_BYTES_MAX = 64
U64_MAX = (1 << 64) - 1

_HEADER = struct.Struct(">10sQH")
_U16 = struct.Struct(">H")
_PREFIX = struct.Struct(">cQ")  # type, timestamp_ns
# Each message's fixed part, type and timestamp included (the layout above).
_ORDER = struct.Struct(">cQQcQQ")  # type, timestamp_ns, order_id, side, price, visible
_DELETE = struct.Struct(">cQQcQ")
_TRADE = struct.Struct(">cQQQQQQc")
_BBO = struct.Struct(">cQQQQQ")
_STATUS = struct.Struct(">cQcB")

HEADER_BYTES = _HEADER.size

_SIDES = {Side.BUY: b"B", Side.SELL: b"S"}
_SIDE_OF = {v: k for k, v in _SIDES.items()}
_PHASES = {Phase.CLOSED: b"C", Phase.AUCTION: b"A", Phase.CONTINUOUS: b"T"}
_PHASE_OF = {v: k for k, v in _PHASES.items()}


class BadFeedDataError(ProtocolError):
    """Bytes that are not a valid feed packet, message or replay frame (or values that cannot be
    encoded into one)."""


# -- messages, in the field order of the layout above --------------------------------------
# Not frozen: on Python 3.11 a frozen dataclass takes ~4 us to build against ~0.5 us, and the
# publisher builds one per message on the sequencer's thread. Nothing mutates them.


@dataclass(slots=True)
class AddOrder:
    timestamp_ns: int
    symbol: str
    order_id: int
    side: Side
    price: int
    visible: int


@dataclass(slots=True)
class UpdateOrder:
    timestamp_ns: int
    symbol: str
    order_id: int
    side: Side
    price: int
    visible: int


@dataclass(slots=True)
class DeleteOrder:
    timestamp_ns: int
    symbol: str
    order_id: int
    side: Side
    price: int


@dataclass(slots=True)
class TradeReport:
    timestamp_ns: int
    symbol: str
    trade_id: int
    price: int
    quantity: int
    buy_order_id: int
    sell_order_id: int
    aggressor: Side | None


@dataclass(slots=True)
class BestBidOffer:
    timestamp_ns: int
    symbol: str
    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int


@dataclass(slots=True)
class TradingStatus:
    timestamp_ns: int
    symbol: str
    phase: Phase
    halted: bool
    reason: str


FeedMessage = AddOrder | UpdateOrder | DeleteOrder | TradeReport | BestBidOffer | TradingStatus


@dataclass(frozen=True, slots=True)
class Packet:
    session: str
    sequence: int
    messages: tuple[FeedMessage, ...] = ()

    @property
    def is_heartbeat(self) -> bool:
        return not self.messages


# -- encoding -------------------------------------------------------------------------------


def encode_message(message: FeedMessage) -> bytes:
    """One message's bytes (without its length prefix). Raises BadFeedDataError for values the
    layout cannot hold (negative or over u64, a long or non-ASCII symbol, a long reason)."""
    try:
        head = _ENCODERS[type(message)](message)
    except struct.error as exc:
        raise BadFeedDataError(f"cannot encode {message!r}: {exc}") from exc
    encoded = head + _symbol(message.symbol)
    if type(message) is TradingStatus:
        encoded += _text(message.reason, "utf-8", REASON_BYTES_MAX)
    return encoded


@functools.lru_cache(maxsize=4096)
def _symbol(symbol: str) -> bytes:
    # A feed carries a few symbols over and over: encode each once.
    return _text(symbol, "ascii", SYMBOL_BYTES_MAX)


def _encode_order(m: AddOrder | UpdateOrder) -> bytes:
    kind = b"A" if type(m) is AddOrder else b"U"
    return _ORDER.pack(kind, m.timestamp_ns, m.order_id, _SIDES[m.side], m.price, m.visible)


def _encode_delete(m: DeleteOrder) -> bytes:
    return _DELETE.pack(b"D", m.timestamp_ns, m.order_id, _SIDES[m.side], m.price)


def _encode_trade(m: TradeReport) -> bytes:
    aggressor = b" " if m.aggressor is None else _SIDES[m.aggressor]
    return _TRADE.pack(b"P", m.timestamp_ns, m.trade_id, m.price, m.quantity, m.buy_order_id,
                       m.sell_order_id, aggressor)  # fmt: skip


def _encode_bbo(m: BestBidOffer) -> bytes:
    return _BBO.pack(b"Q", m.timestamp_ns, m.bid_price, m.bid_size, m.ask_price, m.ask_size)


def _encode_status(m: TradingStatus) -> bytes:
    return _STATUS.pack(b"H", m.timestamp_ns, _PHASES[m.phase], int(m.halted))


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    AddOrder: _encode_order,
    UpdateOrder: _encode_order,
    DeleteOrder: _encode_delete,
    TradeReport: _encode_trade,
    BestBidOffer: _encode_bbo,
    TradingStatus: _encode_status,
}


def _text(value: str, encoding: str, bytes_max: int) -> bytes:
    try:
        raw = value.encode(encoding)
    except UnicodeEncodeError as exc:
        raise BadFeedDataError(f"{value!r} is not {encoding}") from exc
    if len(raw) > bytes_max:
        raise BadFeedDataError(f"{value!r} is longer than {bytes_max} bytes")
    return bytes([len(raw)]) + raw


def encode_block(message: FeedMessage) -> bytes:
    """A message with its u16 length prefix, as it sits in a packet."""
    body = encode_message(message)
    return _U16.pack(len(body)) + body


def frame_packet(session: str, sequence: int, blocks: Sequence[bytes]) -> bytes:
    """A packet around already encoded blocks (`encode_block`); no blocks = a heartbeat."""
    if len(blocks) > 0xFFFE:
        raise BadFeedDataError(f"{len(blocks)} messages do not fit in one packet")
    return encode_header(session, sequence, len(blocks)) + b"".join(blocks)


def encode_header(session: str, sequence: int, count: int) -> bytes:
    """The 20-byte packet header (also the body of a replay request)."""
    if len(session) > SESSION_BYTES or not session.isascii():
        raise BadFeedDataError(f"session {session!r} is not up to {SESSION_BYTES} ASCII characters")
    try:
        return _HEADER.pack(session.encode("ascii").ljust(SESSION_BYTES), sequence, count)
    except struct.error as exc:
        raise BadFeedDataError(f"sequence {sequence} out of range") from exc


def encode_packet(packet: Packet) -> bytes:
    return frame_packet(packet.session, packet.sequence, [encode_block(m) for m in packet.messages])


# -- decoding -------------------------------------------------------------------------------


def decode_packet(data: bytes) -> Packet:
    """Parse one packet; raises BadFeedDataError for anything malformed."""
    if len(data) < HEADER_BYTES:
        raise BadFeedDataError(f"a packet of {len(data)} bytes is shorter than its header")
    session, sequence, count = decode_header(data)
    messages: list[FeedMessage] = []
    offset = HEADER_BYTES
    for _ in range(count):
        if offset + 2 > len(data):
            raise BadFeedDataError(f"packet ends before message {len(messages) + 1} of {count}")
        (length,) = _U16.unpack_from(data, offset)
        offset += 2
        if length == 0 or offset + length > len(data):
            raise BadFeedDataError(f"message {len(messages) + 1} has a bad length {length}")
        messages.append(decode_message(data[offset : offset + length]))
        offset += length
    if offset != len(data):
        raise BadFeedDataError(f"{len(data) - offset} bytes after the packet's {count} messages")
    if count and sequence + count - 1 > U64_MAX:
        raise BadFeedDataError("sequence numbers overflow u64")
    return Packet(session, sequence, tuple(messages))


def decode_header(data: bytes) -> tuple[str, int, int]:
    """(session, sequence, count) from the first 20 bytes of `data`."""
    raw, sequence, count = _HEADER.unpack_from(data)
    if not raw.isascii():
        raise BadFeedDataError(f"session {raw!r} is not ASCII")
    return raw.decode("ascii").rstrip(" "), sequence, count


def decode_message(data: bytes) -> FeedMessage:
    """Parse one message (without its length prefix)."""
    if len(data) < _PREFIX.size:
        raise BadFeedDataError(f"a message of {len(data)} bytes is too short")
    kind, timestamp_ns = _PREFIX.unpack_from(data)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise BadFeedDataError(f"unknown message type {kind!r}")
    try:
        return decoder(data, timestamp_ns)
    except (struct.error, KeyError, IndexError) as exc:
        raise BadFeedDataError(f"malformed {kind!r} message: {exc!r}") from exc


def _read_text(data: bytes, offset: int, encoding: str, bytes_max: int) -> tuple[str, int]:
    length = data[offset]
    end = offset + 1 + length
    if length > bytes_max or end > len(data):
        raise BadFeedDataError(f"text field of {length} bytes at offset {offset} does not fit")
    try:
        text = data[offset + 1 : end].decode(encoding)
    except UnicodeDecodeError as exc:
        raise BadFeedDataError(f"text field at offset {offset} is not {encoding}") from exc
    return text, end


def _symbol_tail(data: bytes, offset: int) -> str:
    symbol, end = _read_text(data, offset, "ascii", SYMBOL_BYTES_MAX)
    if end != len(data):
        raise BadFeedDataError(f"{len(data) - end} unexpected bytes after the symbol")
    return symbol


def _decode_order(data: bytes, ts: int) -> FeedMessage:
    kind, _, order_id, side, price, visible = _ORDER.unpack_from(data)
    cls = AddOrder if kind == b"A" else UpdateOrder
    return cls(ts, _symbol_tail(data, _ORDER.size), order_id, _SIDE_OF[side], price, visible)


def _decode_delete(data: bytes, ts: int) -> FeedMessage:
    _, _, order_id, side, price = _DELETE.unpack_from(data)
    return DeleteOrder(ts, _symbol_tail(data, _DELETE.size), order_id, _SIDE_OF[side], price)


def _decode_trade(data: bytes, ts: int) -> FeedMessage:
    _, _, trade_id, price, quantity, buy_id, sell_id, aggressor = _TRADE.unpack_from(data)
    side = None if aggressor == b" " else _SIDE_OF[aggressor]
    symbol = _symbol_tail(data, _TRADE.size)
    return TradeReport(ts, symbol, trade_id, price, quantity, buy_id, sell_id, side)


def _decode_bbo(data: bytes, ts: int) -> FeedMessage:
    _, _, bid_price, bid_size, ask_price, ask_size = _BBO.unpack_from(data)
    return BestBidOffer(ts, _symbol_tail(data, _BBO.size), bid_price, bid_size, ask_price, ask_size)


def _decode_status(data: bytes, ts: int) -> FeedMessage:
    _, _, phase, halted = _STATUS.unpack_from(data)
    if halted > 1:
        raise BadFeedDataError(f"halted flag {halted} is not 0 or 1")
    symbol, offset = _read_text(data, _STATUS.size, "ascii", SYMBOL_BYTES_MAX)
    reason, end = _read_text(data, offset, "utf-8", REASON_BYTES_MAX)
    if end != len(data):
        raise BadFeedDataError(f"{len(data) - end} unexpected bytes after the reason")
    return TradingStatus(ts, symbol, _PHASE_OF[phase], bool(halted), reason)


_DECODERS = {b"A": _decode_order, b"U": _decode_order, b"D": _decode_delete, b"P": _decode_trade,
             b"Q": _decode_bbo, b"H": _decode_status}  # fmt: skip
