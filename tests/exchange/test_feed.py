"""The feed's server side without sockets: the replay ring (eviction, wrap-around, frame budget),
packet batching under the size limit, replay answers, and the opening state of a session."""

from __future__ import annotations

import pytest

from scalebox.core.clock import FakeClock
from scalebox.exchange.domain import Phase, Side
from scalebox.exchange.feed import (
    FeedPublisher,
    FeedRing,
    ReplayRangeEvictedError,
    ReplayServer,
    make_session,
    state_messages,
)
from scalebox.exchange.marketbook import MarketBook
from scalebox.exchange.protocol.feed import (
    HEADER_BYTES,
    AddOrder,
    BestBidOffer,
    TradingStatus,
    decode_message,
)
from scalebox.exchange.protocol.replay import ReplayError, ReplayErrorCode, ReplayRequest, decode_replay_frame


def test_ring_keeps_the_last_capacity_blocks_across_wrap_around():
    ring = FeedRing(3)
    for n in range(1, 8):
        assert ring.append(bytes([n])) == n

    assert (ring.first_sequence, ring.next_sequence) == (5, 8)
    assert ring.get(5, 10, 100) == [b"\x05", b"\x06", b"\x07"]
    assert ring.get(8, 1, 100) == []
    with pytest.raises(ReplayRangeEvictedError, match="replay holds 5 to 7"):
        ring.get(4, 1, 100)


def test_ring_answers_no_more_than_the_byte_budget():
    ring = FeedRing(10)
    for _ in range(5):
        ring.append(b"xxxx")

    assert len(ring.get(1, 5, 9)) == 2


def test_publisher_batches_one_commands_messages_into_packets_under_the_size_limit():
    ring = FeedRing(1_000)
    publisher = FeedPublisher(ring, session="S", group="127.0.0.1", port=9, clock=FakeClock())
    packets: list[tuple[int, int]] = []

    def record(first: int, count: int) -> bool:
        packets.append((first, count))
        return True  # never sent: the publisher is not even started

    publisher.skip_packet = record
    orders = [AddOrder(0, "ACME", n, Side.BUY, 10_000, 1) for n in range(1, 101)]

    publisher.publish_feed(orders)

    sizes = [HEADER_BYTES + sum(len(b) for b in ring.get(first, count, 1 << 20)) for first, count in packets]
    assert len(packets) >= 4
    assert all(size <= 1_400 for size in sizes)
    assert [first for first, _ in packets] == [
        1 + sum(c for _, c in packets[:i]) for i in range(len(packets))
    ]
    assert [decode_message(block[2:]) for block in ring.get(1, 100, 1 << 20)] == orders


def test_replay_server_refuses_an_evicted_range_without_a_socket():
    ring = FeedRing(2)
    for _ in range(3):
        ring.append(b"block")
    server = ReplayServer(ring, session="S")

    answer = decode_replay_frame(server.answer(ReplayRequest("S", 1, 1))[2:])

    assert isinstance(answer, ReplayError)
    assert answer.code is ReplayErrorCode.EVICTED


def test_a_session_opens_with_status_orders_and_bbo():
    book = MarketBook()
    orders = [(1, Side.BUY, 99, 5), (2, Side.SELL, 101, 3)]
    book.restore("ACME", phase=Phase.CONTINUOUS, halted=False, reason="", last_price=0, orders=orders)

    opening = state_messages(book, 7)

    assert opening == [
        TradingStatus(7, "ACME", Phase.CONTINUOUS, False, ""),
        AddOrder(7, "ACME", 1, Side.BUY, 99, 5),
        AddOrder(7, "ACME", 2, Side.SELL, 101, 3),
        BestBidOffer(7, "ACME", 99, 5, 101, 3),
    ]


def test_session_names_fit_the_header():
    assert make_session(FakeClock().now()) == "0101000000"
