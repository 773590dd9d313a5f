"""The redirect fast path at the HTTP parser: cached redirects answered from uvicorn's httptools
protocol callback, before any ASGI machinery exists for the request.

Under uvicorn every request costs a task, a request-response cycle, an event and two ASGI messages
before the app runs; for a redirect that is most of the work (a profile put the ASGI path at about a
third of nginx's throughput). This subclass of uvicorn's `HttpToolsProtocol` (uvicorn's documented
extension point: `Config(http=<protocol class>)`) asks `RedirectFastPath.prepare` as soon as a
request's headers are parsed; when it has an answer, the response bytes are written to the
transport at once and the request never becomes an ASGI call. Everything else, including cache
misses, goes on to uvicorn's normal path and the ASGI fast path behind it.

It stands aside (the ASGI path serves) when a trusted proxy's X-Forwarded-For must decide the
client's address, since uvicorn's proxy middleware only runs on the ASGI path.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scalebox.shortener.domain import Link, VisitFields
from scalebox.shortener.http.hot import RedirectFastPath, request_headers, response_head


class _NoEvent:
    def set(self) -> None:
        return None


class _Answered:
    """Stands in for the request-response cycle of a request answered here: complete from the start,
    so uvicorn's body, message-complete, connection-lost and shutdown handling leave it alone."""

    response_complete = True
    disconnected = False
    keep_alive = True
    message_event = _NoEvent()


_ANSWERED = _Answered()


def fast_protocol(fast_path: RedirectFastPath) -> type[HttpToolsProtocol]:
    """A protocol class whose instances answer `fast_path`'s cached redirects at the parser."""

    class FastRedirectProtocol(HttpToolsProtocol):
        _client_host = ""
        _writes: _TurnWrites
        _idle_since: float | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._client_host = self.client[0] if self.client else ""
            self._writes = _turn_writes(self.loop)

        def on_message_begin(self) -> None:
            # uvicorn builds the request's ASGI scope here; a redirect answered at the parser never
            # needs one, so it is built only when the request goes on to the app (below).
            self.url = b""
            self.expect_100_continue = False
            self.headers = []

        def on_headers_complete(self) -> None:
            if not self._answer():
                url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
                super().on_message_begin()
                self.url, self.headers, self.expect_100_continue = url, headers, expect_100_continue
                self.scope["headers"] = headers
                super().on_headers_complete()

        def on_message_complete(self) -> None:
            if self.cycle is not _ANSWERED:  # type: ignore[comparison-overlap]
                super().on_message_complete()

        def _answer(self) -> bool:
            parser = self.parser
            if parser.get_method() not in _GET_OR_HEAD or parser.should_upgrade():
                return False
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return False  # a pipelined request behind one still running: keep uvicorn's order
            shortener = fast_path.shortener
            raw_path, _, query = self.url.partition(b"?")
            if shortener is None or raw_path.count(b"/") != 1 or b"%" in raw_path or len(raw_path) < 2:
                return False
            path = raw_path.decode("latin-1")
            keep_alive = parser.should_keep_alive() and parser.get_http_version() != "1.0"
            plain = fast_path.plain(shortener, path[1:].lower())
            limited: Link | None = None
            if plain is not None and not (query and plain.link.forward_query):
                # The common case, with nothing to work out per request but the visit.
                link, head = plain.link, plain.head
                fast_path.fast += 1
                user_agent, referer, _ = request_headers(self.headers)
                visit: VisitFields = (
                    "valid", shortener.clock.epoch_ms(), link.code, link.id, user_agent, referer,
                    self._client_host, path, link.long_url,
                )  # fmt: skip
            else:
                answer = fast_path.prepare(shortener, path, query, self.headers, self._client_host)
                if answer is None:
                    return False
                head = response_head(answer.status, answer.headers)
                visit, limited = answer.visit.fields(), answer.limited
            self._writes.add(
                self.transport, head + self._date() + (b"\r\n" if keep_alive else _CLOSE), keep_alive
            )
            self.cycle = _ANSWERED  # type: ignore[assignment]
            shortener.source.hits += 1
            shortener.recorder.record_fields(visit, limited)
            self.on_response_complete()
            return True

        def _date(self) -> bytes:
            """uvicorn's default headers (its Date, renewed every second) as bytes, once per renewal."""
            defaults = self.server_state.default_headers
            if _dates[0] is not defaults:
                _dates[:] = [defaults, b"".join(name + b": " + value + b"\r\n" for name, value in defaults)]
            return _dates[1]  # type: ignore[no-any-return]

        # Keep-alive, lazily. uvicorn cancels its idle timer when data arrives and arms a new one after
        # every response: a timer handle made and dropped per request. Here the connection notes when
        # it fell idle, and one timer per idle period checks on expiry whether it has been idle that
        # long, re-arming itself for the remainder when a request came in between.

        def _unset_keepalive_if_required(self) -> None:
            self._idle_since = None  # busy: reading a request or answering it

        def on_response_complete(self) -> None:
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                self._idle_since = None
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
                return
            self._idle_since = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self._keep_alive_expired
                )

        def _keep_alive_expired(self) -> None:
            self.timeout_keep_alive_task = None
            if self._idle_since is None:
                return  # busy; the timer is armed again when this response completes
            left = self._idle_since + self.timeout_keep_alive - self.loop.time()
            if left > 0:
                self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_expired)
            else:
                self.timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            if self.timeout_keep_alive_task is not None:
                self.timeout_keep_alive_task.cancel()
                self.timeout_keep_alive_task = None

    _dates: list[Any] = [None, b""]
    return FastRedirectProtocol


class _TurnWrites:
    """The answers made during one turn of a loop, written together once the turn's reads are done.

    uvloop writes to the socket at once. Answering each request as its bytes are parsed interleaves
    a send with every read, and each send wakes the client's thread, which answers with its next
    request while this turn is still reading: measured under wrk, the server's CPU per redirect was
    about 73 µs with a send per answer and 54 µs with one burst of sends per turn. Writes stay in
    order per connection (one list, appended in parsing order); an answer that closes its
    connection closes it after its bytes are written.
    """

    __slots__ = ("_loop", "_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[tuple[Any, bytes, bool]] = []

    def add(self, transport: Any, data: bytes, keep_alive: bool) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append((transport, data, keep_alive))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for transport, data, keep_alive in pending:
            if transport.is_closing():
                continue  # the client went away meanwhile: nobody to answer
            transport.write(data)
            if not keep_alive:
                transport.close()


_by_loop: WeakKeyDictionary[asyncio.AbstractEventLoop, _TurnWrites] = WeakKeyDictionary()


def _turn_writes(loop: asyncio.AbstractEventLoop) -> _TurnWrites:
    writes = _by_loop.get(loop)
    if writes is None:
        writes = _by_loop[loop] = _TurnWrites(loop)
    return writes


_GET_OR_HEAD = frozenset({b"GET", b"HEAD"})
_CLOSE = b"connection: close\r\n\r\n"
