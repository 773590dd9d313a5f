"""The exchange's web app on `port` (8007): the trading screen, the operations view, the post-trade
page, the JSON API, my executions and market data over WebSockets, /healthz and /metrics.

`create_web_app(context)` builds it around a running venue; it adds the listeners it needs (my
executions, orders and trades per second) to the venue. The caller runs clearing's `run()` and
feeds market data; this app only reads them.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.websockets import WebSocket

from scalebox.core.auth import CsrfCodec
from scalebox.core.ratelimit import MemoryRateLimiter
from scalebox.core.settings import ensure_secret_key
from scalebox.core.web.app import AppParts, Lifespan, WebSettings, create_app
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.core.web.pages import Pages
from scalebox.exchange.http import (
    operations_pages,
    orders_api,
    posttrade_pages,
    signin,
    stats,
    trading_pages,
)
from scalebox.exchange.http.context import Web, WebContext, web
from scalebox.exchange.http.executions_ws import executions_socket
from scalebox.exchange.http.marketdata_ws import market_data_socket
from scalebox.exchange.http.render import clock_time
from scalebox.exchange.http.session import page_context, web_sessions
from scalebox.exchange.service.activity import ActivityMeter
from scalebox.exchange.service.execution_feed import ExecutionFeed
from scalebox.exchange.service.operations import Operations
from scalebox.exchange.service.order_entry import OrderEntry

PACKAGE = Path(__file__).parent.parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
NAV = (("/", "Trading"), ("/post-trade", "Post-trade"))
BODY_BYTES_MAX = 64 * 1024  # an order is a few hundred bytes
CLOSE_TRY_AGAIN_LATER = 1013
ROUTERS = (
    signin.router, trading_pages.router, operations_pages.router, posttrade_pages.router,
    orders_api.router, operations_pages.api_router, stats.router,
)  # fmt: skip


def create_web_app(context: WebContext) -> FastAPI:
    """The web app for a running venue. Tests call it directly on a venue opened in process."""
    settings = context.settings
    secret = ensure_secret_key(settings.system_dir, settings.secret_key)
    wiring = build_web(context, secret)
    context.venue.add_listener(wiring.executions.on_applied)
    context.venue.add_listener(wiring.activity.on_applied)

    async def clearing_capturing() -> None:
        context.clearing.check()

    registry = CollectorRegistry()
    registry.register(ExchangeCollector(wiring))
    parts = AppParts(
        name="exchange",
        title="scalebox exchange",
        routers=ROUTERS,
        pages=build_pages(),
        lifespan=_detach_on_shutdown(wiring),
        health_checks={"clearing": clearing_capturing},
        static_dir=STATIC,
        registry=registry,
        state={"web": wiring},
    )
    app = create_app(parts, WebSettings(body_bytes_max=BODY_BYTES_MAX, log_requests=False))
    app.add_api_websocket_route("/ws/executions", executions_socket)
    app.add_api_websocket_route("/ws/market-data", _market_data)
    app.add_middleware(
        BrowserIdMiddleware,
        rng=random.SystemRandom(),
        codec=CsrfCodec(secret),
        secure=settings.secure_cookies,
    )
    return app


def build_pages() -> Pages:
    return Pages(
        TEMPLATES,
        site_name="exchange",
        nav=NAV,
        context_hooks=(page_context,),
        globals_={"clock_time": clock_time},
    )


def build_web(context: WebContext, secret: str) -> Web:
    """The services the handlers use, over the context's venue."""
    settings = context.settings
    clock = context.clock or context.venue.clock
    return Web(
        context=context,
        clock=clock,
        sessions=web_sessions(secret, settings.web_session_seconds, clock),
        limiter=MemoryRateLimiter(clock),
        orders=OrderEntry(context.venue, context.rng),
        operations=Operations(context.venue),
        executions=ExecutionFeed(
            subscribers_max=settings.subscribers_max, queue_max=settings.subscriber_queue_max
        ),
        activity=ActivityMeter(),
    )


async def _market_data(websocket: WebSocket) -> None:
    market_data = web(websocket).context.market_data
    if market_data is None:
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "market data is not running")
        return
    await market_data_socket(websocket, market_data)


def _detach_on_shutdown(wiring: Web) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            wiring.venue.remove_listener(wiring.executions.on_applied)
            wiring.venue.remove_listener(wiring.activity.on_applied)

    return lifespan


class ExchangeCollector:
    """The venue's figures, read when Prometheus scrapes."""

    def __init__(self, wiring: Web) -> None:
        self.wiring = wiring

    def collect(self) -> Iterable[Metric]:
        wiring = self.wiring
        activity, clearing = wiring.activity, wiring.clearing
        orders_per_second, trades_per_second = activity.rates(wiring.now_ns())
        yield GaugeMetricFamily("scalebox_exchange_sequence", "Last sequence number applied.",
                                value=wiring.venue.last_sequence)  # fmt: skip
        yield CounterMetricFamily(
            "scalebox_exchange_orders", "New orders sequenced.", value=activity.orders_total
        )
        yield CounterMetricFamily("scalebox_exchange_trades", "Trades executed.", value=activity.trades_total)
        yield GaugeMetricFamily("scalebox_exchange_orders_per_second", "New orders per second, last 10 s.",
                                value=orders_per_second)  # fmt: skip
        yield GaugeMetricFamily("scalebox_exchange_trades_per_second", "Trades per second, last 10 s.",
                                value=trades_per_second)  # fmt: skip
        yield GaugeMetricFamily("scalebox_exchange_clearing_sequence", "Last sequence stored by clearing.",
                                value=clearing.last_sequence())  # fmt: skip
        yield GaugeMetricFamily("scalebox_exchange_clearing_queued", "Commands waiting for clearing's store.",
                                value=clearing.queued)  # fmt: skip
        yield GaugeMetricFamily("scalebox_exchange_execution_subscribers", "Open my-executions WebSockets.",
                                value=wiring.executions.subscribers)  # fmt: skip
