"""Shortener settings, read once from `SCALEBOX_SHORTENER_*` (and shared `SCALEBOX_*`) variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scalebox.core import settings as core_settings


@dataclass(frozen=True)
class ShortenerSettings:
    """Every knob of the shortener; defaults are safe for a laptop (loopback, embedded storage)."""

    host: str = "127.0.0.1"
    port: int = 8002
    data_dir: Path = Path("data")
    public_url: str = ""  # base of short URLs, e.g. https://s.example; default: the request's own
    secret_key: str = ""  # signs sessions, CSRF tokens and keys the code permutation; kept under data_dir
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    log_requests: bool = False  # per-request logs cost more than a redirect; /metrics counts them
    # Storage: URLs choose the adapters (see docs/shortener.md).
    database_url: str = ""  # default sqlite under data_dir
    events_url: str = ""  # default sqlite event log under data_dir
    cache_url: str = ""  # shared second-level cache, e.g. redis://host:6379/0?namespace=sb:; empty: none
    ratelimit_url: str = "memory://"
    geoip_database: Path | None = None  # a MaxMind-format (.mmdb) city or country database
    blocklist_file: Path | None = None  # one domain per line; merged with the blocklist kept in the database
    # Limits
    create_limit_per_minute_anonymous: int = 10
    create_limit_per_minute_account: int = 600
    body_bytes_max: int = 1024 * 1024  # bulk creates and imports
    import_rows_max: int = 50_000
    bulk_links_max: int = 1000
    # Caching and the hot path
    lru_entries: int = 100_000
    cache_seconds: float = 300.0  # lifetime of a cached link, clamped to its remaining validity
    negative_cache_seconds: float = 2.0  # unknown codes, so 404 floods do not reach the database
    code_block_size: int = 1000  # code numbers reserved per database round trip
    protocol_fast_path: bool = True  # answer cached redirects at the HTTP parser (see http/protocol.py)
    processes: int = 1  # serving processes on one port (SO_REUSEPORT), supervised by `serve`
    reuse_port: bool = False  # set for each of those processes
    gc_freeze: bool = False  # `serve` sets it: keep start-up objects out of garbage collections
    # Analytics
    visit_flush_seconds: float = 0.05
    visit_batch_max: int = 5000
    visit_buffer_max: int = 200_000  # beyond this, visits are dropped and counted (the redirect never waits)
    visits_retention_days: float = 0.0  # of the visit event log; 0 keeps it all (rebuilds replay everything)
    workers: bool = True  # run the analytics consumer and the blocklist rescan in this process
    blocklist_rescan_seconds: float = 3600.0
    # Behaviour
    signup: bool = True
    anonymous_create: bool = True
    secure_cookies: bool = False
    forwarded_allow_ips: str = ""
    node_id: int = 0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ShortenerSettings:
        return core_settings.load(
            cls,
            "SCALEBOX_SHORTENER_",
            environ,
            overrides,
            shared=("host", "data_dir", "secret_key", "log_level", "log_format", "public_url"),
        )

    @property
    def system_dir(self) -> Path:
        return self.data_dir / "shortener"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.system_dir / 'shortener.db'}"

    @property
    def resolved_events_url(self) -> str:
        # Writes in a writer process: a worker thread's GIL hand-offs cost the redirect path a third
        # of its CPU at load (core/sqlite_log.py).
        return self.events_url or f"sqlite:{self.system_dir / 'events.db'}?writer=process"
