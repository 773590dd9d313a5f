"""The one place the shortener's adapters are chosen and wired, and its ASGI app is built."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from scalebox.core import db
from scalebox.core.auth import AccountService, CsrfCodec, SessionCodec, SqlAccountRepository
from scalebox.core.cache import open_cache
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.events import Event, open_event_bus, run_batch_consumer, run_consumer
from scalebox.core.ids import SnowflakeGenerator
from scalebox.core.ratelimit import open_rate_limiter
from scalebox.core.settings import ensure_secret_key
from scalebox.core.web import WebSettings, create_app
from scalebox.core.web.accounts import wire_accounts
from scalebox.core.web.app import AppParts
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.shortener.analytics import Enricher
from scalebox.shortener.domain import CodeCipher
from scalebox.shortener.http import build_pages, routers
from scalebox.shortener.http.hot import RedirectFastPath
from scalebox.shortener.service.analytics import ANALYTICS_GROUP, POLL_EVENTS_MAX, AnalyticsService
from scalebox.shortener.service.links import Blocklist, Limits, LinkService
from scalebox.shortener.service.redirects import (
    LINKS_TOPIC,
    VISITS_TOPIC,
    CacheSettings,
    LinkSource,
    VisitRecorder,
)
from scalebox.shortener.service.runtime import Shortener
from scalebox.shortener.settings import ShortenerSettings
from scalebox.shortener.storage import MIGRATIONS, VERSION_TABLE
from scalebox.shortener.storage.analytics_sql import SqlVisitRepository
from scalebox.shortener.storage.sql import SqlLinkRepository
from scalebox.shortener.storage.tables import accounts as account_tables

logger = logging.getLogger(__name__)

SESSION_SECONDS = 30 * 24 * 3600
# Links due for a refresh (a minute or more before they expire) are reloaded a batch at a time, with
# this pause between batches: up to 1,000 links a second, never more than a batch's worth of the loop
# at once. With nothing due, the task looks again after REFRESH_IDLE_SECONDS.
REFRESH_PAUSE_SECONDS = 0.05
REFRESH_IDLE_SECONDS = 1.0


def code_key(secret: str) -> bytes:
    """The key of the code permutation, derived from the server's secret (so codes are not guessable)."""
    return hmac.digest(secret.encode(), b"scalebox shortener codes", hashlib.sha256)


def own_hosts(settings: ShortenerSettings) -> set[str]:
    """Host names that are this shortener: links to them would loop."""
    hosts = {f"127.0.0.1:{settings.port}", f"localhost:{settings.port}"}
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        if parts.hostname:
            hosts.add(parts.hostname.lower())
            if parts.port:
                hosts.add(f"{parts.hostname.lower()}:{parts.port}")
    return hosts


@contextlib.asynccontextmanager
async def open_shortener(
    settings: ShortenerSettings,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    registry: CollectorRegistry | None = None,
    secret: str | None = None,
) -> AsyncIterator[Shortener]:
    """Open every adapter named by `settings`, migrate the database, and close it all afterwards."""
    clock = clock or SystemClock()
    rng = rng or random.SystemRandom()
    settings.system_dir.mkdir(parents=True, exist_ok=True)
    engine = db.open_engine(settings.resolved_database_url)
    await db.upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
    events = open_event_bus(settings.resolved_events_url, clock=clock, base_dir=Path.cwd())
    shared_cache = open_cache(settings.cache_url, clock=clock) if settings.cache_url else None
    limiter = open_rate_limiter(settings.ratelimit_url, clock=clock)
    secret = secret or ensure_secret_key(settings.data_dir, settings.secret_key)
    repo = SqlLinkRepository(engine)
    source = LinkSource(
        repo.get,
        clock,
        CacheSettings(settings.lru_entries, settings.cache_seconds, settings.negative_cache_seconds),
        load_many=repo.get_many,
        shared=shared_cache,
        events=events,
    )
    snowflakes = SnowflakeGenerator(clock, settings.node_id)
    links = LinkService(
        repo=repo,
        source=source,
        cipher=CodeCipher(code_key(secret)),
        new_id=snowflakes.next_id,
        clock=clock,
        limiter=limiter,
        limits=Limits(
            create_per_minute_anonymous=settings.create_limit_per_minute_anonymous,
            create_per_minute_account=settings.create_limit_per_minute_account,
            bulk_links_max=settings.bulk_links_max,
            code_block_size=settings.code_block_size,
            import_rows_max=settings.import_rows_max,
        ),
        blocklist=Blocklist(file=settings.blocklist_file),
        own_hosts=own_hosts(settings),
    )
    await links.refresh_blocklist()
    enricher = Enricher(geoip_database=settings.geoip_database)
    analytics = AnalyticsService(SqlVisitRepository(engine), enricher, clock)
    recorder = VisitRecorder(
        events,
        flush_seconds=settings.visit_flush_seconds,
        batch_max=settings.visit_batch_max,
        buffer_max=settings.visit_buffer_max,
    )
    try:
        yield Shortener(
            settings=settings,
            engine=engine,
            events=events,
            shared_cache=shared_cache,
            limiter=limiter,
            links=links,
            source=source,
            recorder=recorder,
            analytics=analytics,
            accounts=AccountService(
                SqlAccountRepository(engine, account_tables), clock, rng, snowflakes.next_id
            ),
            sessions=SessionCodec(secret, SESSION_SECONDS, clock),
            csrf=CsrfCodec(secret),
            clock=clock,
            rng=rng,
            registry=registry or CollectorRegistry(),
        )
    finally:
        with contextlib.suppress(Exception):
            await recorder.flush()
        enricher.close()
        for closeable in (events, limiter, *((shared_cache,) if shared_cache else ())):
            await closeable.close()
        await engine.dispose()


