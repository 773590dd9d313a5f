"""The read side: finding a link by code through three cache tiers, and recording visits off the hot path.

Lookup order: this process's LRU (no await, so the hot path can answer without leaving the event
loop's current step), then the shared cache when one is configured (Redis), then SQL. Every cached
copy lives at most `cache_seconds`, clamped to the moment the link's validity changes, so expiry and
"valid since" are exact even on a hit. Unknown codes are cached briefly too, so a flood of bad codes
does not become a flood of queries. Edits and deletes evict at once here and, through the
`shortener.links` topic, in every other process.

Links still being read are refreshed ahead of expiry: a hit in the last quarter of a copy's life
marks the code due, and a background task reloads the due codes many to a query. So a popular link
never misses, and the copies a warm-up cached together do not all fall back on the database in the
same minute.

Visits are appended to an in-memory buffer after the response is sent and published in batches by a
background task; the redirect never waits for, nor writes to, any store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scalebox.core.cache import Cache
from scalebox.core.clock import Clock
from scalebox.core.events import BATCH_RECORDS_MAX, EventBus
from scalebox.core.singleflight import SingleFlight
from scalebox.shortener.domain import VISITS_PER_EVENT_MAX, Link, Visit, VisitFields, encode_visits
from scalebox.shortener.storage.sql import rules_from_json, rules_to_json

logger = logging.getLogger(__name__)

VISITS_TOPIC = "shortener.visits"
LINKS_TOPIC = "shortener.links"
_ABSENT = b"-"  # the shared cache's "no such code" marker
_LIMITED_LINKS_MAX = 100_000
_JITTER = 0.2
_REFRESH_AFTER = 0.75  # a copy read after three quarters of its life is reloaded ahead of expiry
# Codes per refresh query: refreshing a link costs about 30 µs of the event loop's time, so a batch
# holds the loop for under 2 ms.
REFRESH_BATCH_MAX = 50

# An LRU entry: the link (None: no such code), the monotonic deadline, and when a hit makes it due for
# a refresh (infinity: never, for "no such code" and for copies clamped to a validity change).
_Entry = tuple[Link | None, float, float]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    lru_entries: int = 100_000
    cache_seconds: float = 300.0
    negative_cache_seconds: float = 2.0


class LinkLru:
    """A bounded LRU of code → (Link or None for "no such code", deadline on the monotonic clock).

    An entry read after its refresh time is put in `due` (once, with the entry as it was then), for
    `LinkSource.refresh_due` to reload. It counts no hits or misses: a request may look a code up
    several times on its way (see `LinkSource.hits`).
    """

    def __init__(self, max_entries: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        assert max_entries > 0, max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max_entries = max_entries
        self._monotonic = monotonic
        self.due: dict[str, _Entry] = {}

    def get(self, folded: str) -> tuple[bool, Link | None]:
        """(found, link): found is False on a miss or an expired entry."""
        entry = self._entries.get(folded)
        if entry is None:
            return False, None
        now = self._monotonic()
        if entry[1] <= now:
            return False, None
        self._entries.move_to_end(folded)
        if entry[2] <= now and folded not in self.due and len(self.due) < self._max_entries:
            self.due[folded] = entry
        return True, entry[0]

    def put(self, folded: str, link: Link | None, seconds: float, refresh_after: float | None = None) -> None:
        """Cache for `seconds`; a hit after `refresh_after` seconds (if given) makes the entry due."""
        if seconds <= 0:
            self._entries.pop(folded, None)
            return
        now = self._monotonic()
        refresh_at = math.inf if refresh_after is None else now + refresh_after
        self._entries[folded] = (link, now + seconds, refresh_at)
        self._entries.move_to_end(folded)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def entry(self, folded: str) -> _Entry | None:
        """The entry as it is, expired or not, without counting a lookup or touching the order."""
        return self._entries.get(folded)

    def evict(self, folded: str) -> None:
        self._entries.pop(folded, None)

    def __len__(self) -> int:
        return len(self._entries)


class LinkSource:
    """Finds links by folded code: LRU, then the shared cache, then the repository's `get`.

    `hits` and `misses` count lookups as a request resolves them, not every peek: `find` counts its
    own, and the redirect fast path, which peeks with `cached` (maybe more than once per request),
    adds one to `hits` for each redirect it answers from a cached copy.
    """

    def __init__(
        self,
        load: Callable[[str], Awaitable[Link | None]],
        clock: Clock,
        settings: CacheSettings,
        *,
        load_many: Callable[[Sequence[str]], Awaitable[dict[str, Link]]] | None = None,
        shared: Cache | None = None,
        events: EventBus | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._load = load
        self._load_many = load_many
        self._rng = rng or random.Random()
        self._clock = clock
        self._settings = settings
        self._shared = shared
        self._events = events
        self.lru = LinkLru(settings.lru_entries, clock.monotonic)
        self._inflight: SingleFlight[str, Link | None] = SingleFlight()
        self.hits = 0
        self.misses = 0
        self.shared_hits = 0
        self.loads = 0
        self.refreshed = 0

    def cached(self, folded: str) -> tuple[bool, Link | None]:
        """The LRU's answer, without awaiting anything or counting a lookup (the hot path)."""
        return self.lru.get(folded)

    async def find(self, folded: str) -> Link | None:
        found, link = self.lru.get(folded)
        if found:
            self.hits += 1
            return link
        self.misses += 1
        # Concurrent misses for one code share one load.
        return await self._inflight.run(folded, lambda: self._find_uncached(folded))

    async def _find_uncached(self, folded: str) -> Link | None:
        if self._shared is not None:
            data = await self._shared.get(_shared_key(folded))
            if data is not None:
                self.shared_hits += 1
                link = None if data == _ABSENT else decode_link(data)
                self._remember_locally(folded, link)
                return link
        self.loads += 1
        link = await self._load(folded)
        await self.remember(folded, link)
        return link

    async def remember(self, folded: str, link: Link | None) -> None:
        """Put a freshly read (or created) link in both cache tiers."""
        seconds = self._remember_locally(folded, link)
        if self._shared is not None and seconds > 0:
            await self._shared.set(
                _shared_key(folded), _ABSENT if link is None else encode_link(link), seconds
            )

    def _remember_locally(self, folded: str, link: Link | None) -> float:
        refresh_after = None
        if link is None:
            seconds = self._settings.negative_cache_seconds
        else:
            # Up to a fifth shorter at random, so links cached together (a bulk create, a warm-up)
            # do not all expire in the same second and send every lookup to the database at once.
            lifetime = self._settings.cache_seconds * (1.0 - _JITTER * self._rng.random())
            seconds = link.cache_seconds(self._clock.now(), lifetime)
            if self._load_many is not None and seconds == lifetime:
                # A copy clamped to a validity change is not refreshed: its status changes then.
                refresh_after = lifetime * _REFRESH_AFTER
        self.lru.put(folded, link, seconds, refresh_after)
        return seconds

    async def refresh_due(self, batch_max: int = REFRESH_BATCH_MAX) -> int:
        """Reload up to `batch_max` of the links read late in their cached life, in one query, and
        cache them afresh; returns how many were. One batch a call, so the caller paces the work
        (`Workers`: a batch every 50 ms while any are due). A copy evicted or replaced while its query
        ran (an edit, a delete, a miss that reloaded it) is left alone: what was read may predate the
        edit."""
        due = self.lru.due  # only filled when there is a `load_many` (see _remember_locally)
        if self._load_many is None or not due:
            return 0
        batch = [due.popitem() for _ in range(min(len(due), batch_max))]
        fresh = await self._load_many([folded for folded, _ in batch])
        refreshed = 0
        for folded, queued in batch:
            if self.lru.entry(folded) is not queued:
                continue
            link = fresh.get(folded)
            if link is None:
                self.lru.evict(folded)  # deleted elsewhere; the next read finds out
                continue
            old = queued[0]
            # An unchanged link keeps its object, so answers built from it stay valid.
            self._remember_locally(folded, old if link == old else link)
            refreshed += 1
        self.refreshed += refreshed
        return refreshed

    async def forget(self, folded: str) -> None:
        """Evict a changed link here and in the shared cache, and tell the other processes."""
        self.lru.evict(folded)
        if self._shared is not None:
            await self._shared.delete(_shared_key(folded))
        if self._events is not None:
            await self._events.publish(LINKS_TOPIC, folded.encode(), b"changed")

    def evict_local(self, folded: str) -> None:
        """Another process changed this link: drop this process's copy."""
        self.lru.evict(folded)


