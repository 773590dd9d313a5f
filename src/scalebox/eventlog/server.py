"""The Kafka listeners: one asyncio Protocol per connection. The only socket code of the broker.

Bytes from the transport go straight into the connection's FrameDecoder (no StreamReader buffer in
between: on the produce path that buffer cost more than the broker's own work). Each decoded request
starts its handler as a task at once, so a pipelining producer keeps several requests in flight,
and a responder task sends the responses strictly in request order, as the protocol requires. At
most `in_flight_requests_max` requests are read ahead; past that the transport stops reading until
the responder catches up, and a slow reader of responses pauses the responder (write flow control).

A malformed frame, an unsupported request (other than ApiVersions, which answers with its error and
our versions), a request before SASL where SASL is required, or any failure inside a handler closes
that connection only, after the responses already due; the broker carries on. A client that
half-closes its side still gets the answers to what it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

import structlog

from scalebox.core.errors import DomainError, ProtocolError
from scalebox.eventlog.api import AuthenticationRequiredError, Connection, KafkaApi, Listener
from scalebox.eventlog.protocol import codec
from scalebox.eventlog.protocol.framing import FrameDecoder
from scalebox.eventlog.service.sasl import SaslSession

log = structlog.get_logger("scalebox.eventlog")

Pending = bytes | tuple[codec.Request, "asyncio.Task[object]"]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    frame_bytes_max: int
    connections_max: int
    in_flight_requests_max: int


class KafkaServer:
    def __init__(self, api: KafkaApi, limits: ServerLimits, sasl_mechanisms: tuple[str, ...]) -> None:
        self.api = api
        self.limits = limits
        self.sasl_mechanisms = sasl_mechanisms
        self.connections = 0
        self.requests_total = 0
        self._servers: list[asyncio.Server] = []
        self._open: set[_KafkaConnection] = set()

    async def listen(self, listener: Listener) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _KafkaConnection(self, listener), listener.host, listener.port
        )
        self._servers.append(server)
        return server

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._open):
            connection.abort()
        for connection in list(self._open):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connection.finished()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()


class _KafkaConnection(asyncio.Protocol):
    def __init__(self, server: KafkaServer, listener: Listener) -> None:
        self.server = server
        self.listener = listener
        self.decoder = FrameDecoder(server.limits.frame_bytes_max)
        self.pending: deque[Pending] = deque()
        self.arrived = asyncio.Event()  # something for the responder: a request, EOF or loss
        self.writable = asyncio.Event()
        self.writable.set()
        self.transport: asyncio.Transport | None = None
        self.connection: Connection | None = None
        self.responder: asyncio.Task[None] | None = None
        self.reading_done = False  # EOF, or a frame we refuse: answer what is due, then close
        self.lost = False
        self.paused = False

    # -- transport callbacks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.transport = stream
        peer = stream.get_extra_info("peername") or ("?", 0)
        if self.server.connections >= self.server.limits.connections_max:
            log.warning("connection refused: too many connections", peer=peer[0])
            stream.abort()
            return
        self.server.connections += 1
        self.server._open.add(self)
        self.connection = Connection(self.listener, str(peer[0]), SaslSession(self.server.sasl_mechanisms))
        self.responder = asyncio.get_running_loop().create_task(self._respond())

    def data_received(self, data: bytes) -> None:
        if self.reading_done or self.connection is None:
            return
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as exc:
            self._refuse("bad frame", exc)
            return
        loop = asyncio.get_running_loop()
        for frame in frames:
            try:
                request = codec.decode_request(frame)
            except codec.UnsupportedRequestError as exc:
                if exc.api_key == codec.API_VERSIONS:
                    self._enqueue(codec.api_versions_error_frame(exc.correlation_id, 35))
                    continue
                self._refuse("unsupported request", exc)
                return
            except ProtocolError as exc:
                self._refuse("malformed request", exc)
                return
            self.server.requests_total += 1
            self._enqueue((request, loop.create_task(self.server.api.handle(request, self.connection))))
        if len(self.pending) >= self.server.limits.in_flight_requests_max and not self.paused:
            self.paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.reading_done = True  # a half-close: the answers to what was sent still go out
        self.arrived.set()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.writable.set()
        self.arrived.set()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # -- the responder -----------------------------------------------------------------------------

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def finished(self) -> None:
        if self.responder is not None:
            await self.responder

    def _enqueue(self, item: Pending) -> None:
        self.pending.append(item)
        self.arrived.set()

    def _refuse(self, why: str, exc: Exception) -> None:
        peer = self.connection.client_host if self.connection else "?"
        log.warning(f"closing connection: {why}", peer=peer, error=str(exc))
        self.reading_done = True
        self.arrived.set()
        if self.transport is not None:
            self.transport.pause_reading()

    async def _respond(self) -> None:
        assert self.transport is not None
        assert self.connection is not None
        transport, connection = self.transport, self.connection
        try:
            while True:
                while not self.pending:
                    if self.reading_done or self.lost:
                        return
                    self.arrived.clear()
                    await self.arrived.wait()
                item = self.pending.popleft()
                if self.paused and len(self.pending) < self.server.limits.in_flight_requests_max:
                    self.paused = False
                    transport.resume_reading()
                frame = item if isinstance(item, bytes) else await _outcome(*item, connection)
                if self.lost:
                    return
                if frame is not None:
                    transport.write(frame)
                    if not self.writable.is_set():
                        await self.writable.wait()
                if connection.close_after_response:
                    return
        finally:
            for item in self.pending:
                if not isinstance(item, bytes):
                    item[1].cancel()
            self.pending.clear()
            transport.close()
            self.server.connections -= 1
            self.server._open.discard(self)


async def _outcome(
    request: codec.Request, task: asyncio.Task[object], connection: Connection
) -> bytes | None:
    """The response frame of a finished handler (None for acks=0); a handler that refuses the request or
    fails marks the connection to be closed, as Kafka closes it."""
    try:
        body = await task
        return None if body is None else codec.encode_response(request, body)
    except AuthenticationRequiredError as exc:
        log.warning("closing connection: not authenticated", peer=connection.client_host, error=str(exc))
    except (DomainError, ProtocolError) as exc:
        log.warning(
            "closing connection: request refused",
            request=request.name,
            peer=connection.client_host,
            error=str(exc),
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("closing connection: handler failed", request=request.name, peer=connection.client_host)
    task.cancel()
    connection.close_after_response = True
    return None
