"""The Kafka listeners: asyncio streams, one task per connection. The only socket code of the broker.

A connection reads frames, decodes each request and starts its handler as a task at once (so a
pipelining producer keeps several requests in flight), and a writer task sends the responses
strictly in request order, as the protocol requires. At most `in_flight_requests_max` requests
are read ahead; past that the reader waits. A malformed frame, an unsupported request (other than
ApiVersions, which answers with its error and our versions), a request before SASL where SASL is
required, or any failure inside a handler closes that connection only; the broker carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from scalebox.core.errors import DomainError, ProtocolError
from scalebox.eventlog.api import AuthenticationRequiredError, Connection, KafkaApi, Listener
from scalebox.eventlog.protocol import codec
from scalebox.eventlog.protocol.framing import FrameDecoder
from scalebox.eventlog.service.sasl import SaslSession

log = structlog.get_logger("scalebox.eventlog")

_READ_BYTES = 256 * 1024
_CLOSE = object()


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
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, listener: Listener) -> asyncio.Server:
        server = await asyncio.start_server(
            lambda r, w: self._accept(r, w, listener), listener.host, listener.port, limit=_READ_BYTES
        )
        self._servers.append(server)
        return server

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener) -> None:
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer, listener))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener
    ) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        if self.connections >= self.limits.connections_max:
            log.warning(
                "connection refused: too many connections", peer=peer[0], limit=self.limits.connections_max
            )
            writer.close()
            return
        self.connections += 1
        connection = Connection(listener, str(peer[0]), SaslSession(self.sasl_mechanisms))
        pending: asyncio.Queue[object] = asyncio.Queue(self.limits.in_flight_requests_max)
        responder = asyncio.get_running_loop().create_task(self._respond(pending, writer, connection))
        try:
            await self._read(reader, pending, connection)
        finally:
            await pending.put(_CLOSE)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await responder
            self.connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(
        self, reader: asyncio.StreamReader, pending: asyncio.Queue[object], connection: Connection
    ) -> None:
        decoder = FrameDecoder(self.limits.frame_bytes_max)
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await reader.read(_READ_BYTES)
            except (ConnectionError, OSError):
                return
            if not data:
                return  # the client closed (or half-closed) its side: answer what is in flight, then close
            try:
                frames = decoder.feed(data)
            except ProtocolError as exc:
                log.warning("closing connection: bad frame", peer=connection.client_host, error=str(exc))
                return
            for frame in frames:
                try:
                    request = codec.decode_request(frame)
                except codec.UnsupportedRequestError as exc:
                    if exc.api_key == codec.API_VERSIONS:
                        await pending.put(codec.api_versions_error_frame(exc.correlation_id, 35))
                        continue
                    log.warning(
                        "closing connection: unsupported request", peer=connection.client_host, error=str(exc)
                    )
                    return
                except ProtocolError as exc:
                    log.warning(
                        "closing connection: malformed request", peer=connection.client_host, error=str(exc)
                    )
                    return
                self.requests_total += 1
                task = loop.create_task(self.api.handle(request, connection))
                await pending.put((request, task))

    async def _respond(
        self, pending: asyncio.Queue[object], writer: asyncio.StreamWriter, connection: Connection
    ) -> None:
        closing = False
        while True:
            item = await pending.get()
            if item is _CLOSE:
                return
            if closing:
                if isinstance(item, tuple):
                    item[1].cancel()
                continue
            if isinstance(item, bytes):
                frame: bytes | None = item
            else:
                assert isinstance(item, tuple)
                request, task = item
                frame = await self._outcome(request, task, connection)
            try:
                if frame is not None:
                    writer.write(frame)
                    await writer.drain()
            except (ConnectionError, OSError):
                connection.close_after_response = True
            if connection.close_after_response:
                closing = True
                writer.close()

    async def _outcome(
        self, request: codec.Request, task: asyncio.Task[object], connection: Connection
    ) -> bytes | None:
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
            log.exception(
                "closing connection: handler failed", request=request.name, peer=connection.client_host
            )
        task.cancel()
        connection.close_after_response = True
        return None
