"""The redirect fast path: plain ASGI in front of the whole FastAPI app.

A `GET /{code}` whose link is in this process's LRU is answered here, without routing, middleware,
dependency injection or any await before the response: one dict lookup, the domain's `decide`, two
`send` calls. The visit is buffered after the response is sent. A code the LRU does not hold is
looked up here (Redis, then SQL, filling the LRU) and answered the same way when its link is found
and active. Everything else (an unknown or inactive code, every other path) goes to the full app,
which renders pages and problem documents.

This layer also records Shlink's orphan visits: a GET that the full app answers 404 is an
`invalid_short_url` visit when the path is one code-shaped segment, else `regular_404`; a GET of the
base URL is a `base_url` visit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from scalebox.core.clock import epoch_ms
from scalebox.shortener.domain import (
    RESERVED_SLUGS,
    Link,
    Visit,
    VisitFacts,
    VisitKind,
    decide,
    looks_like_code,
)

if TYPE_CHECKING:
    from scalebox.shortener.service.runtime import Shortener

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_EMPTY_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}
_NO_STORE = (b"cache-control", b"private, max-age=0, no-store")
_PERMANENT = {301, 308}
# Robots: a link is only crawlable when its owner said so (Shlink's `crawlable`).
_NOINDEX = (b"x-robots-tag", b"noindex")


@dataclass(frozen=True, slots=True)
class Answer:
    """A redirect the fast path can send: status and headers, and the visit to record once sent."""

    status: int
    headers: list[tuple[bytes, bytes]]
    visit: Visit
    limited: Link | None


@dataclass(frozen=True, slots=True)
class Plain:
    """A cached link's whole answer but the Date header: status line and headers, as bytes."""

    link: Link
    head: bytes


_PLAIN_MAX = 100_000
STATUS_LINES = {
    301: b"HTTP/1.1 301 Moved Permanently\r\n",
    302: b"HTTP/1.1 302 Found\r\n",
    307: b"HTTP/1.1 307 Temporary Redirect\r\n",
    308: b"HTTP/1.1 308 Permanent Redirect\r\n",
}


def response_head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A redirect's status line and headers as bytes; the Date header and the blank line follow."""
    return STATUS_LINES[status] + b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def request_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str, str]:
    """(user-agent, referer, accept-language) in one pass over the raw headers."""
    user_agent = referer = accept_language = ""
    for name, value in headers:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
        elif name == b"accept-language":
            accept_language = value.decode("latin-1")
    return user_agent, referer, accept_language


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


