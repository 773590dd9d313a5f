"""Exchange settings, read once from `SCALEBOX_EXCHANGE_*` (and shared `SCALEBOX_*`) variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scalebox.core import settings as core_settings


@dataclass(frozen=True)
class ExchangeSettings:
    """Every knob of the venue; defaults are safe for a laptop (loopback, fsync before any ack)."""

    host: str = "127.0.0.1"
    fix_port: int = 9878
    port: int = 8007  # web: trading screen, operations view, REST, WebSocket market data
    feed_port: int = 9879  # UDP market data feed (sent to feed_group:feed_port)
    feed_group: str = "127.0.0.1"
    replay_port: int = 9880  # TCP replay of the UDP feed for gap recovery
    data_dir: Path = Path("data")
    secret_key: str = ""  # signs web sessions
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    # Sequencer and journal
    batch_max: int = 2048  # commands per group commit
    inbox_max: int = 100_000  # queued commands before new ones are refused
    journal_segment_bytes: int = 64 << 20
    snapshot_every: int = 100_000  # commands between snapshots
    # Post-trade capture (trades and executions into SQL, off the hot path)
    database_url: str = ""  # default: SQLite under data_dir/exchange
    clearing_queue_max: int = 100_000
    clearing_batch_max: int = 2_000
    # FIX gateway
    fix_heartbeat_seconds_max: int = 300
    fix_message_bytes_max: int = 64 << 10
    fix_messages_per_second: int = 5_000  # per session; over it, orders are rejected
    fix_connections_max: int = 200
    fix_sender_comp_id: str = "SCALEBOX"
    # Market data
    feed_replay_messages_max: int = 1_000_000  # kept for the replay service
    subscribers_max: int = 1_000
    subscriber_queue_max: int = 10_000  # a WebSocket further behind than this is dropped
    # Sessions: a standby follows the journal and takes over when the primary's lock frees.
    standby_poll_seconds: float = 0.01
    web_session_seconds: int = 12 * 3600
    secure_cookies: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ExchangeSettings:
        return core_settings.load(
            cls,
            "SCALEBOX_EXCHANGE_",
            environ,
            overrides,
            shared=("host", "data_dir", "secret_key", "log_level", "log_format"),
        )

    @property
    def system_dir(self) -> Path:
        return self.data_dir / "exchange"

    @property
    def journal_dir(self) -> Path:
        return self.system_dir / "journal"

    @property
    def snapshot_dir(self) -> Path:
        return self.system_dir / "snapshots"

    @property
    def fix_dir(self) -> Path:
        return self.system_dir / "fix"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.system_dir / 'exchange.db'}"

    @property
    def directory_path(self) -> Path:
        return self.system_dir / "directory.json"
