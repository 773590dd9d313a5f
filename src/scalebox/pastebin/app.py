"""The one place the pastebin's adapters are chosen and wired, and its ASGI app is built."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core import db
from scalebox.core.auth import AccountService, CsrfCodec, SessionCodec, SqlAccountRepository
from scalebox.core.blobs import BlobStore, open_blob_store
from scalebox.core.cache import Cache, MemoryCache, open_cache
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.events import EventBus, open_event_bus
from scalebox.core.ids import SnowflakeGenerator
from scalebox.core.ratelimit import RateLimiter, open_rate_limiter
from scalebox.core.settings import ensure_secret_key
from scalebox.core.web import WebSettings, create_app
from scalebox.core.web.accounts import wire_accounts
from scalebox.core.web.app import AppParts
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.pastebin.http import build_pages, routers
from scalebox.pastebin.service import Limits, ModerationService, PasteService, ReadStats, Upkeep
from scalebox.pastebin.settings import PastebinSettings
from scalebox.pastebin.storage.sql import SqlPasteRepository, SqlReportRepository
from scalebox.pastebin.storage.tables import accounts as account_tables
from scalebox.pastebin.workers import Workers

MIGRATIONS = "scalebox.pastebin.migrations"
VERSION_TABLE = "alembic_version_pastebin"
SESSION_SECONDS = 30 * 24 * 3600


@dataclass
class Pastebin:
    """Everything a running pastebin holds; built by `open_pastebin`, closed by its context."""

    settings: PastebinSettings
    engine: AsyncEngine
    blobs: BlobStore
    cache: Cache
    events: EventBus
    limiter: RateLimiter
    pastes: PasteService
    upkeep: Upkeep
    moderation: ModerationService
    accounts: AccountService
    sessions: SessionCodec
    csrf: CsrfCodec
    clock: Clock
    rng: random.Random
    page_cache: Cache
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)


def limits_from(settings: PastebinSettings) -> Limits:
    return Limits(
        size_bytes_max=settings.size_bytes_max,
        create_per_minute_anonymous=settings.create_limit_per_minute_anonymous,
        create_per_minute_account=settings.create_limit_per_minute_account,
        read_per_minute=settings.read_limit_per_minute,
        secret_scan=settings.secret_scan,
        meta_cache_seconds=settings.meta_cache_seconds,
        content_cache_seconds=settings.content_cache_seconds,
    )


@contextlib.asynccontextmanager
async def open_pastebin(
    settings: PastebinSettings,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    registry: CollectorRegistry | None = None,
    secret: str | None = None,
) -> AsyncIterator[Pastebin]:
    """Open every adapter named by `settings`, migrate the database, and close it all afterwards."""
    clock = clock or SystemClock()
    rng = rng or random.SystemRandom()
    settings.system_dir.mkdir(parents=True, exist_ok=True)
    engine = db.open_engine(settings.resolved_database_url)
    await db.upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
    blobs = open_blob_store(settings.resolved_blob_url, base_dir=Path.cwd())
    cache = open_cache(settings.cache_url, clock=clock)
    events = open_event_bus(settings.resolved_events_url, clock=clock, base_dir=Path.cwd())
    limiter = open_rate_limiter(settings.ratelimit_url, clock=clock)
    registry = registry or CollectorRegistry()
    repo, reports = SqlPasteRepository(engine), SqlReportRepository(engine)
    pastes = PasteService(
        repo=repo,
        reports=reports,
        blobs=blobs,
        cache=cache,
        events=events,
        limiter=limiter,
        clock=clock,
        rng=rng,
        limits=limits_from(settings),
        stats=ReadStats(clock, registry),
    )
    snowflakes = SnowflakeGenerator(clock, settings.node_id)
    accounts = AccountService(SqlAccountRepository(engine, account_tables), clock, rng, snowflakes.next_id)
    secret = secret or ensure_secret_key(settings.data_dir, settings.secret_key)
    try:
        yield Pastebin(
            settings=settings,
            engine=engine,
            blobs=blobs,
            cache=cache,
            events=events,
            limiter=limiter,
            pastes=pastes,
            upkeep=Upkeep(
                pastes=pastes,
                repo=repo,
                reports=reports,
                blobs=blobs,
                events=events,
                clock=clock,
                orphan_grace_seconds=settings.orphan_grace_seconds,
                highlight_ahead_max_lag_seconds=settings.highlight_ahead_max_lag_seconds,
            ),
            moderation=ModerationService(
                pastes=pastes, repo=repo, reports=reports, accounts=accounts, clock=clock
            ),
            accounts=accounts,
            sessions=SessionCodec(secret, SESSION_SECONDS, clock),
            csrf=CsrfCodec(secret),
            clock=clock,
            rng=rng,
            page_cache=MemoryCache(settings.page_cache_entries, clock),
            registry=registry,
        )
    finally:
        await pastes.flush_views()
        for closeable in (events, cache, limiter, blobs):
            await closeable.close()
        await engine.dispose()


def build_app(
    settings: PastebinSettings, *, clock: Clock | None = None, rng: random.Random | None = None
) -> FastAPI:
    """The ASGI app: opens the pastebin and starts its background workers in the lifespan."""
    holder: dict[str, Pastebin] = {}
    registry = CollectorRegistry()
    secret = ensure_secret_key(settings.data_dir, settings.secret_key)
    rng = rng or random.SystemRandom()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_pastebin(
            settings, clock=clock, rng=rng, registry=registry, secret=secret
        ) as pastebin:
            app.state.pastebin = pastebin
            app.state.accounts = wire_accounts("pastebin", pastebin)
            holder["pastebin"] = pastebin
            workers = Workers(
                events=pastebin.events,
                pastes=pastebin.pastes,
                upkeep=pastebin.upkeep,
                view_flush_seconds=settings.view_flush_seconds,
                reap_interval_seconds=settings.reap_interval_seconds,
            )
            tasks = workers.start(background=settings.workers)
            try:
                yield
            finally:
                await workers.stop(tasks)

    parts = AppParts(
        name="pastebin",
        title="scalebox pastebin",
        routers=routers(),
        pages=build_pages(),
        lifespan=lifespan,
        health_checks={
            "database": lambda: _ping(holder),
            "blobs": lambda: _check_blobs(holder),
        },
        static_dir=Path(__file__).parent / "static",
        registry=registry,
    )
    web = WebSettings(body_bytes_max=settings.body_bytes_max, log_requests=settings.log_requests)
    app = create_app(parts, web)
    app.add_middleware(BrowserIdMiddleware, rng=rng, codec=CsrfCodec(secret), secure=settings.secure_cookies)
    return app


async def _check_blobs(holder: dict[str, Pastebin]) -> None:
    await holder["pastebin"].upkeep.check_blobs()


async def _ping(holder: dict[str, Pastebin]) -> None:
    async with holder["pastebin"].engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
