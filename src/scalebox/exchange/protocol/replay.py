"""The framing of the feed's TCP replay service, sans-IO: a receiver that missed packets asks for
a range of sequence numbers and gets them back in the feed's own packet format (feed.py).

Replay (TCP, both ways): frames of u16 length then that many bytes; the first byte is the kind
    R request   1 session 10 | 11 first_sequence u64 | 19 count u16 (1-65535)
    P response  1 a feed packet: messages from first_sequence on, as many as the server still has
                and fit in one frame (fewer than asked: ask again for the rest; none = none yet)
    E error     1 code u8 (1 evicted, 2 unknown session, 3 bad request) | 2 detail UTF-8
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from scalebox.exchange.protocol.feed import (
    HEADER_BYTES,
    BadFeedDataError,
    Packet,
    decode_header,
    decode_packet,
    encode_header,
)

FRAME_BYTES_MAX = 0xFFFF

_U16 = struct.Struct(">H")


class ReplayErrorCode(IntEnum):
    EVICTED = 1
    UNKNOWN_SESSION = 2
    BAD_REQUEST = 3


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    session: str
    first_sequence: int
    count: int


@dataclass(frozen=True, slots=True)
class ReplayError:
    code: ReplayErrorCode
    detail: str


ReplayFrame = ReplayRequest | Packet | ReplayError


def encode_replay_request(request: ReplayRequest) -> bytes:
    """An R frame; raises BadFeedDataError for a count outside 1-65535 or a bad session."""
    if not 1 <= request.count <= 0xFFFF:
        raise BadFeedDataError(f"replay count {request.count} is not 1-65535")
    raw = encode_header(request.session, request.first_sequence, request.count)
    return _frame(b"R" + raw)


def encode_replay_packet(packet_bytes: bytes) -> bytes:
    """A P frame around an already framed packet (feed.frame_packet)."""
    return _frame(b"P" + packet_bytes)


def encode_replay_error(error: ReplayError) -> bytes:
    detail = error.detail.encode("utf-8")[: FRAME_BYTES_MAX - 2]
    return _frame(b"E" + bytes([error.code]) + detail)


def _frame(body: bytes) -> bytes:
    if len(body) > FRAME_BYTES_MAX:
        raise BadFeedDataError(f"a replay frame of {len(body)} bytes is over {FRAME_BYTES_MAX}")
    return _U16.pack(len(body)) + body


class ReplayDecoder:
    """Splits a replay connection's byte stream into frames (either direction)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[ReplayFrame]:
        self._buffer += data
        frames: list[ReplayFrame] = []
        while len(self._buffer) >= 2:
            (length,) = _U16.unpack_from(self._buffer)
            if len(self._buffer) < 2 + length:
                break  # wait for the rest of the frame
            body = bytes(self._buffer[2 : 2 + length])
            del self._buffer[: 2 + length]
            frames.append(decode_replay_frame(body))
        return frames


def decode_replay_frame(body: bytes) -> ReplayFrame:
    """One frame's body (after its length); raises BadFeedDataError when malformed."""
    kind, rest = body[:1], body[1:]
    if kind == b"R":
        if len(rest) != HEADER_BYTES:
            raise BadFeedDataError(f"a replay request of {len(rest)} bytes, not {HEADER_BYTES}")
        session, first, count = decode_header(rest)
        if count == 0:
            raise BadFeedDataError("a replay request for 0 messages")
        return ReplayRequest(session, first, count)
    if kind == b"P":
        return decode_packet(rest)
    if kind == b"E":
        try:
            code = ReplayErrorCode(rest[0])
        except (IndexError, ValueError) as exc:
            raise BadFeedDataError("a replay error without a known code") from exc
        return ReplayError(code, rest[1:].decode("utf-8", "replace"))
    raise BadFeedDataError(f"unknown replay frame kind {kind!r}")
