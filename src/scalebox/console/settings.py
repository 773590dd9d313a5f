"""Console settings, from `SCALEBOX_CONSOLE_*` variables; `scalebox up` fills in the system catalog."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scalebox.console.domain import SystemEntry, parse_catalog
from scalebox.core import settings as core_settings


@dataclass(frozen=True)
class ConsoleSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    # name=Title=url entries separated by commas, e.g. "pastebin=Pastebin=http://127.0.0.1:8001"
    systems: str = ""
    poll_seconds: float = 5.0
    poll_timeout_seconds: float = 2.0
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    log_requests: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ConsoleSettings:
        return core_settings.load(
            cls, "SCALEBOX_CONSOLE_", environ, overrides, shared=("host", "log_level", "log_format")
        )

    @property
    def catalog(self) -> tuple[SystemEntry, ...]:
        return parse_catalog(self.systems)
