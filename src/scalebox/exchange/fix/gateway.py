"""The FIX gateway: an asyncio TCP acceptor with one FixSession per connection, at most
fix_connections_max of them, and the venue listener (router.py) that sends execution reports to
sessions. The only socket code of the FIX edge."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime
from decimal import Decimal

import structlog

from scalebox.core.clock import Clock
from scalebox.core.errors import DomainError, LimitExceededError
from scalebox.exchange.errors import NotPrimaryError
from scalebox.exchange.fix.application import OrderCommand, OrderEntry, Reply
from scalebox.exchange.fix.logon import LogonRequest, refuse_reason
from scalebox.exchange.fix.reports import ReportWriter
from scalebox.exchange.fix.router import FixSessionStats, SessionEntry, SessionRouter
from scalebox.exchange.fix.session import (
    Action,
    Deliver,
    Disconnect,
    FixSession,
    SessionConfig,
    SessionState,
    Transmit,
)
from scalebox.exchange.protocol.fix import FixError, FixMessage, FixParser
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.venue import Applied, Venue
from scalebox.exchange.settings import ExchangeSettings

log = structlog.get_logger("scalebox.exchange.fix")

READ_BYTES = 64 << 10
CLOSE_GRACE_SECONDS = 5.0  # a closing connection whose peer will not read is aborted after this


class FixGateway:
    def __init__(
        self,
        venue: Venue,
        directory: Directory,
        settings: ExchangeSettings,
        *,
        clock: Clock,
        tick_seconds: float = 1.0,
        store_messages_max: int = 10_000,
    ) -> None:
        self.venue = venue
        self.directory = directory
        self.settings = settings
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.write_buffer_bytes_max = settings.fix_message_bytes_max * 64
        self.config = SessionConfig(
            comp_id=settings.fix_sender_comp_id, heartbeat_seconds_max=settings.fix_heartbeat_seconds_max
        )
        self.router = SessionRouter(
            settings.fix_dir,
            settings.fix_sender_comp_id,
            ReportWriter(self._tick_size),
            clock,
            is_member=lambda participant: participant in directory.members,
            store_messages_max=store_messages_max,
            on_store_pending=self.schedule_flush,
        )
        self._flush_scheduled = False
        self._unflushed: set[_Connection] = set()
        self.port = 0
        self.connections_refused = 0
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._closing = False

    async def start(self) -> None:
        self.venue.add_listener(self.router.on_applied)
        self._server = await asyncio.start_server(self._accept, self.settings.host, self.settings.fix_port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FIX gateway listening", host=self.settings.host, port=self.port)

    async def close(self, timeout_seconds: float = 2.0) -> None:
        """Log every session out, wait up to `timeout_seconds` for the Logout replies, then drop
        whatever is left and stop listening. Closing twice is harmless."""
        if self._closing:
            return
        self._closing = True
        self.venue.remove_listener(self.router.on_applied)
        if self._server is not None:
            self._server.close()
        now = self.clock.now()
        for connection in list(self._connections):
            connection.logout("the gateway is shutting down", now)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_seconds)
        for connection in list(self._connections):
            connection.abort()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE_SECONDS)
        if self._server is not None:
            await self._server.wait_closed()
        self.router.close()

    def sessions(self) -> list[FixSessionStats]:
        """Every session this gateway knows, for the operations view."""
        return self.router.sessions()

    def _tick_size(self, symbol: str) -> Decimal | None:
        instrument = self.directory.instruments.get(symbol)
        if instrument is not None:
            return instrument.tick_size
        state = self.venue.engine.instrument(symbol)
        return state.instrument.tick_size if state is not None else None

    # -- connections -----------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or len(self._connections) >= self.settings.fix_connections_max:
            self.connections_refused += 1
            log.warning("FIX connection refused", connections=len(self._connections))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        self._tasks.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._tasks.discard(task)

    def schedule_flush(self) -> None:
        """Write what this turn of the event loop produced at its end: every session store first
        (a message is on disk before its peer can see it), then each connection's bytes in one
        send. A batch of commands the venue applies in one turn costs one write per socket."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        try:
            self.router.flush_stores()
        except OSError as exc:
            log.error("FIX session store write failed; closing every connection", error=str(exc))
            for connection in list(self._connections):
                connection.abort()
            return
        connections, self._unflushed = self._unflushed, set()
        for connection in connections:
            connection.flush()


