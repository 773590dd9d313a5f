"""The events port and its adapters; `open_event_bus` picks one from a URL setting."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from scalebox.core.clock import Clock
from scalebox.core.errors import InvalidError
from scalebox.core.events.consumer import (
    BatchHandler,
    ErrorHook,
    consume_batch_once,
    run_batch_consumer,
    run_consumer,
)
from scalebox.core.events.kafka import EventBusUnavailableError, KafkaEventBus
from scalebox.core.events.memory import MemoryEventBus
from scalebox.core.events.port import BATCH_RECORDS_MAX, Event, EventBus, Handler, consume_once
from scalebox.core.events.sqlite import SqliteEventBus

__all__ = [
    "BATCH_RECORDS_MAX",
    "BatchHandler",
    "ErrorHook",
    "Event",
    "EventBus",
    "EventBusUnavailableError",
    "Handler",
    "KafkaEventBus",
    "MemoryEventBus",
    "SqliteEventBus",
    "consume_batch_once",
    "consume_once",
    "open_event_bus",
    "run_batch_consumer",
    "run_consumer",
]


_SQLITE_WRITERS: dict[str, Literal["thread", "process"]] = {
    "": "thread",
    "writer=thread": "thread",
    "writer=process": "process",
}


def open_event_bus(url: str, *, clock: Clock, base_dir: Path | None = None) -> EventBus:
    """`memory://`, `sqlite:///abs/path.db`, `sqlite:relative.db` (under `base_dir`, else the cwd;
    `?writer=process` runs its writes in a writer process, see SqliteEventBus), or
    `kafka://host:port[,host:port...]` (options: `?namespace=app.&replication_factor=3`)."""
    parts = urlsplit(url)
    if parts.scheme == "memory" and not (parts.netloc or parts.path or parts.query):
        return MemoryEventBus(clock)
    if parts.scheme == "sqlite" and parts.path and not parts.netloc and parts.query in _SQLITE_WRITERS:
        path = Path(parts.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return SqliteEventBus(path, clock, writer=_SQLITE_WRITERS[parts.query])
    if parts.scheme == "kafka" and parts.netloc:
        return KafkaEventBus.from_url(url, clock)
    raise InvalidError(
        f"unsupported event bus URL {url!r}: use memory://, sqlite:///abs/path.db, sqlite:relative.db"
        " (either with an optional ?writer=process) or kafka://host:port",
        field="url",
    )
