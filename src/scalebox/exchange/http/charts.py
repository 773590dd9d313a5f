"""Chart geometry for server-rendered SVG: diverging horizontal bars around a zero line (long and
short positions, cash to receive and to pay), one row per label. Pure functions; templates draw
them, and the numbers also appear in a table beside the chart for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

CHART_WIDTH = 640
LABEL_WIDTH = 140
FIGURE_ROOM = 110  # each side of the plot, for the value written beside a bar
BAR_HEIGHT = 22
GAP = 8


@dataclass(frozen=True, slots=True)
class DivergingBar:
    label: str
    text: str  # the value as shown
    y: int
    x: int  # left edge
    width: int
    positive: bool
    text_x: int
    text_anchor: str  # "start" right of a bar, "end" left of it


@dataclass(frozen=True, slots=True)
class DivergingChart:
    bars: tuple[DivergingBar, ...]
    width: int
    height: int
    label_width: int
    zero_x: int
    bar_height: int


def layout_diverging_chart(rows: Sequence[tuple[str, int | Decimal, str]]) -> DivergingChart:
    """(label, value, text) rows as bars from a centre line: positive values right, negative left,
    the largest magnitude filling its half of the plot."""
    half = (CHART_WIDTH - LABEL_WIDTH - 2 * FIGURE_ROOM) // 2
    zero_x = LABEL_WIDTH + FIGURE_ROOM + half
    largest = max((abs(Decimal(value)) for _, value, _ in rows), default=Decimal(0)) or Decimal(1)
    bars = []
    for index, (label, value, text) in enumerate(rows):
        width = max(1, round(half * float(abs(Decimal(value)) / largest))) if value else 0
        x = zero_x if value >= 0 else zero_x - width
        text_x = zero_x + width + 6 if value >= 0 else zero_x - width - 6
        y = index * (BAR_HEIGHT + GAP)
        bars.append(
            DivergingBar(label, text, y, x, width, value >= 0, text_x, "start" if value >= 0 else "end")
        )
    height = max(1, len(rows) * (BAR_HEIGHT + GAP) - GAP)
    return DivergingChart(tuple(bars), CHART_WIDTH, height, LABEL_WIDTH, zero_x, BAR_HEIGHT)
