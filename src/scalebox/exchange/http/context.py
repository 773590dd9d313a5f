"""What the exchange's web app is built from (`WebContext`, made by the exchange's wiring) and what
its handlers work with (`Web`, kept in `app.state.web`): the venue, the directory, clearing,
market data, the status callbacks of the parts the web app only reports on, and the services
built on them."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from starlette.requests import HTTPConnection

from scalebox.core.auth import NamedSessionCodec
from scalebox.core.clock import Clock, epoch_ns
from scalebox.core.ratelimit import RateLimiter
from scalebox.exchange.domain import Instrument
from scalebox.exchange.errors import UnknownInstrumentError
from scalebox.exchange.service.activity import ActivityMeter
from scalebox.exchange.service.clearing import Clearing
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.execution_feed import ExecutionFeed
from scalebox.exchange.service.marketdata import MarketData
from scalebox.exchange.service.operations import Operations
from scalebox.exchange.service.order_entry import OrderEntry
from scalebox.exchange.service.venue import Venue
from scalebox.exchange.settings import ExchangeSettings

DEFAULT_TICK_SIZE = Decimal("0.01")  # for a symbol nobody listed (a rejected order's, say)


def _no_fix_sessions() -> list[dict[str, Any]]:
    return []


def _no_standby() -> dict[str, Any] | None:
    return None


def _no_journal() -> dict[str, Any]:
    return {}


@dataclass
class WebContext:
    """Everything `create_web_app` needs. The callbacks are read on each operations page view:
    `fix_sessions()` one dict per FIX session (any keys: they are shown as they are),
    `standby_status()` {"sequence", "lag", "updated_at"} or None without a standby,
    `journal_status()` {"last_sequence", "segments", "last_snapshot", ...}."""

    settings: ExchangeSettings
    venue: Venue
    directory: Directory
    clearing: Clearing
    market_data: MarketData | None = None
    fix_sessions: Callable[[], list[dict[str, Any]]] = _no_fix_sessions
    standby_status: Callable[[], dict[str, Any] | None] = _no_standby
    journal_status: Callable[[], dict[str, Any]] = _no_journal
    clock: Clock | None = None  # None: the venue's
    rng: random.Random = field(default_factory=random.SystemRandom)  # ClOrdIDs and CSRF browser ids


@dataclass(frozen=True)
class Web:
    """The wiring handlers read (`web(request)`); http/app.py builds it."""

    context: WebContext
    clock: Clock
    sessions: NamedSessionCodec
    limiter: RateLimiter
    orders: OrderEntry
    operations: Operations
    executions: ExecutionFeed
    activity: ActivityMeter

    @property
    def settings(self) -> ExchangeSettings:
        return self.context.settings

    @property
    def venue(self) -> Venue:
        return self.context.venue

    @property
    def directory(self) -> Directory:
        return self.context.directory

    @property
    def clearing(self) -> Clearing:
        return self.context.clearing

    def symbols(self) -> list[str]:
        """The instruments the engine knows (the sequenced definitions), in name order."""
        return sorted(self.venue.engine.instruments)

    def instrument(self, symbol: str) -> Instrument:
        state = self.venue.engine.instruments.get(symbol)
        if state is None:
            raise UnknownInstrumentError(f"no instrument {symbol!r} is listed")
        return state.instrument

    def tick_size(self, symbol: str) -> Decimal:
        state = self.venue.engine.instruments.get(symbol)
        return DEFAULT_TICK_SIZE if state is None else state.instrument.tick_size

    def now_ns(self) -> int:
        return epoch_ns(self.clock.now())


def web(connection: HTTPConnection) -> Web:
    return cast("Web", connection.app.state.web)
