"""A real venue (journal, sequencer, engine) in this process with market data attached, the UDP feed
on loopback port 0 and a FeedClient, for the market data integration tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalebox.core.clock import SystemClock
from scalebox.exchange.domain import (
    DefineInstrument,
    DefineParticipant,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    SetPhase,
    Side,
    TimeInForce,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.feed import Feed, start_feed
from scalebox.exchange.feedclient import FeedClient, Sequenced
from scalebox.exchange.marketbook import Message
from scalebox.exchange.service.marketdata import MarketData
from scalebox.exchange.service.venue import Venue
from scalebox.exchange.storage.journal import Journal

SYMBOL = "ACME"
PARTICIPANTS = ("a", "b", "c")
TIMEOUT_SECONDS = 10.0


@dataclass
class Market:
    venue: Venue
    market_data: MarketData
    messages: list[Message] = field(default_factory=list)  # every market data message, in order

    async def order(self, participant: str, side: Side, price: int, quantity: int, **extra: Any) -> Order:
        order = make_limit(participant, side, price, quantity, **extra)
        await self.venue.submit(order)
        return order


_cl_ord_ids = iter(range(1, 1 << 30))


def make_limit(participant: str, side: Side, price: int, quantity: int, **extra: Any) -> Order:
    """A GTC limit order for ACME (reference price 10_000 ticks, so 9_500-10_500 trades freely)."""
    return Order(participant, SYMBOL, f"o{next(_cl_ord_ids)}", side, OrderType.LIMIT, TimeInForce.GTC,
                 quantity, price, **extra)  # fmt: skip


@contextlib.asynccontextmanager
async def running_market(tmp_path: Path, **limits: int) -> AsyncIterator[Market]:
    """The venue, sequencing into a journal under tmp_path, with ACME open for continuous trading."""
    journal = Journal(tmp_path / "journal")
    journal.open()
    venue = Venue(MatchingEngine(), journal, SystemClock())
    task = asyncio.create_task(venue.run())
    market_data = MarketData(**limits)
    market = Market(venue, market_data)
    market_data.rebuild(venue.engine)
    venue.add_listener(market_data.on_applied)
    market_data.add_sink(market.messages.extend)
    try:
        await venue.submit_many([DefineInstrument(Instrument(SYMBOL))])
        await venue.submit_many([DefineParticipant(Participant(p)) for p in PARTICIPANTS])
        await venue.submit(SetPhase("", Phase.CONTINUOUS))
        yield market
    finally:
        venue.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        journal.close()


@contextlib.asynccontextmanager
async def running_feed(
    market: Market, *, replay_messages_max: int = 10_000, first_sequence: int | None = 1
) -> AsyncIterator[tuple[Feed, FeedClient]]:
    """The feed publishing to a FeedClient, both on loopback port 0."""
    client = FeedClient(replay_port=0, first_sequence=first_sequence)
    await client.start()
    feed = await start_feed(market.market_data, clock=SystemClock(), group="127.0.0.1", port=client.port,
                            replay_port=0, replay_messages_max=replay_messages_max)  # fmt: skip
    client.replay_port = feed.replay_port
    try:
        yield feed, client
    finally:
        await client.stop()
        await feed.stop()


async def read(client: FeedClient, count: int) -> list[Sequenced]:
    """The next `count` messages, in order, within the timeout."""
    received: list[Sequenced] = []
    async with asyncio.timeout(TIMEOUT_SECONDS):
        async for item in client:
            received.append(item)
            if len(received) >= count:
                break
    assert len(received) == count, "read(0) would wait for nothing"
    return received
