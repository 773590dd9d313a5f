"""The UDP feed on loopback, port 0: packets arrive in order, deliberately dropped packets are found
by sequence number and recovered over the TCP replay service, and an evicted range is refused
with a clear error."""

from __future__ import annotations

import asyncio

import pytest

from scalebox.exchange.domain import Side
from scalebox.exchange.feed import to_feed_messages
from scalebox.exchange.feedclient import FeedRecoveryError
from scalebox.exchange.protocol.feed import (
    AddOrder,
    BestBidOffer,
    DeleteOrder,
    Packet,
    TradeReport,
    TradingStatus,
    UpdateOrder,
)
from scalebox.exchange.protocol.replay import (
    ReplayDecoder,
    ReplayError,
    ReplayErrorCode,
    ReplayRequest,
    encode_replay_request,
)
from tests.exchange.integration.feed_fixtures import (
    SYMBOL,
    TIMEOUT_SECONDS,
    read,
    running_feed,
    running_market,
)

pytestmark = pytest.mark.integration


async def test_messages_arrive_in_order_and_match_market_data(tmp_path):
    async with running_market(tmp_path) as market, running_feed(market) as (feed, client):
        opening = feed.publisher.ring.next_sequence - 1  # the session's opening state
        already = len(market.messages)
        await market.order("a", Side.SELL, 10_010, 5)
        await market.order("a", Side.SELL, 10_020, 5)
        await market.order("b", Side.BUY, 10_020, 7)

        expected = to_feed_messages(market.messages[already:])
        received = await read(client, opening + len(expected))

    assert [r.sequence for r in received] == list(range(1, opening + len(expected) + 1))
    assert [r.message for r in received[opening:]] == expected
    assert [type(m) for m in expected] == [
        AddOrder, BestBidOffer,  # first ask
        AddOrder,  # second ask, behind the best
        TradeReport, DeleteOrder, TradeReport, UpdateOrder, BestBidOffer,  # the buy takes 5 + 2
    ]  # fmt: skip
    assert client.gaps_detected == 0
    assert feed.publisher.packets_sent >= 4


async def test_dropped_packets_are_detected_and_recovered_over_replay(tmp_path):
    async with running_market(tmp_path) as market, running_feed(market) as (feed, client):
        start = feed.publisher.ring.next_sequence
        await read(client, start - 1)
        packets: list[int] = []
        dropped: list[int] = []

        def drop_every_other(first: int, count: int) -> bool:
            packets.append(first)
            if len(packets) % 2:
                dropped.append(first)
            return first in dropped

        feed.publisher.skip_packet = drop_every_other
        for price in range(10_001, 10_011):
            await market.order("a", Side.SELL, price, 1)
        total = feed.publisher.ring.next_sequence - start
        received = await read(client, total)

    assert [r.sequence for r in received] == list(range(start, start + total))
    assert feed.publisher.packets_skipped == len(dropped) >= 5
    assert client.gaps_detected >= 1
    assert client.messages_recovered >= len(dropped)


async def test_a_lost_last_packet_is_found_by_the_next_heartbeat(tmp_path):
    async with running_market(tmp_path) as market, running_feed(market) as (feed, client):
        await read(client, feed.publisher.ring.next_sequence - 1)
        feed.publisher.skip_packet = lambda first, count: True
        await market.order("a", Side.BUY, 9_990, 3)
        feed.publisher.skip_packet = None
        lost = feed.publisher.ring.next_sequence - client.tracker.known_end
        assert lost > 0

        feed.publisher.send_heartbeat()  # what run_heartbeats sends after a second of silence
        received = await read(client, lost)

    assert isinstance(received[0].message, AddOrder)
    assert client.gaps_detected == 1


