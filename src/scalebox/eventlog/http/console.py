"""The event log's console port (8009): the app (web pages, /healthz, /metrics with the broker's
figures, /api/stats for scalebox's front door) and `serve_console`, which app.py runs beside the
Kafka listeners until its stop event is set."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Iterable

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from scalebox.core.auth import CsrfCodec
from scalebox.core.errors import IntegrityError
from scalebox.core.ratelimit import MemoryRateLimiter
from scalebox.core.settings import ensure_secret_key
from scalebox.core.web.app import AppParts, WebSettings, create_app
from scalebox.core.web.csrf import BrowserIdMiddleware
from scalebox.core.web.server import EmbeddedServer
from scalebox.eventlog.http import console_pages
from scalebox.eventlog.http.console_session import Console, RunningEventLog, console_sessions
from scalebox.eventlog.service.group_view import list_group_views

log = structlog.get_logger("scalebox.eventlog.console")

BODY_BYTES_MAX = 2 * 1024 * 1024  # the produce form: a value of up to 512 Ki characters, UTF-8 encoded

stats_router = APIRouter()


@stats_router.get("/api/stats", tags=["Monitoring"])
async def stats(request: Request) -> dict[str, object]:
    """Topics, partitions, bytes and groups held, and the Kafka listeners' connections and requests."""
    eventlog: RunningEventLog = request.app.state.eventlog
    topics = [topic for topic in eventlog.broker.topics.values() if not topic.internal]
    partitions = [partition for topic in topics for partition in topic.partitions]
    return {
        "system": "eventlog",
        "figures": [
            {"key": "topics", "label": "Topics", "value": len(topics), "unit": ""},
            {"key": "partitions", "label": "Partitions", "value": len(partitions), "unit": ""},
            {
                "key": "bytes",
                "label": "Stored",
                "value": sum(partition.log.size_bytes for partition in partitions),
                "unit": "bytes",
            },
            {
                "key": "groups",
                "label": "Consumer groups",
                "value": len(eventlog.groups.list_groups()),
                "unit": "",
            },
            {
                "key": "connections",
                "label": "Kafka connections",
                "value": eventlog.server.connections,
                "unit": "",
            },
            {
                "key": "kafka_requests",
                "label": "Kafka requests (this process)",
                "value": eventlog.server.requests_total,
                "unit": "",
            },
        ],
    }


class EventLogCollector:
    """The broker's figures, read when Prometheus scrapes (nothing to keep up to date in between)."""

    def __init__(self, eventlog: RunningEventLog) -> None:
        self.eventlog = eventlog

    def collect(self) -> Iterable[Metric]:
        broker, server = self.eventlog.broker, self.eventlog.server
        topics = GaugeMetricFamily("scalebox_eventlog_topics", "Topics, internal ones included.")
        topics.add_metric([], len(broker.topics))
        yield topics
        partitions = GaugeMetricFamily(
            "scalebox_eventlog_partitions", "Partitions of every topic.", labels=["topic"]
        )
        stored = GaugeMetricFamily("scalebox_eventlog_log_bytes", "Bytes of log segments.", labels=["topic"])
        for name, topic in sorted(broker.topics.items()):
            partitions.add_metric([name], len(topic.partitions))
            stored.add_metric([name], sum(p.log.size_bytes for p in topic.partitions))
        yield partitions
        yield stored
        views = list_group_views(broker, self.eventlog.groups)
        groups = GaugeMetricFamily("scalebox_eventlog_groups", "Consumer groups the coordinator knows.")
        groups.add_metric([], len(views))
        yield groups
        lag = GaugeMetricFamily(
            "scalebox_eventlog_group_lag",
            "Messages a group has yet to consume, over its partitions.",
            labels=["group"],
        )
        for view in views:
            lag.add_metric([view.group_id], view.total_lag)
        yield lag
        yield GaugeMetricFamily(
            "scalebox_eventlog_connections", "Open Kafka client connections.", value=server.connections
        )
        yield CounterMetricFamily(
            "scalebox_eventlog_kafka_requests", "Kafka requests answered.", value=server.requests_total
        )


def build_console_app(eventlog: RunningEventLog) -> FastAPI:
    """The console port's app; tests call it directly on an EventLog opened in-process."""
    settings = eventlog.settings
    secret = ensure_secret_key(settings.system_dir, settings.secret_key)
    wiring = Console(
        eventlog,
        console_sessions(secret, settings.console_session_seconds, eventlog.clock),
        MemoryRateLimiter(eventlog.clock),
    )

    async def storage_writable() -> None:
        logs = eventlog.broker.directory / "logs"
        if not await asyncio.to_thread(os.access, logs, os.W_OK):
            raise IntegrityError(f"{logs} is not writable")

    registry = CollectorRegistry()
    registry.register(EventLogCollector(eventlog))
    parts = AppParts(
        name="eventlog",
        title="scalebox event log",
        routers=[stats_router, *console_pages.routers()],
        pages=console_pages.build_pages(),
        health_checks={"storage": storage_writable},
        static_dir=console_pages.STATIC,
        registry=registry,
        state={"eventlog": eventlog, "console": wiring},
    )
    app = create_app(parts, WebSettings(body_bytes_max=BODY_BYTES_MAX, log_requests=False))
    app.add_middleware(
        BrowserIdMiddleware,
        rng=random.SystemRandom(),
        codec=CsrfCodec(secret),
        secure=settings.secure_cookies,
    )
    return app


async def serve_console(eventlog: RunningEventLog, stop: asyncio.Event) -> None:
    """Serve the console on `console_port` until `stop` is set (then finish requests in flight).

    A port that cannot be bound is logged and the broker serves on without its console: uvicorn
    would raise SystemExit from inside this task, which ends the whole event loop."""
    settings = eventlog.settings
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        sock = socket.create_server((settings.host, settings.console_port), family=family)
    except OSError as exc:
        log.error(
            "the console could not listen", address=f"{settings.host}:{settings.console_port}", error=str(exc)
        )
        return
    config = uvicorn.Config(
        build_console_app(eventlog),
        lifespan="off",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    server = EmbeddedServer(config)  # app.py's stop event owns the signals
    loop = asyncio.get_running_loop()
    serving = loop.create_task(server.serve(sockets=[sock]))
    stopping = loop.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving
    finally:
        stopping.cancel()
        server.should_exit = True
        sock.close()
