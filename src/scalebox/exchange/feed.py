"""The binary market data feed's server side: MarketData's messages numbered into a bounded ring and
sent over UDP in packets of at most ~1400 bytes to feed_group:feed_port (heartbeats every second
when idle), and the TCP replay service that answers for the ring. The receiving side is
feedclient.py; the wire layout is protocol/feed.py.

A session opens with the venue's current state (a status, every visible order and the BBO per
instrument), so a receiver that replays the session from sequence 1 rebuilds the books, as long
as the ring still holds the start. A restart begins a new session named by `make_session`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from scalebox.core.clock import Clock, epoch_ns
from scalebox.core.errors import NotFoundError
from scalebox.exchange.domain import BookAction, Phase, Side
from scalebox.exchange.marketbook import (
    Channel,
    L1Update,
    L3Snapshot,
    L3Update,
    MarketBook,
    Message,
    StatusSnapshot,
    StatusUpdate,
    TradeUpdate,
)
from scalebox.exchange.protocol.feed import (
    HEADER_BYTES,
    REASON_BYTES_MAX,
    AddOrder,
    BadFeedDataError,
    BestBidOffer,
    DeleteOrder,
    FeedMessage,
    TradeReport,
    TradingStatus,
    UpdateOrder,
    encode_block,
    frame_packet,
)
from scalebox.exchange.protocol.replay import (
    FRAME_BYTES_MAX,
    ReplayDecoder,
    ReplayError,
    ReplayErrorCode,
    ReplayFrame,
    ReplayRequest,
    encode_replay_error,
    encode_replay_packet,
)
from scalebox.exchange.service.marketdata import MarketData

log = structlog.get_logger("scalebox.exchange")

PACKET_BYTES_MAX = 1400  # stays under a typical 1500-byte MTU with IP and UDP headers
HEARTBEAT_SECONDS = 1.0
REPLAY_CONNECTIONS_MAX = 64
REPLAY_READ_BYTES = 64 << 10
_REPLAY_BLOCK_BYTES_MAX = FRAME_BYTES_MAX - 1 - HEADER_BYTES  # one response frame's messages


class ReplayRangeEvictedError(NotFoundError):
    """The messages asked for are older than the oldest the replay ring still keeps."""


def make_session(now: datetime) -> str:
    """A 10-character session name from the start time (MMDDhhmmss): a restart starts a new one."""
    return now.strftime("%m%d%H%M%S")


def to_feed_messages(messages: Sequence[Message]) -> list[FeedMessage]:
    """The feed's view of market data messages: L3, trades, BBO and status (no L2: receivers
    aggregate the order-by-order book themselves)."""
    out: list[FeedMessage] = []
    for m in messages:
        if isinstance(m, L3Update):
            if m.action is BookAction.DELETE:
                out.append(DeleteOrder(m.timestamp_ns, m.symbol, m.order_id, m.side, m.price))
            else:
                cls = AddOrder if m.action is BookAction.ADD else UpdateOrder
                out.append(cls(m.timestamp_ns, m.symbol, m.order_id, m.side, m.price, m.visible))
        elif isinstance(m, TradeUpdate):
            out.append(TradeReport(m.timestamp_ns, m.symbol, m.trade_id, m.price, m.quantity,
                                   m.buy_order_id, m.sell_order_id, m.aggressor))  # fmt: skip
        elif isinstance(m, L1Update):
            q = m.quote
            out.append(
                BestBidOffer(m.timestamp_ns, m.symbol, q.bid_price, q.bid_size, q.ask_price, q.ask_size)
            )
        elif isinstance(m, StatusUpdate):
            out.append(TradingStatus(m.timestamp_ns, m.symbol, m.phase, m.halted, _clip(m.reason)))
    return out


def _clip(reason: str) -> str:
    return reason.encode("utf-8")[:REASON_BYTES_MAX].decode("utf-8", "ignore")


def state_messages(book: MarketBook, timestamp_ns: int) -> list[FeedMessage]:
    """The current state as feed messages: what a session opens with."""
    out: list[FeedMessage] = []
    if book.market_halted:
        # As the engine reports it: a market-wide status's phase carries no meaning.
        out.append(TradingStatus(timestamp_ns, "", Phase.CONTINUOUS, True, _clip(book.market_reason)))
    for symbol in sorted(book.symbols):
        status = book.snapshot(symbol, Channel.STATUS)
        assert isinstance(status, StatusSnapshot)
        out.append(TradingStatus(timestamp_ns, symbol, status.phase, status.halted, _clip(status.reason)))
        orders = book.snapshot(symbol, Channel.L3)
        assert isinstance(orders, L3Snapshot)
        for side, entries in ((Side.BUY, orders.bids), (Side.SELL, orders.asks)):
            out.extend(AddOrder(timestamp_ns, symbol, e.order_id, side, e.price, e.visible) for e in entries)
        q = book.symbols[symbol].quote
        if q.bid_size or q.ask_size:
            out.append(BestBidOffer(timestamp_ns, symbol, q.bid_price, q.bid_size, q.ask_price, q.ask_size))
    return out


class FeedRing:
    """The last `capacity` encoded message blocks by sequence number, for replay. A list used as
    a circular buffer: sequence s lives at index (s - 1) % capacity, so any range is O(its size)."""

    def __init__(self, capacity: int) -> None:
        assert capacity >= 1, capacity
        self.capacity = capacity
        self.next_sequence = 1
        self._blocks: list[bytes] = []

    @property
    def first_sequence(self) -> int:
        """The oldest sequence number still kept (== next_sequence when empty)."""
        return self.next_sequence - len(self._blocks)

    def append(self, block: bytes) -> int:
        sequence = self.next_sequence
        if len(self._blocks) < self.capacity:
            self._blocks.append(block)
        else:
            self._blocks[(sequence - 1) % self.capacity] = block
        self.next_sequence = sequence + 1
        return sequence

    def get(self, first: int, count: int, bytes_max: int) -> list[bytes]:
        """Up to `count` blocks from `first` on, no more than `bytes_max` in all; [] when `first`
        is not published yet. Raises ReplayRangeEvictedError when it is no longer kept."""
        if first < self.first_sequence:
            raise ReplayRangeEvictedError(
                f"message {first} is no longer kept: replay holds {self.first_sequence} to "
                f"{self.next_sequence - 1}"
            )
        out: list[bytes] = []
        size = 0
        for sequence in range(first, min(first + count, self.next_sequence)):
            block = self._blocks[(sequence - 1) % self.capacity]
            size += len(block)
            if size > bytes_max:
                break
            out.append(block)
        return out


class _SendOnly(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:
        log.warning("feed send failed", error=str(exc))


class FeedPublisher:
    """Numbers messages into the ring and sends them as UDP packets; a MarketData sink."""

    def __init__(self, ring: FeedRing, *, session: str, group: str, port: int, clock: Clock,
                 host: str = "127.0.0.1", packet_bytes_max: int = PACKET_BYTES_MAX,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:  # fmt: skip
        self.ring = ring
        self.session = session
        self.address = (group, port)
        self.clock = clock
        self.host = host
        self.packet_bytes_max = packet_bytes_max
        self.heartbeat_seconds = heartbeat_seconds
        # Test hook: called with (first sequence, count) of each packet; True = do not send it.
        self.skip_packet: Callable[[int, int], bool] | None = None
        self.packets_sent = self.heartbeats_sent = self.packets_skipped = self.messages_unencodable = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self._last_send = clock.monotonic()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(_SendOnly, local_addr=(self.host, 0))
        self._heartbeats = asyncio.create_task(self.run_heartbeats())

    async def stop(self) -> None:
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def publish(self, messages: Sequence[Message]) -> None:
        """The MarketData sink: one applied command's messages."""
        self.publish_feed(to_feed_messages(messages))

    def publish_feed(self, messages: Sequence[FeedMessage]) -> None:
        first, size = self.ring.next_sequence, HEADER_BYTES
        blocks: list[bytes] = []
        for message in messages:
            try:
                block = encode_block(message)
            except BadFeedDataError as exc:  # e.g. a symbol longer than the feed carries
                self.messages_unencodable += 1
                log.warning("message left off the feed", error=str(exc))
                continue
            if blocks and size + len(block) > self.packet_bytes_max:
                self._send(first, blocks)
                first, blocks, size = self.ring.next_sequence, [], HEADER_BYTES
            self.ring.append(block)
            blocks.append(block)
            size += len(block)
        if blocks:
            self._send(first, blocks)

    def send_heartbeat(self) -> None:
        """A heartbeat carries the next sequence number, so a receiver also sees a lost tail."""
        self._send(self.ring.next_sequence, [])
        self.heartbeats_sent += 1

    async def run_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds / 2)
            if self.clock.monotonic() - self._last_send >= self.heartbeat_seconds:
                self.send_heartbeat()

    def _send(self, first: int, blocks: list[bytes]) -> None:
        self._last_send = self.clock.monotonic()
        if blocks and self.skip_packet is not None and self.skip_packet(first, len(blocks)):
            self.packets_skipped += 1
            return
        if self._transport is None:
            return  # not started: the ring keeps the messages for replay
        self._transport.sendto(frame_packet(self.session, first, blocks), self.address)
        self.packets_sent += 1


