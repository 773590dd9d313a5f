"""Wires the console: the catalog from settings, an HTTP poller, and the page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from scalebox.console.http import pages
from scalebox.console.service import Poller
from scalebox.console.settings import ConsoleSettings
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.web import Pages, WebSettings, create_app
from scalebox.core.web.app import AppParts


def build_app(settings: ConsoleSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.poll_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            poller = Poller(settings.catalog, client, clock)
            app.state.poller = poller
            await poller.poll_all()  # the first page load already has figures
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run(stop, settings.poll_seconds), name="console-poller")
            try:
                yield
            finally:
                stop.set()
                await task

    template_dir = Path(__file__).parent / "templates"
    parts = AppParts(
        name="console",
        title="scalebox console",
        routers=[pages.router],
        pages=Pages(template_dir, site_name="scalebox"),
        lifespan=lifespan,
        static_dir=Path(__file__).parent / "static",
    )
    return create_app(parts, WebSettings(body_bytes_max=64 * 1024, log_requests=settings.log_requests))
