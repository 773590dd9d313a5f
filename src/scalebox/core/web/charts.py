"""Horizontal bar charts for server-rendered SVG: one bar per row, the longest filling the plot.
Pure geometry; templates draw it (and show the figures in a table too, for screen readers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CHART_WIDTH = 640
BAR_HEIGHT = 22
GAP = 8
FIGURE_ROOM = 90  # right of the longest bar, for its number


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class BarChart:
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int
    bar_height: int


def layout_bar_chart(rows: Sequence[tuple[str, int]], *, label_width: int) -> BarChart:
    """Bars for (label, value) rows, scaled so the largest value fills the plot."""
    plot = CHART_WIDTH - label_width - FIGURE_ROOM
    largest = max((value for _, value in rows), default=0) or 1
    bars = tuple(
        Bar(label, value, index * (BAR_HEIGHT + GAP), max(1, round(plot * value / largest)) if value else 0)
        for index, (label, value) in enumerate(rows)
    )
    height = max(1, len(rows) * (BAR_HEIGHT + GAP) - GAP)
    return BarChart(bars, CHART_WIDTH, height, label_width, BAR_HEIGHT)
