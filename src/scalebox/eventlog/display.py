"""How the console and the CLI show a log's contents to people: record keys and values as text when
they are UTF-8 and as hex when they are not, times, durations and consumer lag. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

SHOWN_CHARS_MAX = 500  # of a key or value, before "…"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Tab, newline and carriage return read fine in a value; other control characters would be invisible
# or rewrite a terminal, so such bytes are shown as hex.
_ALLOWED_CONTROLS = frozenset("\t\n\r")
_DURATIONS = (
    (7 * 24 * 3600 * 1000, "week"),
    (24 * 3600 * 1000, "day"),
    (3600 * 1000, "hour"),
    (60 * 1000, "minute"),
    (1000, "second"),
)


@dataclass(frozen=True, slots=True)
class ShownBytes:
    """A key or value as it is shown: `kind` says how (null, UTF-8 text, or hex of the bytes)."""

    kind: Literal["null", "text", "hex"]
    text: str
    size_bytes: int
    truncated: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "text": self.text,
            "size_bytes": self.size_bytes,
            "truncated": self.truncated,
        }


def show_bytes(data: bytes | None, chars_max: int = SHOWN_CHARS_MAX) -> ShownBytes:
    """`data` as text when it is printable UTF-8, else as lowercase hex; cut at `chars_max` characters."""
    assert chars_max >= 2, chars_max
    if data is None:
        return ShownBytes("null", "null", 0, False)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = ""
        printable = False
    else:
        printable = all(char.isprintable() or char in _ALLOWED_CONTROLS for char in text)
    if printable:
        return ShownBytes("text", text[:chars_max], len(data), len(text) > chars_max)
    shown = data[: chars_max // 2]
    return ShownBytes("hex", shown.hex(), len(data), len(shown) < len(data))


def render_timestamp_ms(timestamp_ms: int) -> str:
    """A record timestamp as `YYYY-MM-DD HH:MM:SS.mmm UTC`; "-" for Kafka's "no timestamp" (-1)."""
    if timestamp_ms < 0:
        return "-"
    moment = _EPOCH + timedelta(milliseconds=timestamp_ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def iso_timestamp_ms(timestamp_ms: int) -> str:
    """The same moment for a `<time datetime>` attribute or JSON."""
    moment = _EPOCH + timedelta(milliseconds=max(timestamp_ms, 0))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_duration_ms(duration_ms: int) -> str:
    """A retention or segment age in the largest whole unit: "7 days", "90 minutes"; -1 is "forever"."""
    if duration_ms < 0:
        return "forever"
    for unit_ms, name in _DURATIONS:
        if duration_ms >= unit_ms and duration_ms % unit_ms == 0:
            count = duration_ms // unit_ms
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{duration_ms} ms"


def compute_lag(end_offset: int | None, committed_offset: int | None) -> int | None:
    """Messages a group has yet to consume in one partition: the high watermark minus its committed
    offset. None when either is unknown (no commit yet, or the topic is gone), as Kafka's tools show "-"."""
    if end_offset is None or committed_offset is None or committed_offset < 0:
        return None
    return max(0, end_offset - committed_offset)