def _shared_key(folded: str) -> str:
    return f"shortener:link:{folded}"


def encode_link(link: Link) -> bytes:
    """A link as the shared cache keeps it (JSON; datetimes as ISO 8601)."""
    return json.dumps(
        {
            "id": link.id,
            "code": link.code,
            "long_url": link.long_url,
            "target_host": link.target_host,
            "url_hash": link.url_hash,
            "created_at": link.created_at.isoformat(),
            "owner_id": link.owner_id,
            "custom": link.custom,
            "title": link.title,
            "tags": list(link.tags),
            "valid_since": _iso(link.valid_since),
            "valid_until": _iso(link.valid_until),
            "max_visits": link.max_visits,
            "redirect_type": link.redirect_type,
            "forward_query": link.forward_query,
            "crawlable": link.crawlable,
            "disabled": link.disabled,
            "disabled_reason": link.disabled_reason,
            "rules": rules_to_json(link.rules),
            "visits": link.visits,
            "bot_visits": link.bot_visits,
        },
        separators=(",", ":"),
    ).encode()


def decode_link(data: bytes) -> Link:
    raw = json.loads(data)
    return Link(
        id=raw["id"],
        code=raw["code"],
        long_url=raw["long_url"],
        target_host=raw["target_host"],
        url_hash=raw["url_hash"],
        created_at=datetime.fromisoformat(raw["created_at"]),
        owner_id=raw["owner_id"],
        custom=raw["custom"],
        title=raw["title"],
        tags=tuple(raw["tags"]),
        valid_since=_parse_iso(raw["valid_since"]),
        valid_until=_parse_iso(raw["valid_until"]),
        max_visits=raw["max_visits"],
        redirect_type=raw["redirect_type"],
        forward_query=raw["forward_query"],
        crawlable=raw["crawlable"],
        disabled=raw["disabled"],
        disabled_reason=raw["disabled_reason"],
        rules=rules_from_json(raw["rules"]),
        visits=raw["visits"],
        bot_visits=raw["bot_visits"],
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


class VisitRecorder:
    """Buffers visits in memory and publishes them in batches; `record` never blocks or awaits.

    The buffer is bounded: past `buffer_max` a visit is dropped and counted in `dropped` (and in
    /metrics), because the alternative, making redirects wait for the event log, is the failure the
    design exists to avoid. `published` and `dropped` let a benchmark prove nothing was lost.
    Redirects to links with a visit limit are also counted here, per link, so the limit holds
    before the analytics pipeline has stored them: the count a limit is checked against is the larger
    of the stored count and (stored count when this process first served the link + its redirects
    since). Exact with one process; with several, each may overshoot by the others' unstored visits.
    """

    def __init__(
        self,
        events: EventBus,
        *,
        flush_seconds: float = 0.05,
        batch_max: int = 5000,
        buffer_max: int = 200_000,
    ) -> None:
        assert 0 < batch_max <= BATCH_RECORDS_MAX, batch_max
        self._events = events
        self._flush_seconds = flush_seconds
        self._batch_max = batch_max
        self._buffer_max = buffer_max
        self._buffer: list[VisitFields] = []  # encoded when published, off the request's path
        self._wake = asyncio.Event()
        self.recorded = 0
        self.published = 0
        self.dropped = 0
        self.failures = 0
        self._limited: OrderedDict[int, tuple[int, int]] = OrderedDict()  # link id -> (base, served)

    def record(self, visit: Visit, limited: Link | None = None) -> None:
        """Buffer a visit; `limited` is the link when it has a visit limit."""
        self.record_fields(visit.fields(), limited)

    def record_fields(self, fields: VisitFields, limited: Link | None = None) -> None:
        """`record` for the redirect fast path, which builds the fields without a Visit."""
        if len(self._buffer) >= self._buffer_max:
            self.dropped += 1
            return
        self._buffer.append(fields)
        self.recorded += 1
        if limited is not None:
            base, served = self._limited.pop(limited.id, (limited.visits, 0))
            self._limited[limited.id] = (base, served + 1)
            if len(self._limited) > _LIMITED_LINKS_MAX:
                self._limited.popitem(last=False)
        if len(self._buffer) >= self._batch_max:
            self._wake.set()

    def unstored(self, link: Link) -> int:
        """Visits to `link` this process served that its stored count does not show yet."""
        base, served = self._limited.get(link.id, (link.visits, 0))
        return max(base + served - link.visits, 0)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Publish everything buffered now, in batches; returns how many were published."""
        sent = 0
        while self._buffer:
            batch = self._buffer[: self._batch_max]
            del self._buffer[: len(batch)]
            # One event per VISITS_PER_EVENT_MAX visits: a log append per batch, not per visit.
            records = [
                (
                    b"",
                    encode_visits(batch[start : start + VISITS_PER_EVENT_MAX]),
                )
                for start in range(0, len(batch), VISITS_PER_EVENT_MAX)
            ]
            try:
                await self._events.publish_batch(VISITS_TOPIC, records)
            except Exception:
                # Put the batch back in front, so order holds and nothing is lost while the bus is down.
                self._buffer[:0] = batch
                self.failures += 1
                raise
            sent += len(batch)
            self.published += len(batch)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `flush_seconds` (sooner when a batch fills) until `stop`, then flush the rest."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await self._run_until(stop, stopping)
        finally:
            stopping.cancel()
        await self.flush()

    async def _run_until(self, stop: asyncio.Event, stopping: asyncio.Future[Any]) -> None:
        while not stop.is_set():
            waking = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait(
                {waking, stopping}, timeout=self._flush_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            waking.cancel()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                logger.exception("publishing %d buffered visits failed; retrying", len(self._buffer))
                await asyncio.wait({stopping}, timeout=min(1.0, self._flush_seconds * 20))