async def test_a_late_receiver_rebuilds_the_book_from_the_sessions_opening_state(tmp_path):
    async with running_market(tmp_path) as market:
        bid = await market.order("a", Side.BUY, 9_990, 10, display=4)
        ask = await market.order("b", Side.SELL, 10_010, 6)
        market.market_data.rebuild(market.venue.engine)  # as after a restart
        async with running_feed(market) as (feed, client):
            feed.publisher.send_heartbeat()
            received = await read(client, feed.publisher.ring.next_sequence - 1)

    messages = [r.message for r in received]
    assert TradingStatus(messages[0].timestamp_ns, SYMBOL, market.venue.engine.instruments[SYMBOL].phase,
                         False, "") == messages[0]  # fmt: skip
    adds = [(m.order_id, m.side, m.price, m.visible) for m in messages if isinstance(m, AddOrder)]
    assert adds == [(bid.order_id, Side.BUY, 9_990, 4), (ask.order_id, Side.SELL, 10_010, 6)]
    assert messages[-1] == BestBidOffer(messages[-1].timestamp_ns, SYMBOL, 9_990, 4, 10_010, 6)


async def test_recovery_of_an_evicted_range_fails_with_a_clear_error(tmp_path):
    async with (
        running_market(tmp_path) as market,
        running_feed(market, replay_messages_max=4) as (feed, client),
    ):
        feed.publisher.skip_packet = lambda first, count: True  # the client hears nothing ...
        for price in range(10_001, 10_006):
            await market.order("a", Side.SELL, price, 1)
        feed.publisher.skip_packet = None
        feed.publisher.send_heartbeat()  # ... until this, by when the start is gone from the ring

        (opening,) = await read(client, 1)  # what came before the gap is still delivered
        with pytest.raises(FeedRecoveryError, match=r"evicted.*no longer kept"):
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await client.next()
        assert isinstance(opening.message, TradingStatus)


async def test_replay_server_answers_requests_and_refuses_evicted_or_foreign_ones(tmp_path):
    async with running_market(tmp_path) as market, running_feed(market, replay_messages_max=4) as (feed, _):
        for price in range(10_001, 10_006):
            await market.order("a", Side.SELL, price, 1)
        ring = feed.publisher.ring
        session = feed.publisher.session
        frames = await ask(
            feed.replay_port,
            ReplayRequest(session, ring.first_sequence, 100),
            ReplayRequest(session, 1, 1),
            ReplayRequest("OTHER", ring.first_sequence, 1),
            ReplayRequest(session, ring.next_sequence, 5),
        )

    kept, evicted, foreign, future = frames
    assert isinstance(kept, Packet)
    assert (kept.sequence, len(kept.messages)) == (ring.first_sequence, 4)
    assert isinstance(evicted, ReplayError)
    assert evicted.code is ReplayErrorCode.EVICTED
    assert f"replay holds {ring.first_sequence} to {ring.next_sequence - 1}" in evicted.detail
    assert isinstance(foreign, ReplayError)
    assert foreign.code is ReplayErrorCode.UNKNOWN_SESSION
    assert future == Packet(session, ring.next_sequence)  # nothing yet: an empty packet


async def test_replay_server_closes_on_garbage(tmp_path):
    async with running_market(tmp_path) as market, running_feed(market) as (feed, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", feed.replay_port)
        writer.write(b"\x00\x03XYZ")
        async with asyncio.timeout(TIMEOUT_SECONDS):
            data = await reader.read()  # the error frame, then end of stream
        writer.close()

    (error,) = ReplayDecoder().feed(data)
    assert isinstance(error, ReplayError)
    assert error.code is ReplayErrorCode.BAD_REQUEST


async def ask(port: int, *requests: ReplayRequest) -> list[object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = ReplayDecoder()
    frames: list[object] = []
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            for answered, request in enumerate(requests, start=1):
                writer.write(encode_replay_request(request))
                while len(frames) < answered:
                    frames += decoder.feed(await reader.read(65536))
    finally:
        writer.close()
        await writer.wait_closed()
    return frames