class _Connection:
    """One TCP connection: bytes in through the parser and the session, actions out."""

    def __init__(
        self, gateway: FixGateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.gateway = gateway
        self.reader = reader
        self.writer = writer
        self.session = FixSession(gateway.config, gateway.clock.now())
        self.parser = FixParser(gateway.settings.fix_message_bytes_max)
        self.entry: SessionEntry | None = None
        self.order_entry: OrderEntry | None = None
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.closed = False
        self._out = bytearray()  # written at the end of the event loop's turn (FixGateway._flush)

    async def run(self) -> None:
        ticker = asyncio.create_task(self._tick_forever())
        try:
            await self._read_forever()
        except OSError as exc:  # the session store could not be written: no session without it
            log.error("FIX session store write failed", peer=self.peer, error=str(exc))
        finally:
            ticker.cancel()
            self._detach()
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), CLOSE_GRACE_SECONDS)
            except (OSError, TimeoutError):
                self.writer.transport.abort()

    async def _read_forever(self) -> None:
        while not self.closed:
            try:
                data = await self.reader.read(READ_BYTES)
            except OSError:
                return
            if not data:
                return
            try:
                items = self.parser.feed(data)
            except FixError as exc:  # a message over the size limit: not answerable
                self.close(str(exc))
                return
            for item in items:
                if not await self._perform(self.session.receive(item, self.gateway.clock.now())):
                    return
            try:
                await self.writer.drain()
            except OSError:
                return

    async def _tick_forever(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.gateway.tick_seconds)
            try:
                await self._perform(self.session.tick(self.gateway.clock.now()))
            except OSError as exc:
                log.error("FIX session store write failed", peer=self.peer, error=str(exc))
                self.abort()

    async def _perform(self, actions: list[Action]) -> bool:
        """Carry out the session's actions; False once the connection is to close."""
        for action in actions:
            if isinstance(action, Transmit):
                self._write(action.data)
            elif isinstance(action, Deliver):
                self._deliver(action.message)
            elif isinstance(action, Disconnect):
                self.close(action.reason)
            elif not await self._logon(action):
                return False
        return not self.closed

    async def _logon(self, request: LogonRequest) -> bool:
        directory = self.gateway.directory
        member = await asyncio.to_thread(directory.verify, request.participant_id, request.password)
        if self.closed:  # the gateway shut down meanwhile
            return False
        now = self.gateway.clock.now()
        refusal = refuse_reason(request, None if member is None else member.drop_copy)
        attached = self.gateway.router.attach(request, self) if refusal is None else refusal
        if isinstance(attached, str):
            log.info("FIX logon refused", sender=request.sender_comp_id, peer=self.peer, reason=attached)
            return await self._perform(self.session.refuse_logon(attached, now))
        self.entry = attached
        self.order_entry = OrderEntry(
            request.participant_id,
            drop_copy=request.drop_copy,
            reports=self.gateway.router.reports,
            orders=self.gateway.venue.engine,
            messages_per_second=self.gateway.settings.fix_messages_per_second,
            now=now,
        )
        log.info("FIX logon", sender=request.sender_comp_id, drop_copy=request.drop_copy, peer=self.peer)
        return await self._perform(self.session.accept_logon(attached.store, now))

    def _deliver(self, message: FixMessage) -> None:
        """An in-sequence application message: reply at once, or sequence its command."""
        assert self.order_entry is not None
        assert self.entry is not None
        now = self.gateway.clock.now()
        try:
            outcome = self.order_entry.handle(message, now)
        except FixError as exc:
            for action in self.session.reject(message, exc, now):
                assert isinstance(action, Transmit)
                self._write(action.data)
            return
        if isinstance(outcome, Reply):
            self.gateway.router.reply(self.entry, outcome.message, now)
            return
        try:
            future = self.gateway.venue.submit_nowait(outcome.command)
        except (NotPrimaryError, LimitExceededError) as exc:
            self.gateway.router.reply(
                self.entry, self.order_entry.refuse(outcome.command, str(exc), now), now
            )
            return
        future.add_done_callback(
            functools.partial(self._submitted, outcome.command, self.entry, self.order_entry)
        )

    def _submitted(
        self,
        command: OrderCommand,
        entry: SessionEntry,
        order_entry: OrderEntry,
        future: asyncio.Future[Applied],
    ) -> None:
        """A command the venue could not sequence after all (its journal failed): refuse it."""
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, DomainError):
            now = self.gateway.clock.now()
            self.gateway.router.reply(entry, order_entry.refuse(command, str(exc), now), now)

    def send(self, message: FixMessage, now: datetime) -> None:
        self._write(self.session.send(message, now))

    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        self._out += data
        self.gateway._unflushed.add(self)
        self.gateway.schedule_flush()

    def flush(self) -> None:
        """Send what this turn produced (the gateway has flushed the session stores first)."""
        if self.closed or not self._out:
            return
        data = bytes(self._out)
        self._out.clear()
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.gateway.write_buffer_bytes_max:
            log.warning("FIX peer not reading: connection dropped", peer=self.peer)
            self.abort()

    def logout(self, text: str, now: datetime) -> None:
        """Start the logout handshake (or just close a connection that never logged on)."""
        actions = self.session.logout(text, now)
        if not actions:
            self.close(text)
        for action in actions:
            assert isinstance(action, Transmit)
            self._write(action.data)

    def close(self, reason: str) -> None:
        """Close after what is buffered is sent; the reader then sees the end of the stream."""
        if self.closed:
            return
        if self._out:  # a Logout or Reject written this turn goes out before the close
            try:
                self.gateway.router.flush_stores()
            except OSError as exc:
                log.error("FIX session store write failed", peer=self.peer, error=str(exc))
            self.flush()
        self.closed = True
        log.info("FIX connection closing", peer=self.peer, reason=reason)
        self.writer.close()
        asyncio.get_running_loop().call_later(CLOSE_GRACE_SECONDS, self.writer.transport.abort)

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()

    def _detach(self) -> None:
        if self.entry is not None:
            self.gateway.router.detach(self.entry, self)
        self.session.state = SessionState.CLOSED


async def start_fix_gateway(
    venue: Venue,
    directory: Directory,
    settings: ExchangeSettings,
    *,
    clock: Clock | None = None,
    tick_seconds: float = 1.0,
    store_messages_max: int = 10_000,
) -> FixGateway:
    """Listen on settings.host:settings.fix_port (0 picks a free port: read `.port`)."""
    gateway = FixGateway(
        venue,
        directory,
        settings,
        clock=clock or venue.clock,
        tick_seconds=tick_seconds,
        store_messages_max=store_messages_max,
    )
    await gateway.start()
    return gateway