class RedirectFastPath:
    """ASGI wrapper: answers cached redirects itself and passes everything else to `app`."""

    def __init__(self, app: ASGIApp, holder: dict[str, Shortener], registry: CollectorRegistry) -> None:
        self.app = app
        self._holder = holder
        self._plain: dict[str, Plain] = {}
        self.fast = 0
        registry.register(_FastPathCollector(self, holder))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        shortener = self._holder.get("shortener")
        if shortener is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        segment = path[1:]
        if segment and "/" not in segment:
            query, headers, client = scope["query_string"], scope["headers"], _client(scope)
            answer = self.prepare(shortener, path, query, headers, client)
            if answer is not None:
                shortener.source.hits += 1
            elif await self._looked_up(shortener, segment):  # the lookup counted itself
                answer = self.prepare(shortener, path, query, headers, client)
            if answer is not None:
                await send(
                    {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
                )
                await send(_EMPTY_BODY)
                shortener.recorder.record(answer.visit, answer.limited)
                return
        await self._pass_through(shortener, scope, receive, send, segment)

    def prepare(
        self,
        sb: Shortener,
        path: str,
        query_string: bytes,
        headers: Iterable[tuple[bytes, bytes]],
        client: str,
    ) -> Answer | None:
        """The redirect for `path` (one segment) from the LRU, or None when the full app should answer
        (not cached, unknown, or inactive: the full app renders the page saying why). Synchronous, so
        the raw protocol (http/protocol.py) can call it from its parser callback."""
        found, link = sb.source.cached(path[1:].lower())
        if not found or link is None:
            return None
        now = sb.clock.now()
        user_agent, referer, accept_language = request_headers(headers)
        query = query_string.decode("latin-1")
        facts = VisitFacts.from_request(user_agent, accept_language, query) if link.rules else None
        unstored = sb.recorder.unstored(link) if link.max_visits is not None else 0
        decision = decide(link, facts, query, now, unstored)
        if decision.location is None:
            return None
        self.fast += 1
        visit = Visit(
            "valid",
            epoch_ms(now),
            link.code,
            link.id,
            user_agent,
            referer,
            client,
            path,
            decision.location,
        )
        return Answer(
            decision.status,
            redirect_headers(decision.status, decision.location, link.crawlable),
            visit,
            link if link.max_visits is not None else None,
        )

    def plain(self, sb: Shortener, folded: str) -> Plain | None:
        """The ready-made answer for a cached link whose redirect depends on nothing in the request
        (no rules, no visit limit, active), or None: then `prepare` decides.

        Built once per cached copy of the link (the LRU hands back the same Link object until the
        copy expires or is evicted), and valid as long as that copy is: a copy's lifetime never runs
        past the moment its validity window opens or closes, and disabling a link evicts it.
        """
        found, link = sb.source.cached(folded)
        if not found or link is None or link.rules or link.max_visits is not None:
            return None
        plain = self._plain.get(folded)
        if plain is None or plain.link is not link:
            if link.status(sb.clock.now()) != "active":
                return None
            if len(self._plain) >= _PLAIN_MAX:
                self._plain.clear()
            head = response_head(
                link.redirect_type, redirect_headers(link.redirect_type, link.long_url, link.crawlable)
            )
            plain = self._plain[folded] = Plain(link, head)
        return plain

    @staticmethod
    async def _looked_up(sb: Shortener, segment: str) -> bool:
        """Look a code the LRU did not answer up through the shared cache and SQL, filling the LRU,
        so that a miss is answered here too rather than by the full app (routing, middleware and
        dependencies cost about three times the lookup itself). True when a link was found; an
        unknown, inactive or reserved one goes on to the full app, which renders the page saying why.
        """
        folded = segment.lower()
        if folded in RESERVED_SLUGS or not looks_like_code(segment):
            return False
        if sb.source.cached(folded)[0]:
            return False  # cached, so `prepare` already declined it: unknown or inactive
        return await sb.source.find(folded) is not None

    @property
    def shortener(self) -> Shortener | None:
        """The running shortener, once the app's lifespan has opened it."""
        return self._holder.get("shortener")

    async def _pass_through(
        self, sb: Shortener, scope: Scope, receive: Receive, send: Send, segment: str
    ) -> None:
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        kind: VisitKind | None = None
        if not segment and status == 200:
            kind = "base_url"
        elif status == 404 and not segment.startswith(("rest/", "api/", "static/")):
            kind = "invalid_short_url" if looks_like_code(segment) else "regular_404"
        if kind is not None:
            user_agent, referer, _ = request_headers(scope["headers"])
            query = scope["query_string"].decode("latin-1")
            visited = scope["path"] + (f"?{query}" if query else "")
            sb.recorder.record(
                Visit(
                    kind,
                    sb.clock.epoch_ms(),
                    None,
                    None,
                    user_agent,
                    referer,
                    _client(scope),
                    visited,
                )
            )


def redirect_headers(status: int, location: str, crawlable: bool) -> list[tuple[bytes, bytes]]:
    """A redirect's headers: permanent ones may be cached by browsers, others not."""
    headers = [
        (b"location", location.encode("latin-1", "strict") if location.isascii() else _ascii(location)),
        (b"content-length", b"0"),
        (b"cache-control", b"private, max-age=30") if status in _PERMANENT else _NO_STORE,
        (b"referrer-policy", b"unsafe-url"),
    ]
    if not crawlable:
        headers.append(_NOINDEX)
    return headers


def _ascii(location: str) -> bytes:
    # Checked targets are ASCII except for IRIs with non-ASCII paths; percent-encode those bytes.
    return quote(location, safe=":/?#[]@!$&'()*+,;=%~").encode("ascii")


class _FastPathCollector(Collector):
    """Exposes the hot path's plain-int counters at scrape time (no lock per redirect)."""

    def __init__(self, fast_path: RedirectFastPath, holder: dict[str, Shortener]) -> None:
        self._fast_path = fast_path
        self._holder = holder
        self._started = time.monotonic()

    def collect(self) -> Any:
        redirects = CounterMetricFamily(
            "shortener_fast_redirects", "Redirects answered from the in-process LRU"
        )
        redirects.add_metric([], self._fast_path.fast)
        yield redirects
        sb = self._holder.get("shortener")
        if sb is None:
            return
        visits = CounterMetricFamily(
            "shortener_visits", "Visits by outcome on the way to the event log", labels=["outcome"]
        )
        visits.add_metric(["recorded"], sb.recorder.recorded)
        visits.add_metric(["published"], sb.recorder.published)
        visits.add_metric(["dropped"], sb.recorder.dropped)
        yield visits
        buffered = GaugeMetricFamily("shortener_visits_buffered", "Visits waiting to be published")
        buffered.add_metric([], sb.recorder.buffered)
        yield buffered
        lru = CounterMetricFamily("shortener_link_lookups", "Link lookups by tier", labels=["tier"])
        lru.add_metric(["lru_hit"], sb.source.hits)
        lru.add_metric(["lru_miss"], sb.source.misses)
        lru.add_metric(["shared_hit"], sb.source.shared_hits)
        lru.add_metric(["database"], sb.source.loads)
        yield lru
        refreshed = CounterMetricFamily(
            "shortener_links_refreshed", "Cached links reloaded ahead of expiry because they were in use"
        )
        refreshed.add_metric([], sb.source.refreshed)
        yield refreshed
