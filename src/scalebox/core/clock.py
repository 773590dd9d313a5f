"""Every read of "now" goes through a Clock, so tests and simulations control time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch, exactly (float seconds would lose the last digits)."""
    since = moment - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000_000 + since.microseconds * 1000


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, floored (what `Clock.epoch_ms` gives for `now()`)."""
    return epoch_ns(moment) // 1_000_000


class Clock(Protocol):
    """Wall-clock time (for timestamps) and a monotonic reading (for intervals)."""

    def now(self) -> datetime: ...

    def epoch_ms(self) -> int:
        """Milliseconds since the Unix epoch, the same instant as `now()` (floored)."""
        ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def epoch_ms(self) -> int:
        # A twentieth of now()'s cost: hot paths stamp events with it (the shortener's visits).
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FakeClock:
    """Deterministic time for tests and simulations; it only moves when told to."""

    current: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    _monotonic: float = 0.0

    def now(self) -> datetime:
        return self.current

    def epoch_ms(self) -> int:
        return epoch_ms(self.current)

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, *, seconds: float) -> None:
        assert seconds >= 0, "time never goes backwards"
        self.current += timedelta(seconds=seconds)
        self._monotonic += seconds
