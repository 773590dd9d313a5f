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

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from scalebox.shortener.http.hot import RedirectFastPath

_REASONS = {301: b"Moved Permanently", 302: b"Found", 307: b"Temporary Redirect", 308: b"Permanent Redirect"}


class _Answered:
    """Stands in for the request-response cycle of a request answered here: complete from the start,
    so uvicorn's body and message-complete callbacks ignore the rest of the request."""

    response_complete = True


def fast_protocol(fast_path: RedirectFastPath) -> type[HttpToolsProtocol]:
    """A protocol class whose instances answer `fast_path`'s cached redirects at the parser."""

    class FastRedirectProtocol(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            if not self._answer():
                super().on_headers_complete()

        def _answer(self) -> bool:
            method = self.parser.get_method()
            if method not in (b"GET", b"HEAD") or self.parser.should_upgrade():
                return False
            if self.cycle is not None and not self.cycle.response_complete:
                return False  # a pipelined request behind one still running: keep uvicorn's order
            shortener = fast_path.shortener
            raw_path, _, query = self.url.partition(b"?")
            if shortener is None or raw_path.count(b"/") != 1 or b"%" in raw_path or len(raw_path) < 2:
                return False
            client = self.client[0] if self.client else ""
            answer = fast_path.prepare(shortener, raw_path.decode("latin-1"), query, self.headers, client)
            if answer is None:
                return False
            keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            self.transport.write(
                _response(answer.status, answer.headers, self.server_state.default_headers, keep_alive)
            )
            self.cycle = _Answered  # type: ignore[assignment]
            shortener.recorder.record(answer.visit, answer.limited)
            self.on_response_complete()
            if not keep_alive:
                self.transport.close()
            return True

    return FastRedirectProtocol


def _response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    default_headers: list[tuple[bytes, bytes]],
    keep_alive: bool,
) -> bytes:
    parts: list[Any] = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Redirect"))]
    for name, value in default_headers:
        parts += (name, b": ", value, b"\r\n")
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