class ReplayServer:
    """TCP replay: answers each request with the ring's messages, or an error frame."""

    def __init__(self, ring: FeedRing, *, session: str, host: str = "127.0.0.1", port: int = 0,
                 connections_max: int = REPLAY_CONNECTIONS_MAX) -> None:  # fmt: skip
        self.ring = ring
        self.session = session
        self.host = host
        self.port = port
        self.connections_max = connections_max
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def answer(self, frame: ReplayFrame) -> bytes:
        """The response frame to one frame from a client."""
        if not isinstance(frame, ReplayRequest) or frame.first_sequence < 1:
            return _error(ReplayErrorCode.BAD_REQUEST, "expected a replay request from sequence 1 on")
        if frame.session != self.session:
            return _error(
                ReplayErrorCode.UNKNOWN_SESSION, f"session {frame.session!r} is not {self.session!r}"
            )
        try:
            blocks = self.ring.get(frame.first_sequence, frame.count, _REPLAY_BLOCK_BYTES_MAX)
        except ReplayRangeEvictedError as exc:
            return _error(ReplayErrorCode.EVICTED, str(exc))
        return encode_replay_packet(frame_packet(self.session, frame.first_sequence, blocks))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.connections_max:
            writer.write(_error(ReplayErrorCode.BAD_REQUEST, "too many replay connections"))
            await _close(writer)
            return
        self.connections += 1
        decoder = ReplayDecoder()
        try:
            while data := await reader.read(REPLAY_READ_BYTES):
                for frame in decoder.feed(data):
                    writer.write(self.answer(frame))
                await writer.drain()
        except BadFeedDataError as exc:
            writer.write(_error(ReplayErrorCode.BAD_REQUEST, str(exc)))
        except ConnectionError:
            pass  # the client went away
        finally:
            self.connections -= 1
            await _close(writer)


