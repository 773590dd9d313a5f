"""What the console knows about systems: the catalog, the latest health and figures, and short
histories for sparklines. Pure: the poller feeds it, the page reads it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from scalebox.core.errors import InvalidError

HISTORY_POINTS = 60  # at a 5 s poll: the last five minutes


class Health(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SystemEntry:
    name: str
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    label: str
    value: float | None
    unit: str = ""

    def display(self) -> str:
        if self.value is None:
            return "–"
        if self.unit == "ratio":
            return f"{self.value * 100:.1f}%"
        if float(self.value).is_integer():
            return f"{int(self.value):,}"
        return f"{self.value:,.2f}"


@dataclass
class SystemState:
    """The latest poll of one system, with a history per figure."""

    entry: SystemEntry
    health: Health = Health.UNKNOWN
    detail: str = "not polled yet"
    checked_at: datetime | None = None
    figures: list[Figure] = field(default_factory=list)
    history: dict[str, deque[float]] = field(default_factory=dict)

    def record(self, health: Health, detail: str, figures: list[Figure], at: datetime) -> None:
        self.health, self.detail, self.figures, self.checked_at = health, detail, figures, at
        for figure in figures:
            if figure.value is not None:
                self.history.setdefault(figure.key, deque(maxlen=HISTORY_POINTS)).append(float(figure.value))


def parse_catalog(text: str) -> tuple[SystemEntry, ...]:
    """`name=Title=http://host:port,...` into entries; InvalidError on a malformed entry."""
    entries = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split("=", 2)
        if len(parts) != 3 or not parts[2].startswith(("http://", "https://")):
            raise InvalidError(f"bad console catalog entry {item!r}: expected name=Title=http://host:port")
        entries.append(SystemEntry(parts[0], parts[1], parts[2].rstrip("/")))
    return tuple(entries)


def sparkline_points(values: list[float], width: int = 120, height: int = 28) -> str:
    """SVG polyline points scaling `values` into a width x height box (flat line when constant)."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (value - low) / span * (height - 2) - 1:.1f}"
        for i, value in enumerate(values)
    )
