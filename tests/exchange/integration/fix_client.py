"""A FIX 4.4 initiator for tests: asyncio streams for the socket, simplefix (an independent codec)
for every byte, and a bounded timeout on every read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import simplefix

TIMEOUT_SECONDS = 5.0
GATEWAY_COMP_ID = "SCALEBOX"
Pair = tuple[int, str | int]


def text(message: simplefix.FixMessage, tag: int) -> str | None:
    """A field of a simplefix message as text (simplefix keeps bytes)."""
    value = message.get(tag)
    return None if value is None else value.decode()


def msg_type(message: simplefix.FixMessage) -> str | None:
    return text(message, 35)


class FixClient:
    """One connection to the gateway as SenderCompID `sender`. `next_seq` is our next MsgSeqNum."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: str) -> None:
        self.reader = reader
        self.writer = writer
        self.sender = sender
        self.next_seq = 1
        self.parser = simplefix.FixParser()

    @classmethod
    async def connect(cls, port: int, sender: str, *, next_seq: int = 1) -> FixClient:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer, sender)
        client.next_seq = next_seq
        return client

    def build(
        self, msg_type: str, pairs: Iterable[Pair] = (), *, seq: int | None = None, poss_dup: bool = False
    ) -> simplefix.FixMessage:
        """A message with the standard header; it takes the next MsgSeqNum unless `seq` is given."""
        if seq is None:
            seq, self.next_seq = self.next_seq, self.next_seq + 1
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, GATEWAY_COMP_ID, header=True)
        message.append_pair(34, seq, header=True)
        if poss_dup:
            message.append_pair(43, "Y", header=True)
            message.append_utc_timestamp(122, header=True)
        message.append_utc_timestamp(52, header=True)
        for tag, value in pairs:
            message.append_pair(tag, value)
        return message

    async def send(
        self, msg_type: str, pairs: Iterable[Pair] = (), *, seq: int | None = None, poss_dup: bool = False
    ) -> None:
        await self.send_raw(self.build(msg_type, pairs, seq=seq, poss_dup=poss_dup).encode())

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await self.writer.drain()

    async def receive(self) -> simplefix.FixMessage:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while (message := self.parser.get_message()) is None:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the gateway closed the connection")
                self.parser.append_buffer(data)
        return message

    async def expect(self, expected_type: str) -> simplefix.FixMessage:
        """The next message, which must be of `expected_type` (heartbeats are skipped)."""
        while True:
            message = await self.receive()
            if msg_type(message) != "0" or expected_type == "0":
                break
        assert msg_type(message) == expected_type, message
        return message

    async def closed_by_peer(self) -> bool:
        """True when the gateway closes the connection (whatever it sends before is dropped)."""
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while data := await self.reader.read(65536):
                self.parser.append_buffer(data)
        return True

    async def logon(
        self, password: str, *, reset: bool = False, heartbeat_seconds: int = 30, extra: Iterable[Pair] = ()
    ) -> simplefix.FixMessage:
        """Send a Logon and return the gateway's answer (a Logon, or a Logout refusing it)."""
        pairs: list[Pair] = [(98, 0), (108, heartbeat_seconds), *extra, (554, password)]
        if reset:
            pairs.append((141, "Y"))
        await self.send("A", pairs)
        return await self.receive()

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            self.writer.transport.abort()


def new_order(cl_ord_id: str, side: int, quantity: int, price: str, **extra: str | int) -> list[Pair]:
    """NewOrderSingle fields for a GTC limit order on ACME (extra: more tags as `t<tag>=value`)."""
    pairs: list[Pair] = [(11, cl_ord_id), (55, "ACME"), (54, side), (38, quantity), (40, 2), (44, price)]
    pairs.append((59, 1))
    pairs += [(int(name[1:]), value) for name, value in extra.items()]
    return pairs
