"""Wiring: the one place the object store's adapters are chosen, and the servers it runs."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import structlog
import uvicorn
import uvloop
from fastapi import FastAPI
from starlette.types import ASGIApp

from scalebox.core.auth import CsrfCodec
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.db import open_engine, upgrade
from scalebox.core.errors import IntegrityError
from scalebox.core.settings import ensure_secret_key
from scalebox.core.web.app import AppParts, WebSettings, create_app
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.objectstore.errors import BucketAlreadyOwnedByYouError
from scalebox.objectstore.http import console_api, console_pages
from scalebox.objectstore.http.s3 import S3Api
from scalebox.objectstore.service.data import DataPlane
from scalebox.objectstore.service.expiry import Expiry
from scalebox.objectstore.service.keys import KeyService, Principal, SecretSealer
from scalebox.objectstore.service.objects import ObjectService
from scalebox.objectstore.service.upkeep import DamageReports, Upkeep
from scalebox.objectstore.settings import MiB, ObjectStoreSettings
from scalebox.objectstore.storage import MIGRATIONS, VERSION_TABLE
from scalebox.objectstore.storage.erasure import ErasureLayout, ErasureSet
from scalebox.objectstore.storage.sql import SqlMetadataStore

log = structlog.get_logger("objectstore.app")


@dataclass(frozen=True)
class ObjectStore:
    """Everything one object store process holds."""

    settings: ObjectStoreSettings
    clock: Clock
    store: SqlMetadataStore
    erasure: ErasureSet
    service: ObjectService
    keys: KeyService
    upkeep: Upkeep
    expiry: Expiry
    secret_key: str = field(repr=False)  # signs console sessions and CSRF tokens


@asynccontextmanager
async def open_objectstore(
    settings: ObjectStoreSettings, clock: Clock | None = None, *, format_drives: bool = True
) -> AsyncIterator[ObjectStore]:
    """Open the metadata database (migrated) and the drives; ensure the configured root key.

    `format_drives=False` leaves missing and empty drives as they are, for commands that only report
    on them or never touch them (usage, keys): formatting would show a lost drive as "ok" and empty.
    """
    clock = clock or SystemClock()
    settings.system_dir.mkdir(parents=True, exist_ok=True)
    secret = ensure_secret_key(settings.system_dir, settings.secret_key)
    engine = open_engine(settings.resolved_database_url)
    try:
        await upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
        store = SqlMetadataStore(engine)
        layout = ErasureLayout(settings.data_shards, settings.parity_shards, settings.block_bytes)
        damage = DamageReports(asyncio.get_running_loop())
        erasure = ErasureSet(
            settings.resolved_drives, layout, fsync=settings.fsync, on_degraded=damage.report
        )
        try:
            if format_drives:
                await asyncio.to_thread(erasure.format_drives)
            upkeep = Upkeep(store, erasure, damage)
            data = DataPlane(
                erasure,
                inline_bytes_max=settings.inline_bytes_max,
                stripe_bytes=settings.block_bytes,
                on_degraded=damage.report,
                on_spill=lambda data_id, number: store.record_intent(data_id, number, clock.now()),
            )
            service = ObjectService(store, data, settings, clock, on_garbage=upkeep.garbage_queued)
            keys = KeyService(store, SecretSealer(secret), clock)
            if settings.root_access_key or settings.root_secret_key:
                await keys.ensure("root", settings.root_access_key, settings.root_secret_key, is_admin=True)
                await _ensure_buckets(
                    service, Principal(settings.root_access_key, "root", True), settings.buckets
                )
            expiry = Expiry(store, clock, on_garbage=upkeep.garbage_queued)
            yield ObjectStore(
                settings, clock, store, erasure, service, keys, upkeep, expiry, secret_key=secret
            )
        finally:
            erasure.close()
    finally:
        await engine.dispose()


async def _ensure_buckets(service: ObjectService, root: Principal, names: tuple[str, ...]) -> None:
    for name in names:
        with suppress(BucketAlreadyOwnedByYouError):
            await service.create_bucket(root, name)


def build_console_app(objectstore: ObjectStore, api: S3Api) -> FastAPI:
    """The console port's app: the console's web pages, /healthz (enough drives online to read),
    /metrics, /api/stats."""

    async def drives_readable() -> None:
        drives = await asyncio.to_thread(objectstore.erasure.drive_status)
        online = sum(drive.state == "ok" for drive in drives)
        if online < objectstore.settings.data_shards:
            raise IntegrityError(
                f"only {online} of {len(drives)} drives online; reads need {objectstore.settings.data_shards}"
            )

    settings = objectstore.settings
    console = console_pages.build_console(
        settings,
        objectstore.clock,
        service=objectstore.service,
        keys=objectstore.keys,
        upkeep=objectstore.upkeep,
        erasure=objectstore.erasure,
        server_secret=objectstore.secret_key,
    )
    parts = AppParts(
        name="objectstore",
        title="scalebox object store",
        routers=[console_api.router, *console_pages.routers()],
        pages=console_pages.build_pages(),
        health_checks={"drives": drives_readable},
        static_dir=console_pages.STATIC,
        state={"objectstore": objectstore, "s3_api": api, "console": console},
    )
    # The upload form carries one object of up to object_bytes_max, plus room for the form around it.
    web = WebSettings(body_bytes_max=settings.object_bytes_max + MiB, log_requests=settings.log_requests)
    app = create_app(parts, web)
    codec = CsrfCodec(objectstore.secret_key)
    app.add_middleware(
        BrowserIdMiddleware, rng=random.SystemRandom(), codec=codec, secure=settings.secure_cookies
    )
    return app


def _server(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


async def serve_objectstore(settings: ObjectStoreSettings) -> None:
    """Serve the S3 API and the console port (and run the upkeep and the lifecycle job) until
    SIGINT/SIGTERM."""
    async with open_objectstore(settings) as objectstore:
        # Before the first request: a temp file now can only be a write or heal a crash cut short.
        removed = await asyncio.to_thread(objectstore.erasure.remove_temp_files)
        abandoned = await objectstore.store.abandon_intents(objectstore.clock.now())
        if removed or abandoned:
            log.info("cleaning up writes a crash cut short", temp_files=removed, shard_sets=abandoned)
        api = S3Api(objectstore.service, objectstore.keys, settings, objectstore.clock)
        workers = None
        if settings.workers:
            workers = asyncio.gather(
                objectstore.upkeep.run(
                    gc_seconds=settings.gc_interval_seconds, scrub_seconds=settings.scrub_interval_seconds
                ),
                objectstore.expiry.run(seconds=settings.lifecycle_interval_seconds),
            )
        servers = [
            _server(api, settings.host, settings.port),
            _server(build_console_app(objectstore, api), settings.host, settings.console_port),
        ]
        try:
            await asyncio.gather(*(server.serve() for server in servers))
        finally:
            if workers is not None:
                workers.cancel()
                with suppress(asyncio.CancelledError):
                    await workers
            await objectstore.upkeep.collect_garbage()


def run(settings: ObjectStoreSettings) -> None:
    """Serve on uvloop (installed with uvicorn[standard]) until a signal stops the server."""
    uvloop.run(serve_objectstore(settings))
