"""Clock: epoch_ms agrees with now() on both clocks, exactly on the fake one."""

from __future__ import annotations

from datetime import UTC, datetime

from scalebox.core.clock import FakeClock, SystemClock, epoch_ns


def test_fake_clock_epoch_ms_is_now_floored_to_the_millisecond() -> None:
    clock = FakeClock(datetime(2026, 11, 21, 12, 0, 0, 999_999, tzinfo=UTC))
    assert clock.epoch_ms() == epoch_ns(clock.current) // 1_000_000 == 1_795_262_400_999
    clock.advance(seconds=0.000_001)
    assert clock.epoch_ms() == 1_795_262_401_000


def test_system_clock_epoch_ms_falls_between_two_readings_of_now() -> None:
    clock = SystemClock()
    before = epoch_ns(clock.now()) // 1_000_000
    reading = clock.epoch_ms()
    after = epoch_ns(clock.now()) // 1_000_000
    assert before <= reading <= after