class Workers:
    """The shortener's background tasks: visit publishing, and (when `background`) analytics,
    cache invalidation from other processes, the blocklist rescan and event-log retention."""

    def __init__(self, shortener: Shortener) -> None:
        self._shortener = shortener
        self._stop = asyncio.Event()

    def start(self, *, background: bool, serving: bool = True) -> list[asyncio.Task[Any]]:
        """`serving`: this process answers redirects (visit publisher, cache invalidations);
        `background`: it runs the consumers and schedules (analytics, rescan, retention)."""
        sb = self._shortener
        tasks: list[asyncio.Task[Any]] = []
        if serving:
            tasks.append(asyncio.create_task(sb.recorder.run(self._stop), name="shortener-visit-publisher"))
            tasks.append(asyncio.create_task(self._invalidations(), name="shortener-invalidations"))
            tasks.append(
                asyncio.create_task(
                    self._every(REFRESH_IDLE_SECONDS, self._refresh_due), name="shortener-lru-refresh"
                )
            )
        if background:
            tasks.append(
                asyncio.create_task(
                    run_batch_consumer(
                        sb.events,
                        VISITS_TOPIC,
                        ANALYTICS_GROUP,
                        sb.analytics.handle_batch,
                        stop=self._stop,
                        max_events=POLL_EVENTS_MAX,
                    ),
                    name="shortener-analytics",
                )
            )
            tasks.append(asyncio.create_task(self._every(sb.settings.blocklist_rescan_seconds, self._rescan)))
            if sb.settings.visits_retention_days > 0:
                tasks.append(asyncio.create_task(self._every(3600.0, self._trim)))
        return tasks

    async def run_until(self, stopping: asyncio.Event) -> None:
        """Run only the background work (a `scalebox shortener worker` process) until `stopping`."""
        tasks = self.start(background=True, serving=False)
        await stopping.wait()
        await self.stop(tasks)

    async def stop(self, tasks: list[asyncio.Task[Any]]) -> None:
        self._stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _invalidations(self) -> None:
        """Evict links other processes changed: a group of this process's own, starting at the log's
        end (its cache starts empty, so history means nothing to it). Its own changes come back too,
        which costs one more eviction of an entry it already dropped."""
        sb = self._shortener
        group = f"invalidate-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        await sb.events.commit(LINKS_TOPIC, group, await sb.events.latest_offset(LINKS_TOPIC))

        async def evict(event: Event) -> None:
            sb.source.evict_local(event.key.decode())

        await run_consumer(sb.events, LINKS_TOPIC, group, evict, stop=self._stop, max_events=500)

    async def _refresh_due(self) -> float | None:
        """Reload one batch of the LRU's due links; the next comes after a short pause while any are
        left, so a burst of them (links a warm-up cached together) is spread over seconds instead of
        holding the loop in one go."""
        source = self._shortener.source
        await source.refresh_due()
        return REFRESH_PAUSE_SECONDS if source.lru.due else None

    async def _rescan(self) -> None:
        await self._shortener.links.rescan()

    async def _trim(self) -> None:
        sb = self._shortener
        keep_after = sb.clock.now() - timedelta(days=sb.settings.visits_retention_days)
        await sb.events.trim(VISITS_TOPIC, keep_after)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[float | None]]) -> None:
        """Run `job` until stopped, `seconds` apart, or after the pause it returns instead."""
        while not self._stop.is_set():
            pause = seconds
            try:
                asked = await job()
                if asked is not None:
                    pause = asked
            except Exception:
                logger.exception("background job %s failed", getattr(job, "__name__", job))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)


def freeze_startup_objects() -> None:
    """Move everything built so far (parsers, regexes, tables, templates), which lives as long as the
    process, out of the garbage collector's sight: full collections stop rescanning it. In `serve`
    that scanning made the redirect's tail latency jump every few seconds; in `worker` it cost the
    analytics consumer a share of its time per visit."""
    gc.collect()
    gc.freeze()


def build_app(
    settings: ShortenerSettings, *, clock: Clock | None = None, rng: random.Random | None = None
) -> RedirectFastPath:
    """The ASGI app: the redirect fast path in front of the FastAPI app, which opens the shortener
    and starts its background workers in its lifespan."""
    holder: dict[str, Shortener] = {}
    registry = CollectorRegistry()
    secret = ensure_secret_key(settings.data_dir, settings.secret_key)
    rng = rng or random.SystemRandom()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_shortener(
            settings, clock=clock, rng=rng, registry=registry, secret=secret
        ) as shortener:
            app.state.shortener = shortener
            app.state.accounts = wire_accounts("shortener", shortener, key_header_first="x-api-key")
            holder["shortener"] = shortener
            workers = Workers(shortener)
            tasks = workers.start(background=settings.workers)
            if settings.gc_freeze:
                freeze_startup_objects()
            try:
                yield
            finally:
                holder.pop("shortener", None)
                await workers.stop(tasks)

    parts = AppParts(
        name="shortener",
        title="scalebox shortener",
        routers=routers(),
        pages=build_pages(),
        lifespan=lifespan,
        health_checks={"database": lambda: _ping(holder)},
        static_dir=Path(__file__).parent / "static",
        registry=registry,
    )
    web = WebSettings(body_bytes_max=settings.body_bytes_max, log_requests=settings.log_requests)
    app = create_app(parts, web)
    app.add_middleware(BrowserIdMiddleware, rng=rng, codec=CsrfCodec(secret), secure=settings.secure_cookies)
    return RedirectFastPath(app, holder, registry)


async def _ping(holder: dict[str, Shortener]) -> None:
    async with holder["shortener"].engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
