"""SVG charts for the analytics pages, drawn on the server: visits over time as a line, top referrers,
countries, browsers and devices as bars. No JavaScript: hover text is SVG <title>, theming is CSS.

Every piece of caller text (titles, labels) is XML-escaped here, and numbers are formatted here, so
the returned string is safe to mark as HTML-safe (`markupsafe.Markup`) and embed in a page. Shapes
carry the classes chart-line, chart-area, chart-point, chart-bar, chart-track, chart-grid,
chart-axis and chart-label and paint with currentColor, so a stylesheet can recolour all of them.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

EMPTY_MESSAGE = "No visits in this period"
_CHAR_PX = 6.6  # average advance of an 11 px sans-serif glyph: enough to fit labels, not to typeset
_LABEL_CHARS_MAX = 24
# Characters XML 1.0 cannot hold at all, even escaped; they become U+FFFD so the SVG still parses.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def line_chart(points: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 220) -> str:
    """Counts over time (labels on x, in the given order) as a line over a filled area.

    The y axis runs from 0 to a 1-2-5 step past the peak; x labels are thinned to fit; each point has
    a <title> with its exact count for hover, and the aria-label says the total and the peak.
    Negative counts are drawn as 0. Never raises on any labels or counts.
    """
    width, height = max(width, 160), max(height, 80)
    if not points:
        return _empty(title, width, height)
    labels = [label for label, _ in points]
    counts = [max(count, 0) for _, count in points]
    total, peak = sum(counts), max(counts)
    summary = (
        f"{title}, {_short(labels[0])} to {_short(labels[-1])}: {total:,} in total, "
        f"peak {peak:,} on {_short(labels[counts.index(peak)])}"
    )
    ticks = nice_ticks(peak)
    left = max(len(f"{ticks[-1]:,}") * _CHAR_PX + 10, len(_short(labels[0])) * _CHAR_PX / 2 + 2)
    right = max(8.0, len(_short(labels[-1])) * _CHAR_PX / 2 + 2)
    top, bottom = 10.0, height - 24.0
    plot_width = max(width - left - right, 20.0)  # absurd labels overflow the box rather than invert it
    step = plot_width / (len(points) - 1) if len(points) > 1 else 0.0
    xs = [left + (step * i if len(points) > 1 else plot_width / 2) for i in range(len(points))]
    ys = [bottom - (bottom - top) * count / ticks[-1] for count in counts]
    return "".join(
        [
            _open(width, height, summary, "chart chart-line-chart"),
            f"<title>{_text(title)}</title>",
            *_y_axis(ticks, left, left + plot_width, top, bottom),
            *_series(xs, ys, bottom),
            *_x_labels(labels, xs, plot_width, height - 6),
            *_hover_points(labels, counts, xs, ys, top=top, bottom=bottom),
            "</svg>",
        ]
    )


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, width: int = 360) -> str:
    """Horizontal bars, one row per item in the given order: label, bar scaled to the largest count, count.

    For the "top N" lists (referrers, countries, browsers, devices); the caller sorts and cuts the
    list. Long labels are shortened on screen and kept whole in the row's <title>; an empty label
    shows as an em dash. Negative counts are drawn as 0.
    """
    width = max(width, 160)
    row_height = 26
    height = len(items) * row_height + 4
    if not items:
        return _empty(title, width, 80)
    labels = [label if label.strip() else "—" for label, _ in items]
    counts = [max(count, 0) for _, count in items]
    peak = max(counts)
    summary = f"{title}: " + "; ".join(
        f"{_short(label)} {count:,}" for label, count in zip(labels[:5], counts[:5], strict=True)
    )
    count_width = max(len(f"{count:,}") for count in counts) * _CHAR_PX + 8
    label_width = min(width * 0.4, _LABEL_CHARS_MAX * _CHAR_PX)
    bar_left = label_width + 6
    bar_space = max(width - bar_left - count_width, 1.0)
    parts = [_open(width, height, summary, "chart chart-bar-chart"), f"<title>{_text(title)}</title>"]
    for row, (label, count) in enumerate(zip(labels, counts, strict=True)):
        y = row * row_height + 2
        middle = y + row_height / 2
        bar = 0.0 if peak == 0 else max(bar_space * count / peak, 1.0 if count else 0.0)
        shown = _short(label, int(label_width / _CHAR_PX))
        parts.append(
            f'<g class="chart-row"><title>{_text(label)}: {count:,}</title>'
            f'<text class="chart-label" x="0" y="{_n(middle)}" dy="0.32em">{_text(shown)}</text>'
            f'<rect class="chart-track" x="{_n(bar_left)}" y="{_n(y + 5)}" width="{_n(bar_space)}" '
            f'height="{row_height - 10}" rx="2" fill="currentColor" fill-opacity="0.08"/>'
            f'<rect class="chart-bar" x="{_n(bar_left)}" y="{_n(y + 5)}" width="{_n(bar)}" '
            f'height="{row_height - 10}" rx="2" fill="currentColor" fill-opacity="0.7"/>'
            f'<text class="chart-label chart-count" x="{width}" y="{_n(middle)}" dy="0.32em" '
            f'text-anchor="end">{count:,}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(peak: int) -> tuple[int, ...]:
    """Axis values 0, s, 2s… up to the first multiple of s at or past `peak`, s a 1-2-5 x 10^k step
    giving at most five marks; a zero peak still gets an axis (0 and 1). Integers throughout, so any
    count works."""
    if peak <= 0:
        return (0, 1)
    raw_step = -(-peak // 4)
    magnitude = 10 ** (len(str(raw_step)) - 1)
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    top = -(-peak // step) * step
    return tuple(range(0, top + 1, step))


def _y_axis(ticks: tuple[int, ...], left: float, right: float, top: float, bottom: float) -> list[str]:
    parts = []
    for tick in ticks:
        y = bottom - (bottom - top) * tick / ticks[-1]
        parts.append(
            f'<line class="chart-grid" x1="{_n(left)}" x2="{_n(right)}" y1="{_n(y)}" y2="{_n(y)}" '
            'stroke="currentColor" stroke-opacity="0.12"/>'
            f'<text class="chart-label" x="{_n(left - 6)}" y="{_n(y)}" dy="0.32em" text-anchor="end">'
            f"{tick:,}</text>"
        )
    parts.append(
        f'<line class="chart-axis" x1="{_n(left)}" x2="{_n(right)}" y1="{_n(bottom)}" y2="{_n(bottom)}" '
        'stroke="currentColor" stroke-opacity="0.4"/>'
    )
    return parts


def _series(xs: list[float], ys: list[float], bottom: float) -> list[str]:
    line = " ".join(f"{_n(x)},{_n(y)}" for x, y in zip(xs, ys, strict=True))
    return [
        f'<path class="chart-area" d="M{_n(xs[0])},{_n(bottom)} L{line} L{_n(xs[-1])},{_n(bottom)} Z" '
        'fill="currentColor" fill-opacity="0.12"/>',
        f'<path class="chart-line" d="M{line}" fill="none" stroke="currentColor" stroke-width="2" '
        'stroke-linejoin="round" stroke-linecap="round"/>',
    ]


def _x_labels(labels: list[str], xs: list[float], plot_width: float, y: float) -> list[str]:
    """Every k-th label, k chosen so the widest one fits its slot; the first is always shown."""
    label_px = max(len(_short(label)) for label in labels) * _CHAR_PX + 12
    slots = max(1, int(plot_width // label_px))
    stride = math.ceil(len(labels) / slots)
    return [
        f'<text class="chart-label chart-axis-label" x="{_n(xs[i])}" y="{_n(y)}" text-anchor="middle">'
        f"{_text(_short(labels[i]))}</text>"
        for i in range(0, len(labels), stride)
    ]


def _hover_points(
    labels: list[str], counts: list[int], xs: list[float], ys: list[float], *, top: float, bottom: float
) -> list[str]:
    """A dot per point plus an invisible full-height column around it, so hovering anywhere near
    the day shows its <title> instead of needing to hit a 3 px dot."""
    column = (xs[-1] - xs[0]) / (len(xs) - 1) if len(xs) > 1 else 24.0
    radius = 3 if len(xs) <= 62 else 1.5
    return [
        f'<g class="chart-point"><title>{_text(label)}: {count:,}</title>'
        f'<rect x="{_n(x - column / 2)}" y="{_n(top)}" width="{_n(column)}" '
        f'height="{_n(bottom - top)}" fill="currentColor" fill-opacity="0"/>'
        f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{radius}" fill="currentColor"/></g>'
        for label, count, x, y in zip(labels, counts, xs, ys, strict=True)
    ]


def _open(width: int, height: int, label: str, css_class: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_text(label)}" '
        'fill="currentColor" font-size="11" font-family="system-ui, sans-serif">'
    )


def _empty(title: str, width: int, height: int) -> str:
    return (
        _open(width, height, f"{title}: {EMPTY_MESSAGE}", "chart chart-empty")
        + f"<title>{_text(title)}</title>"
        + f'<text class="chart-label" x="{_n(width / 2)}" y="{_n(height / 2)}" dy="0.32em" '
        + f'text-anchor="middle">{EMPTY_MESSAGE}</text></svg>'
    )


def _short(label: str, chars: int = _LABEL_CHARS_MAX) -> str:
    return label if len(label) <= chars else label[: max(chars - 1, 1)] + "…"


def _text(value: str) -> str:
    """Text or attribute content: `& < > " '` escaped, characters XML forbids replaced."""
    return html.escape(_NOT_XML.sub("\ufffd", value), quote=True)


def _n(value: float) -> str:
    """A coordinate with one decimal at most: smaller SVG, same picture."""
    return f"{value:.1f}".removesuffix(".0")
