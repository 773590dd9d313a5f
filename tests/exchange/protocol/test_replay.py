"""The replay service's framing: golden bytes, round trips however the TCP stream is cut, and
malformed frames that raise BadFeedDataError (a ProtocolError)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.errors import ProtocolError
from scalebox.exchange.protocol.feed import BadFeedDataError, Packet, encode_packet
from scalebox.exchange.protocol.replay import (
    ReplayDecoder,
    ReplayError,
    ReplayErrorCode,
    ReplayRequest,
    decode_replay_frame,
    encode_replay_error,
    encode_replay_packet,
    encode_replay_request,
)

U64 = st.integers(0, 2**64 - 1)
SESSIONS = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10)


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def test_replay_frames_golden_bytes():
    request = encode_replay_request(ReplayRequest("S1", 100, 20))
    error = encode_replay_error(ReplayError(ReplayErrorCode.EVICTED, "gone"))
    response = encode_replay_packet(encode_packet(Packet("S1", 100)))

    assert request == u16(21) + b"R" + b"S1        " + u64(100) + u16(
        20
    )  # length, kind, session, first, count
    assert error == u16(6) + b"E" + b"\x01" + b"gone"  # length, kind, code (evicted), detail
    assert response == u16(21) + b"P" + b"S1        " + u64(100) + u16(0)  # length, kind, packet
    frames = ReplayDecoder().feed(request + error + response)
    assert frames == [
        ReplayRequest("S1", 100, 20),
        ReplayError(ReplayErrorCode.EVICTED, "gone"),
        Packet("S1", 100),
    ]


@given(
    request=st.builds(ReplayRequest, SESSIONS, U64, st.integers(1, 0xFFFF)),
    error=st.builds(ReplayError, st.sampled_from(ReplayErrorCode), st.text(max_size=200)),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_replay_frames_round_trip_however_the_stream_is_cut(request, error, cuts):
    stream = encode_replay_request(request) + encode_replay_error(error)
    decoder = ReplayDecoder()
    frames = []
    start = 0
    for cut in sorted(cuts):
        frames += decoder.feed(stream[start:cut])
        start = max(start, cut)
    frames += decoder.feed(stream[start:])

    assert frames == [request, error]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"X123", id="unknown-kind"),
        pytest.param(b"R" + bytes(19), id="short-request"),
        pytest.param(b"R" + b"S1        " + u64(1) + u16(0), id="zero-count"),
        pytest.param(b"E", id="error-without-code"),
        pytest.param(b"E\x09nope", id="unknown-error-code"),
        pytest.param(b"P" + b"S1", id="short-packet"),
    ],
)
def test_malformed_replay_frames_raise_a_protocol_error(body):
    with pytest.raises(BadFeedDataError):
        decode_replay_frame(body)


def test_a_request_for_no_messages_is_refused_on_encode():
    with pytest.raises(BadFeedDataError):
        encode_replay_request(ReplayRequest("S1", 1, 0))


@given(data=st.binary(max_size=200))
def test_random_bytes_decode_or_raise_a_protocol_error(data):
    with contextlib.suppress(ProtocolError):
        ReplayDecoder().feed(data)
