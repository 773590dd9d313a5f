"""Pastebin settings, read once from `SCALEBOX_PASTEBIN_*` (and shared `SCALEBOX_*`) variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scalebox.core import settings as core_settings

SecretScanMode = Literal["off", "flag", "reject"]


@dataclass(frozen=True)
class PastebinSettings:
    """Every knob of the pastebin; defaults are safe for a laptop (loopback, embedded storage)."""

    host: str = "127.0.0.1"
    port: int = 8001
    data_dir: Path = Path("data")
    public_url: str = ""  # the base URL links are built from; default: the request's own
    secret_key: str = ""  # signs sessions and CSRF tokens; generated and kept under data_dir when empty
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    log_requests: bool = True
    # Storage: URLs choose the adapters (see docs/pastebin.md).
    database_url: str = ""  # default sqlite under data_dir
    blob_url: str = ""  # default file: under data_dir; s3://bucket/prefix?endpoint_url=... for S3
    events_url: str = ""  # default sqlite event log under data_dir
    cache_url: str = "memory://?max_entries=20000"
    ratelimit_url: str = "memory://"
    # Limits
    size_bytes_max: int = 512 * 1024
    create_limit_per_minute_anonymous: int = 20
    create_limit_per_minute_account: int = 120
    read_limit_per_minute: int = 3000
    # Behaviour
    secret_scan: SecretScanMode = "flag"
    meta_cache_seconds: float = 30.0
    content_cache_seconds: float = 3600.0
    page_cache_seconds: float = 2.0  # anonymous paste pages; 0 turns the micro-cache off
    page_cache_entries: int = 2000
    view_flush_seconds: float = 5.0
    reap_interval_seconds: float = 300.0
    orphan_grace_seconds: float = 3600.0
    highlight_ahead_max_lag_seconds: float = 5.0  # the worker skips pre-rendering when further behind
    workers: bool = True  # run the event consumers (highlight, scan, index) in this process
    signup: bool = True
    secure_cookies: bool = False  # set when served over HTTPS
    forwarded_allow_ips: str = ""  # proxies trusted for X-Forwarded-For (e.g. "127.0.0.1"); empty: none
    node_id: int = 0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> PastebinSettings:
        return core_settings.load(
            cls,
            "SCALEBOX_PASTEBIN_",
            environ,
            overrides,
            shared=("host", "data_dir", "secret_key", "log_level", "log_format", "public_url"),
        )

    @property
    def system_dir(self) -> Path:
        return self.data_dir / "pastebin"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.system_dir / 'pastebin.db'}"

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file:{self.system_dir / 'blobs'}"

    @property
    def resolved_events_url(self) -> str:
        return self.events_url or f"sqlite:{self.system_dir / 'events.db'}"

    @property
    def body_bytes_max(self) -> int:
        # JSON escaping can double text and form encoding triple it; headroom for the other fields.
        return self.size_bytes_max * 3 + 64 * 1024
