"""Event log settings, read once from `SCALEBOX_EVENTLOG_*` (and shared `SCALEBOX_*`) variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scalebox.core import settings as core_settings
from scalebox.eventlog.domain import DAY_MS, GiB, MiB, TopicConfig


@dataclass(frozen=True)
class EventLogSettings:
    """Every knob of the broker; defaults are safe for a laptop (loopback, fsync before acks=all)."""

    host: str = "127.0.0.1"
    port: int = 9092  # the Kafka listener (PLAINTEXT)
    console_port: int = 8009
    advertised_host: str = ""  # what Metadata tells clients to connect to; default: host
    # A second listener that requires SASL (PLAIN or SCRAM-SHA-256) before any other request; 0 = off.
    sasl_port: int = 0
    sasl_mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256")
    # Require SASL on the main listener too (then every request, reads and writes, is authenticated).
    sasl_required: bool = False
    data_dir: Path = Path("data")
    secret_key: str = ""  # signs console sessions
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    node_id: int = 0
    # Topics
    auto_create_topics: bool = True  # Kafka's auto.create.topics.enable
    num_partitions: int = 1  # for auto-created topics and CreateTopics with -1
    retention_ms: int = 7 * DAY_MS
    retention_bytes: int = -1
    segment_bytes: int = GiB
    segment_ms: int = 7 * DAY_MS
    flush_messages: int = 1  # fsync after every batch (group-committed); acks=all waits for it
    flush_ms: int = -1
    max_message_bytes: int = MiB + 12
    # Limits
    frame_bytes_max: int = 100 * MiB  # socket.request.max.bytes
    connections_max: int = 1000
    in_flight_requests_max: int = 100  # pipelined requests read ahead on one connection
    fetch_bytes_max: int = 55 * MiB  # fetch.max.bytes
    partitions_max: int = 10_000  # over all topics
    topics_max: int = 5_000
    # Consumer groups (Kafka's broker defaults)
    group_initial_rebalance_delay_ms: int = 3000
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    group_max_size: int = 1000
    # Background work
    retention_check_interval_seconds: float = 300.0
    cleaner_interval_seconds: float = 15.0
    # Console pages: a signed-in browser's session lasts this long.
    console_session_seconds: int = 12 * 3600
    secure_cookies: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> EventLogSettings:
        return core_settings.load(
            cls,
            "SCALEBOX_EVENTLOG_",
            environ,
            overrides,
            shared=("host", "data_dir", "secret_key", "log_level", "log_format"),
        )

    @property
    def system_dir(self) -> Path:
        return self.data_dir / "eventlog"

    @property
    def public_host(self) -> str:
        return self.advertised_host or self.host

    def topic_defaults(self) -> TopicConfig:
        return TopicConfig(
            retention_ms=self.retention_ms,
            retention_bytes=self.retention_bytes,
            segment_bytes=self.segment_bytes,
            segment_ms=self.segment_ms,
            flush_messages=self.flush_messages,
            flush_ms=self.flush_ms,
            max_message_bytes=self.max_message_bytes,
        )
