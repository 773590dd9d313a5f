"""The exchange's web app in this process for tests: a real venue on a real journal, clearing on
SQLite, market data, and a directory of members, all on tmp_path. `open_web_exchange` runs on the
test's event loop (httpx over ASGI, or uvicorn on a loopback socket); `serve_web_exchange` runs
everything on a background thread's loop, for a browser driven from the test's thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from scalebox.core.auth.passwords import TEST_PARAMS
from scalebox.core.clock import SystemClock
from scalebox.core.db import open_engine, sqlite_url, upgrade
from scalebox.exchange.domain import (
    DefineInstrument,
    DefineParticipant,
    Instrument,
    Participant,
    Phase,
    SetPhase,
)
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.http.app import create_web_app
from scalebox.exchange.http.context import WebContext
from scalebox.exchange.service.clearing import Clearing
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.marketdata import MarketData
from scalebox.exchange.service.venue import Venue
from scalebox.exchange.settings import ExchangeSettings
from scalebox.exchange.storage.clearing_sql import MIGRATIONS, VERSION_TABLE, SqlClearingStore
from scalebox.exchange.storage.journal import Journal
from tests.servers import HOST

PASSWORD = "password123"
MEMBERS = {"alice": True, "bob": False, "carol": False}  # participant id -> operator
SECRET_KEY = "a test secret key that is long enough"


@dataclass
class WebExchange:
    app: FastAPI
    venue: Venue
    clearing: Clearing
    directory: Directory
    market_data: MarketData
    settings: ExchangeSettings


@contextlib.asynccontextmanager
async def open_web_exchange(tmp_path: Path, **context: Any) -> AsyncIterator[WebExchange]:
    journal = Journal(tmp_path / "journal")
    journal.open()
    venue = Venue(MatchingEngine(), journal, SystemClock())
    market_data = MarketData()
    venue.add_listener(market_data.on_applied)
    database = open_engine(sqlite_url(tmp_path / "exchange.db"))
    await upgrade(database, MIGRATIONS, version_table=VERSION_TABLE)
    clearing = Clearing(SqlClearingStore(database))
    await clearing.open()
    venue.add_listener(clearing.accept)
    directory = Directory(tmp_path / "directory.json", params=TEST_PARAMS)
    for participant, operator in MEMBERS.items():
        directory.set_member(participant, PASSWORD, operator=operator)
    tasks = [asyncio.create_task(venue.run()), asyncio.create_task(clearing.run())]
    try:
        await venue.submit_many([
            DefineInstrument(Instrument("ACME")),
            DefineInstrument(Instrument("GLOBEX", reference_price_ticks=25_000)),
            *(DefineParticipant(Participant(participant)) for participant in MEMBERS),
            SetPhase("", Phase.CONTINUOUS),
        ])  # fmt: skip
        settings = ExchangeSettings(data_dir=tmp_path, secret_key=SECRET_KEY)
        app = create_web_app(
            WebContext(settings, venue, directory, clearing, market_data=market_data, **context)
        )
        yield WebExchange(app, venue, clearing, directory, market_data, settings)
    finally:
        venue.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await database.dispose()
        journal.close()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner owns SIGINT and SIGTERM


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port of this loop; yields its base URL."""
    sock = socket.create_server((HOST, 0))
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None, ws="websockets-sansio")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # The socket listens already: connections wait in its backlog until uvicorn accepts them.
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class ServedExchange:
    url: str
    exchange: WebExchange
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Any, timeout_seconds: float = 30.0) -> Any:
        """Run a coroutine on the exchange's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_seconds)


@contextlib.contextmanager
def serve_web_exchange(tmp_path: Path) -> Iterator[ServedExchange]:
    """Everything on a background thread's event loop, served on a free port, until the block ends."""
    ready: Future[ServedExchange] = Future()
    stop: list[asyncio.Event] = []

    async def main() -> None:
        async with open_web_exchange(tmp_path) as exchange, serving(exchange.app) as url:
            stop.append(asyncio.Event())
            ready.set_result(ServedExchange(url, exchange, asyncio.get_running_loop()))
            await stop[0].wait()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test through the future
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=thread_main, name="exchange-web", daemon=True)
    thread.start()
    served = ready.result(timeout=60)
    try:
        yield served
    finally:
        served.loop.call_soon_threadsafe(stop[0].set)
        thread.join(timeout=30)
