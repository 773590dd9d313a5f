"""The feed's receiving side: UDP packets in, gaps found by sequence number and filled from the TCP
replay service, messages out strictly in sequence order, each exactly once. Used by tests and by
`tail`. `GapTracker` is the pure part; `FeedClient` adds the sockets.

A receiver keeps to the first session it hears (a venue restart starts a new session: start a new
client). A heartbeat names the next sequence number, so a lost last packet is found too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from enum import Enum
from typing import NamedTuple

from scalebox.core.errors import LimitExceededError, NotFoundError
from scalebox.exchange.protocol.feed import (
    BadFeedDataError,
    FeedMessage,
    Packet,
    decode_packet,
)
from scalebox.exchange.protocol.replay import (
    ReplayDecoder,
    ReplayError,
    ReplayRequest,
    encode_replay_request,
)

REQUEST_COUNT_MAX = 0xFFFF
TIMEOUT_SECONDS = 5.0
QUEUE_MAX = 100_000  # messages received but not yet read (in order or waiting for a gap)


class FeedRecoveryError(NotFoundError):
    """Missed messages could not be recovered (no longer kept, or the replay service failed)."""


class FeedOverrunError(LimitExceededError):
    """The reader fell more than `queue_max` messages behind the feed."""


class Sequenced(NamedTuple):
    sequence: int
    message: FeedMessage


class GapTracker:
    """In-order delivery from packets that arrive out of order, twice or not at all (no I/O)."""

    def __init__(self, first_sequence: int | None = 1, pending_max: int = QUEUE_MAX) -> None:
        self.expected = first_sequence  # the next sequence to deliver; None = the first one heard
        self.known_end = 0  # one past the highest sequence known to exist
        self.pending_max = pending_max
        self._pending: dict[int, FeedMessage] = {}

    def receive(self, first: int, messages: tuple[FeedMessage, ...]) -> None:
        """Take a packet's messages (a heartbeat: none, `first` is the next sequence)."""
        if self.expected is None:
            self.expected = first
        self.known_end = max(self.known_end, first + len(messages))
        for offset, message in enumerate(messages):
            if first + offset >= self.expected:
                self._pending.setdefault(first + offset, message)
        if len(self._pending) > self.pending_max:
            raise FeedOverrunError(f"more than {self.pending_max} messages waiting for a gap")

    def ready(self) -> list[Sequenced]:
        """Messages that can be delivered now, in order; each is returned once."""
        out: list[Sequenced] = []
        while self.expected in self._pending:
            out.append(Sequenced(self.expected, self._pending.pop(self.expected)))
            self.expected += 1
        return out

    def missing(self) -> tuple[int, int] | None:
        """(first, count) of the earliest gap, count capped to one replay request; None if none."""
        start = self.expected
        if start is None or start >= self.known_end:
            return None
        end = start + 1
        while end < self.known_end and end not in self._pending and end - start < REQUEST_COUNT_MAX:
            end += 1
        return start, end - start


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, client: FeedClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.client.receive_datagram(data)


