"""The feed receiver's pure part: in-order delivery, exactly once, from packets that arrive out of
order, twice or not at all, and the ranges it must ask the replay service for."""

from __future__ import annotations

import pytest

from scalebox.exchange.domain import Side
from scalebox.exchange.feedclient import FeedOverrunError, GapTracker, Sequenced, render_line
from scalebox.exchange.protocol.feed import DeleteOrder


def messages(first: int, count: int) -> tuple[DeleteOrder, ...]:
    return tuple(DeleteOrder(0, "ACME", seq, Side.BUY, 100) for seq in range(first, first + count))


def delivered(items: list[Sequenced]) -> list[int]:
    return [item.sequence for item in items]


def test_in_order_packets_are_delivered_at_once():
    tracker = GapTracker()
    tracker.receive(1, messages(1, 3))

    assert delivered(tracker.ready()) == [1, 2, 3]
    assert tracker.missing() is None


def test_a_gap_is_reported_and_filled_out_of_order():
    tracker = GapTracker()
    tracker.receive(1, messages(1, 2))
    tracker.receive(6, messages(6, 2))

    assert delivered(tracker.ready()) == [1, 2]
    assert tracker.missing() == (3, 3)
    tracker.receive(3, messages(3, 3))  # the replay's answer
    assert delivered(tracker.ready()) == [3, 4, 5, 6, 7]
    assert tracker.missing() is None


def test_duplicates_are_delivered_once():
    tracker = GapTracker()
    tracker.receive(1, messages(1, 3))
    tracker.ready()
    tracker.receive(2, messages(2, 3))  # overlaps what was delivered

    assert delivered(tracker.ready()) == [4]


def test_a_heartbeat_reveals_a_lost_last_packet():
    tracker = GapTracker()
    tracker.receive(1, messages(1, 2))
    tracker.ready()
    tracker.receive(5, ())  # heartbeat: the next message is 5

    assert tracker.missing() == (3, 2)


def test_a_late_start_asks_for_everything_from_the_first_sequence():
    tracker = GapTracker(first_sequence=1)
    tracker.receive(100, messages(100, 1))

    assert tracker.ready() == []
    assert tracker.missing() == (1, 99)


def test_without_a_first_sequence_the_first_packet_heard_starts_the_stream():
    tracker = GapTracker(first_sequence=None)
    tracker.receive(100, messages(100, 1))

    assert delivered(tracker.ready()) == [100]


def test_a_missing_range_is_capped_to_one_replay_request():
    tracker = GapTracker()
    tracker.receive(100_000, ())

    assert tracker.missing() == (1, 0xFFFF)


def test_too_many_messages_waiting_for_a_gap_overrun():
    tracker = GapTracker(pending_max=3)
    with pytest.raises(FeedOverrunError):
        tracker.receive(10, messages(10, 4))


def test_render_line_names_the_message_and_its_fields():
    line = render_line(Sequenced(7, DeleteOrder(123, "ACME", 9, Side.SELL, 101)))

    assert line == "7 DeleteOrder symbol=ACME order_id=9 side=sell price=101"
