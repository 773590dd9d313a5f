"""The one place the event log's parts are chosen and wired: broker, group coordinator, Kafka API,
listeners, background work (retention, compaction, group session timers) and the console."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import structlog
import uvloop

from scalebox.core.clock import Clock, SystemClock
from scalebox.core.supervisor import stop_on_signals
from scalebox.eventlog.api import KafkaApi, Listener
from scalebox.eventlog.http.console import serve_console
from scalebox.eventlog.server import KafkaServer, ServerLimits
from scalebox.eventlog.service.broker import Broker, BrokerLimits
from scalebox.eventlog.service.group_log import TopicGroupLog
from scalebox.eventlog.service.groups import GroupCoordinator
from scalebox.eventlog.settings import EventLogSettings

log = structlog.get_logger("scalebox.eventlog")

GROUP_TICK_SECONDS = 0.1


@dataclass
class EventLog:
    settings: EventLogSettings
    clock: Clock
    broker: Broker
    groups: GroupCoordinator
    api: KafkaApi
    server: KafkaServer
    listeners: list[Listener] = field(default_factory=list)


@contextlib.asynccontextmanager
async def open_eventlog(settings: EventLogSettings, clock: Clock | None = None) -> AsyncIterator[EventLog]:
    """Open the broker's storage (recovering every partition) and load group state; close on exit."""
    clock = clock or SystemClock()
    broker = Broker(
        settings.system_dir,
        clock,
        defaults=settings.topic_defaults(),
        limits=BrokerLimits(
            partitions_max=settings.partitions_max,
            topics_max=settings.topics_max,
            num_partitions=settings.num_partitions,
            auto_create_topics=settings.auto_create_topics,
        ),
    )
    await asyncio.to_thread(broker.open)
    groups = GroupCoordinator(
        TopicGroupLog(broker),
        clock,
        initial_rebalance_delay_ms=settings.group_initial_rebalance_delay_ms,
        min_session_timeout_ms=settings.group_min_session_timeout_ms,
        max_session_timeout_ms=settings.group_max_session_timeout_ms,
        group_max_size=settings.group_max_size,
    )
    try:
        await groups.load()
        advertised = Listener(settings.public_host, settings.port, settings.sasl_required)
        api = KafkaApi(
            broker,
            groups,
            advertised=advertised,
            fetch_bytes_max=settings.fetch_bytes_max,
            sasl_mechanisms=settings.sasl_mechanisms,
        )
        server = KafkaServer(
            api,
            ServerLimits(settings.frame_bytes_max, settings.connections_max, settings.in_flight_requests_max),
            settings.sasl_mechanisms,
        )
        yield EventLog(settings, clock, broker, groups, api, server)
    finally:
        await groups.close()
        await broker.close()


async def start_listeners(eventlog: EventLog) -> list[Listener]:
    """Bind the Kafka listener (and the SASL one when configured); port 0 picks a free port, and the
    advertised address follows it."""
    settings = eventlog.settings
    wanted = [Listener(settings.host, settings.port, settings.sasl_required)]
    if settings.sasl_port:
        wanted.append(Listener(settings.host, settings.sasl_port, True))
    bound = []
    for listener in wanted:
        server = await eventlog.server.listen(listener)
        port = server.sockets[0].getsockname()[1]
        bound.append(Listener(listener.host, port, listener.sasl))
    eventlog.listeners = bound
    main = bound[0]
    eventlog.api.advertised = Listener(settings.public_host, main.port, main.sasl)
    return bound


async def run_background(eventlog: EventLog) -> None:
    """Group session timers, segment roll and retention, and the compaction of compacted topics."""
    settings = eventlog.settings

    async def groups() -> None:
        while True:
            await asyncio.sleep(GROUP_TICK_SECONDS)
            eventlog.groups.tick()

    async def retention() -> None:
        while True:
            await asyncio.sleep(settings.retention_check_interval_seconds)
            deleted = eventlog.broker.enforce_retention()
            if deleted:
                log.info("retention removed segments", segments=deleted)

    async def cleaner() -> None:
        while True:
            await asyncio.sleep(settings.cleaner_interval_seconds)
            now = eventlog.broker.now_ms()
            for partition in eventlog.broker.compacted_partitions():
                stats = await asyncio.to_thread(partition.log.compact, now)
                if stats.segments_cleaned:
                    log.info(
                        "compacted",
                        partition=f"{partition.topic}-{partition.index}",
                        records_before=stats.records_before,
                        records_after=stats.records_after,
                    )

    await asyncio.gather(_forever(groups), _forever(retention), _forever(cleaner))


async def _forever(job: Callable[[], Awaitable[None]]) -> None:
    """Run a background loop; a failure is logged and the loop starts again (never taking the broker
    down with it)."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job failed; restarting it")
            await asyncio.sleep(1)


async def serve_eventlog(settings: EventLogSettings, *, stop: asyncio.Event | None = None) -> None:
    """Serve the Kafka listeners and the console until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or stop_on_signals()
    async with open_eventlog(settings) as eventlog:
        listeners = await start_listeners(eventlog)
        for listener in listeners:
            log.info(
                "kafka listener ready",
                address=f"{listener.host}:{listener.port}",
                security="SASL_PLAINTEXT" if listener.sasl else "PLAINTEXT",
            )
        background = asyncio.get_running_loop().create_task(run_background(eventlog))
        console = None
        if settings.console_port >= 0:
            console = asyncio.get_running_loop().create_task(serve_console(eventlog, stop))
        try:
            await stop.wait()
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
            if console is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await console
            await eventlog.server.close()


def run(settings: EventLogSettings) -> None:
    uvloop.run(serve_eventlog(settings))