class FeedClient:
    """Listens for feed packets on host:port (port 0 = any; read `port` after `start`)."""

    def __init__(self, *, replay_port: int, host: str = "127.0.0.1", port: int = 0,
                 replay_host: str = "127.0.0.1", first_sequence: int | None = 1, queue_max: int = QUEUE_MAX,
                 timeout_seconds: float = TIMEOUT_SECONDS) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.replay_host, self.replay_port = replay_host, replay_port  # may be set after `start`
        self.queue_max = queue_max
        self.timeout_seconds = timeout_seconds
        self.session: str | None = None
        self.tracker = GapTracker(first_sequence, queue_max)
        self.packets_received = self.bad_packets = self.gaps_detected = self.messages_recovered = 0
        self._ready: deque[Sequenced] = deque()
        self._wakeup = asyncio.Event()
        self._gap = asyncio.Event()
        self._failure: Exception | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._replay: tuple[asyncio.StreamReader, asyncio.StreamWriter, ReplayDecoder] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self), local_addr=(self.host, self.port)
        )
        self.port = self._transport.get_extra_info("sockname")[1]
        self._recovery = asyncio.create_task(self._recover())

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        if self._transport is not None:
            self._transport.close()
        await self._close_replay()

    def __aiter__(self) -> AsyncIterator[Sequenced]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Sequenced]:
        while True:
            yield await self.next()

    async def next(self) -> Sequenced:
        """The next message in sequence order; raises FeedRecoveryError or FeedOverrunError when
        the stream cannot go on (after every message before the failure was read)."""
        while not self._ready:
            if self._failure is not None:
                raise self._failure
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._ready.popleft()

    def receive_datagram(self, data: bytes) -> None:
        try:
            packet = decode_packet(data)
        except BadFeedDataError:
            self.bad_packets += 1
            return
        if self.session is None:
            self.session = packet.session
        elif packet.session != self.session:
            return  # another session's packet: this client follows the first one it heard
        self.packets_received += 1
        tracker = self.tracker
        if tracker.expected is not None and packet.sequence > max(tracker.known_end, tracker.expected):
            self.gaps_detected += 1  # a new hole between what was known and this packet
        self._take(packet)
        if tracker.missing() is not None:
            self._gap.set()

    def _take(self, packet: Packet) -> None:
        if self._failure is not None:
            return
        try:
            self.tracker.receive(packet.sequence, packet.messages)
        except FeedOverrunError as exc:
            self._fail(exc)
            return
        self._ready.extend(self.tracker.ready())
        if len(self._ready) > self.queue_max:
            self._fail(FeedOverrunError(f"the reader is more than {self.queue_max} messages behind"))
        self._wakeup.set()

    def _fail(self, exc: Exception) -> None:
        self._failure = exc
        self._wakeup.set()

    async def _recover(self) -> None:
        while self._failure is None:
            await self._gap.wait()
            self._gap.clear()
            while self._failure is None and (gap := self.tracker.missing()) is not None:
                try:
                    packet = await self._request(*gap)
                except FeedRecoveryError as exc:
                    self._fail(exc)
                    return
                self.messages_recovered += len(packet.messages)
                self._take(packet)

    async def _request(self, first: int, count: int) -> Packet:
        assert self.session is not None
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._exchange(ReplayRequest(self.session, first, count))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, BadFeedDataError) as exc:
            await self._close_replay()
            raise FeedRecoveryError(f"replay of {count} messages from {first} failed: {exc!r}") from exc

    async def _exchange(self, request: ReplayRequest) -> Packet:
        if self._replay is None:
            reader, writer = await asyncio.open_connection(self.replay_host, self.replay_port)
            self._replay = (reader, writer, ReplayDecoder())
        reader, writer, decoder = self._replay
        writer.write(encode_replay_request(request))
        await writer.drain()
        while True:
            data = await reader.read(64 << 10)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            frames = decoder.feed(data)
            if frames:
                break
        frame = frames[0]
        if isinstance(frame, ReplayError):
            raise FeedRecoveryError(f"replay refused ({frame.code.name.lower()}): {frame.detail}")
        if not isinstance(frame, Packet) or frame.sequence != request.first_sequence or not frame.messages:
            raise FeedRecoveryError(f"replay did not answer for messages from {request.first_sequence}")
        return frame

    async def _close_replay(self) -> None:
        if self._replay is not None:
            writer = self._replay[1]
            self._replay = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def render_line(item: Sequenced) -> str:
    """One line for `tail`: the sequence number, the message type and its fields."""
    message = item.message
    fields = " ".join(
        f"{name}={_plain(getattr(message, name))}"
        for name in message.__dataclass_fields__
        if name != "timestamp_ns"
    )
    return f"{item.sequence} {type(message).__name__} {fields}"


def _plain(value: object) -> object:
    return value.name.lower() if isinstance(value, Enum) else value