def _error(code: ReplayErrorCode, detail: str) -> bytes:
    return encode_replay_error(ReplayError(code, detail))


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@dataclass
class Feed:
    """A running feed: its publisher and replay server, fed by `market_data`."""

    market_data: MarketData
    publisher: FeedPublisher
    replay: ReplayServer

    @property
    def replay_port(self) -> int:
        return self.replay.port

    async def stop(self) -> None:
        self.market_data.remove_sink(self.publisher.publish)
        await self.replay.stop()
        await self.publisher.stop()

    async def close(self) -> None:
        """`stop`, under the name the app's part registry calls."""
        await self.stop()


async def start_feed(
    market_data: MarketData,
    *,
    clock: Clock,
    group: str,
    port: int,
    replay_port: int,
    replay_messages_max: int,
    host: str = "127.0.0.1",
    session: str = "",
) -> Feed:
    """Start the UDP publisher and the replay server (port 0 = any free port; read
    `feed.replay_port`), open the session with the current state, then follow `market_data`."""
    session = session or make_session(clock.now())
    ring = FeedRing(replay_messages_max)
    publisher = FeedPublisher(ring, session=session, group=group, port=port, clock=clock, host=host)
    replay = ReplayServer(ring, session=session, host=host, port=replay_port)
    await replay.start()
    await publisher.start()
    # No await between the opening state and following market data: nothing can slip in between.
    timestamp_ns = epoch_ns(clock.now())
    publisher.publish_feed(state_messages(market_data.book, timestamp_ns))
    market_data.add_sink(publisher.publish)
    return Feed(market_data, publisher, replay)
