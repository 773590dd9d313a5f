"""How the console's pages show things: links to topics and groups (every group id URL-encoded, whatever
it holds), records as the tail's JSON and rows, sizes and durations, and the lag chart's geometry.
Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from scalebox.core.size import render_size
from scalebox.core.web import charts as core_charts
from scalebox.core.web.charts import BarChart
from scalebox.eventlog.display import iso_timestamp_ms, render_duration_ms, render_timestamp_ms, show_bytes
from scalebox.eventlog.service.topic_view import TailRecord

CHART_LABEL_WIDTH = 200
HEADER_CHARS_MAX = 100  # of one record header's value in the tail


def topic_url(name: str) -> str:
    # Topic names are [a-zA-Z0-9._-] and never "." or "..": safe in a path as they are.
    return f"/topics/{quote(name, safe='')}"


def group_url(group_id: str) -> str:
    """A group's page. The id travels in the query: group ids may hold '/', '.' and '..'."""
    return f"/group?id={quote(group_id, safe='')}"


def render_record(record: TailRecord) -> dict[str, object]:
    """One record of the tail as the page's script and template read it: key, value and headers as
    `ShownBytes` (text or hex), the timestamp for people and for `<time>`."""
    return {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "time": render_timestamp_ms(record.timestamp_ms),
        "iso_time": iso_timestamp_ms(record.timestamp_ms),
        "key": show_bytes(record.key).as_dict(),
        "value": show_bytes(record.value).as_dict(),
        "headers": [
            {"name": name, "value": show_bytes(value, HEADER_CHARS_MAX).as_dict()}
            for name, value in record.headers
        ],
    }


def layout_bar_chart(rows: Sequence[tuple[str, int]]) -> BarChart:
    return core_charts.layout_bar_chart(rows, label_width=CHART_LABEL_WIDTH)


def template_globals() -> dict[str, object]:
    return {
        "topic_url": topic_url,
        "group_url": group_url,
        "render_size": render_size,
        "render_duration_ms": render_duration_ms,
        "render_timestamp_ms": render_timestamp_ms,
        "iso_timestamp_ms": iso_timestamp_ms,
    }
