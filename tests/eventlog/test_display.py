"""How records, times, durations and lag are shown: text when printable UTF-8, hex otherwise, cut to a
bound; Kafka's "no timestamp" and "forever"; lag unknown without a commit."""

from __future__ import annotations

import pytest

from scalebox.eventlog.display import (
    ShownBytes,
    compute_lag,
    iso_timestamp_ms,
    render_duration_ms,
    render_timestamp_ms,
    show_bytes,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, ShownBytes("null", "null", 0, False)),
        (b"", ShownBytes("text", "", 0, False)),
        ("héllo ☃\n\ttab".encode(), ShownBytes("text", "héllo ☃\n\ttab", 15, False)),
        (b"<script>", ShownBytes("text", "<script>", 8, False)),  # escaping is the page's job
        (b"\xff\xfe", ShownBytes("hex", "fffe", 2, False)),  # not UTF-8
        (b"\x1b[2J", ShownBytes("hex", "1b5b324a", 4, False)),  # a terminal escape
        (b"a\x00b", ShownBytes("hex", "610062", 3, False)),
    ],
)
def test_bytes_show_as_text_or_hex(data: bytes | None, expected: ShownBytes) -> None:
    assert show_bytes(data) == expected


def test_long_values_are_cut() -> None:
    assert show_bytes(b"x" * 10, chars_max=4) == ShownBytes("text", "xxxx", 10, True)
    assert show_bytes(bytes(range(10)), chars_max=4) == ShownBytes("hex", "0001", 10, True)
    assert show_bytes("é".encode() * 3, chars_max=3) == ShownBytes("text", "ééé", 6, False)


def test_timestamps_and_durations() -> None:
    assert render_timestamp_ms(1_735_689_600_123) == "2025-01-01 00:00:00.123 UTC"
    assert render_timestamp_ms(-1) == "-"
    assert iso_timestamp_ms(1_735_689_600_123) == "2025-01-01T00:00:00.123Z"
    assert render_duration_ms(-1) == "forever"
    assert render_duration_ms(7 * 24 * 3600 * 1000) == "1 week"
    assert render_duration_ms(3 * 24 * 3600 * 1000) == "3 days"
    assert render_duration_ms(90 * 60 * 1000) == "90 minutes"
    assert render_duration_ms(1000) == "1 second"
    assert render_duration_ms(1500) == "1500 ms"


def test_lag_is_the_high_watermark_minus_the_commit() -> None:
    assert compute_lag(10, 4) == 6
    assert compute_lag(10, 10) == 0
    assert compute_lag(3, 5) == 0  # a commit past the end (the log was truncated): nothing to read
    assert compute_lag(10, None) is None
    assert compute_lag(10, -1) is None
    assert compute_lag(None, 4) is None
