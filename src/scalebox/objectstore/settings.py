"""Object store settings, read once from `SCALEBOX_OBJECTSTORE_*` (and shared `SCALEBOX_*`) variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from scalebox.core import settings as core_settings

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class ObjectStoreSettings:
    """Every knob of the object store; defaults are safe for a laptop (loopback, six drive folders)."""

    host: str = "127.0.0.1"
    port: int = 9000  # the S3 API
    console_port: int = 9001
    data_dir: Path = Path("data")
    secret_key: str = ""  # signs console sessions and encrypts stored secret keys; kept under data_dir
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    log_requests: bool = False
    region: str = "us-east-1"
    # Virtual-host addressing: requests to <bucket>.<domain> address that bucket ("s3.localhost").
    domain: str = ""
    # An administrator key ensured at start (as MinIO's root user); empty: create keys with the CLI.
    root_access_key: str = ""
    root_secret_key: str = ""
    buckets: tuple[str, ...] = ()  # buckets the root key should own, created at start when missing
    # Storage
    database_url: str = ""  # object metadata; default sqlite under data_dir
    drives: tuple[Path, ...] = ()  # default: six folders under data_dir/objectstore/drives
    data_shards: int = 4
    parity_shards: int = 2
    block_bytes: int = 1 * MiB  # object bytes per erasure stripe
    inline_bytes_max: int = 128 * 1024  # smaller objects live in their metadata row
    fsync: bool = True  # shards reach the disk before the write is acknowledged
    # Limits (S3's own where it has one)
    object_bytes_max: int = 5 * GiB  # one PUT; larger objects go by multipart upload
    part_bytes_min: int = 5 * MiB  # every part but the last
    part_bytes_max: int = 5 * GiB
    parts_max: int = 10_000
    metadata_bytes_max: int = 2048  # user metadata (x-amz-meta-*), as S3
    xml_body_bytes_max: int = 1 * MiB  # configuration bodies, multi-delete, complete-multipart
    skew_seconds_max: int = 900
    uploads_per_bucket_max: int = 10_000
    # Background work
    workers: bool = True  # scrubber, lifecycle and garbage collection in this process
    scrub_interval_seconds: float = 24 * 3600.0
    lifecycle_interval_seconds: float = 3600.0
    gc_interval_seconds: float = 30.0
    # Console pages: a signed-in browser's session lasts this long (as MinIO's console, 12 hours).
    console_session_seconds: int = 12 * 3600
    secure_cookies: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ObjectStoreSettings:
        return core_settings.load(
            cls,
            "SCALEBOX_OBJECTSTORE_",
            environ,
            overrides,
            shared=("host", "data_dir", "secret_key", "log_level", "log_format"),
        )

    @property
    def system_dir(self) -> Path:
        return self.data_dir / "objectstore"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.system_dir / 'objectstore.db'}"

    @property
    def resolved_drives(self) -> tuple[Path, ...]:
        count = self.data_shards + self.parity_shards
        return self.drives or tuple(self.system_dir / "drives" / f"d{index}" for index in range(1, count + 1))
