"""SVG charts: well-formed whatever the data, hostile text inert, axes and labels that fit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalebox.shortener.charts import EMPTY_MESSAGE, bar_chart, line_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script>\" onload=\"alert(1)&amp;"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def by_class(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [node for node in root.iter() if css_class in (node.get("class") or "").split()]


def days(counts: list[int]) -> list[tuple[str, int]]:
    return [(f"2024-05-{day:02d}", count) for day, count in enumerate(counts, 1)]


def hover_texts(root: ET.Element) -> list[str]:
    return [group.findtext(f"{NS}title") or "" for group in by_class(root, "chart-point")]


# -- ticks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "ticks"),
    [
        (0, (0, 1)),
        (-5, (0, 1)),
        (1, (0, 1)),
        (3, (0, 1, 2, 3)),
        (4, (0, 1, 2, 3, 4)),
        (7, (0, 2, 4, 6, 8)),
        (21, (0, 10, 20, 30)),
        (100, (0, 50, 100)),
        (101, (0, 50, 100, 150)),
        (1234, (0, 500, 1000, 1500)),
        (10**12, (0, 5 * 10**11, 10**12)),
    ],
)
def test_nice_ticks_use_1_2_5_steps_from_zero_past_the_peak(peak, ticks):
    assert nice_ticks(peak) == ticks


@given(st.integers(min_value=1, max_value=10**18))
def test_nice_ticks_cover_the_peak_with_at_most_five_marks(peak):
    ticks = nice_ticks(peak)
    step = ticks[1]

    assert ticks[0] == 0
    assert ticks[-1] >= peak > ticks[-2]
    assert 2 <= len(ticks) <= 5
    assert re.fullmatch(r"[125]0*", str(step))


# -- line chart -------------------------------------------------------------------------------


def test_line_chart_is_an_accessible_image_summarising_total_and_peak():
    root = parse(line_chart(days([3, 1200, 40]), title="Visits"))

    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert (
        root.get("aria-label") == "Visits, 2024-05-01 to 2024-05-03: 1,243 in total, peak 1,200 on 2024-05-02"
    )
    assert root.findtext(f"{NS}title") == "Visits"
    assert root.get("viewBox") == "0 0 720 220"


def test_line_chart_has_a_hover_title_per_point_with_separated_thousands():
    root = parse(line_chart(days([0, 1234567, 5]), title="Visits"))

    assert hover_texts(root) == ["2024-05-01: 0", "2024-05-02: 1,234,567", "2024-05-03: 5"]


def test_line_chart_draws_line_area_grid_and_axis_with_theme_classes():
    svg = line_chart(days([1, 2, 3, 4]), title="Visits")
    root = parse(svg)

    assert len(by_class(root, "chart-line")) == 1
    assert len(by_class(root, "chart-area")) == 1
    assert len(by_class(root, "chart-axis")) == 1
    assert len(by_class(root, "chart-grid")) == len(nice_ticks(4))
    assert "style=" not in svg
    assert "currentColor" in svg


def test_line_chart_y_labels_are_the_ticks():
    root = parse(line_chart(days([0, 7000]), title="Visits"))

    y_labels = [node.text for node in by_class(root, "chart-label") if node.get("text-anchor") == "end"]
    assert y_labels == ["0", "2,000", "4,000", "6,000", "8,000"]


def test_line_chart_points_rise_with_their_counts():
    root = parse(line_chart(days([0, 5, 10]), title="Visits"))

    ys = [float(circle.get("cy", "0")) for circle in root.iter(f"{NS}circle")]
    assert ys[0] > ys[1] > ys[2]  # SVG y grows downwards


def test_line_chart_thins_x_labels_to_fit_and_keeps_the_first():
    points = [(f"2024-{month:02d}-{day:02d}", day) for month in (1, 2, 3) for day in range(1, 29)]

    root = parse(line_chart(points, title="Visits"))

    shown = [node.text for node in by_class(root, "chart-axis-label")]
    assert shown[0] == "2024-01-01"
    assert 4 <= len(shown) <= 10
    assert len(hover_texts(root)) == len(points)  # thinning never drops data


def test_line_chart_shows_every_label_when_they_fit():
    root = parse(line_chart(days([1, 2, 3]), title="Visits"))

    assert [node.text for node in by_class(root, "chart-axis-label")] == [
        "2024-05-01",
        "2024-05-02",
        "2024-05-03",
    ]


def test_line_chart_with_only_zeros_draws_a_flat_line_on_a_0_to_1_axis():
    root = parse(line_chart(days([0, 0, 0]), title="Visits"))

    ys = {circle.get("cy") for circle in root.iter(f"{NS}circle")}
    axis = by_class(root, "chart-axis")[0]
    assert ys == {axis.get("y1")}
    assert "0 in total, peak 0" in (root.get("aria-label") or "")


def test_line_chart_with_one_point_centres_it():
    root = parse(line_chart([("today", 4)], title="Visits", width=400))

    (circle,) = root.iter(f"{NS}circle")
    assert 150 < float(circle.get("cx", "0")) < 250


def test_empty_line_chart_says_there_were_no_visits():
    root = parse(line_chart([], title="Visits"))

    assert root.get("role") == "img"
    assert root.get("aria-label") == f"Visits: {EMPTY_MESSAGE}"
    assert EMPTY_MESSAGE in "".join(root.itertext())
    assert not list(root.iter(f"{NS}path"))


def test_line_chart_escapes_hostile_titles_and_labels():
    svg = line_chart([(HOSTILE, 1), ("ok", 2)], title=HOSTILE)
    root = parse(svg)

    assert "<script" not in svg
    assert not list(root.iter(f"{NS}script"))
    assert not list(root.iter("script"))
    assert all(not name.startswith("on") for node in root.iter() for name in node.attrib)
    assert root.findtext(f"{NS}title") == HOSTILE
    assert hover_texts(root)[0] == f"{HOSTILE}: 1"


def test_line_chart_replaces_characters_xml_cannot_hold():
    root = parse(line_chart([("bad\x00\x1b\udc80label", 1)], title="T\x0c"))

    assert hover_texts(root) == ["bad\ufffd\ufffd\ufffdlabel: 1"]


def test_line_chart_shortens_long_axis_labels_but_not_their_hover_text():
    label = "x" * 100

    root = parse(line_chart([(label, 1)], title="Visits"))

    assert by_class(root, "chart-axis-label")[0].text == "x" * 23 + "…"
    assert hover_texts(root) == [f"{label}: 1"]


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.text(max_size=40), st.integers(min_value=-(10**6), max_value=10**18)), max_size=120
    ),
    title=st.text(max_size=60),
    width=st.integers(min_value=-10, max_value=2000),
    height=st.integers(min_value=-10, max_value=800),
)
def test_line_chart_is_always_well_formed_xml(points, title, width, height):
    root = parse(line_chart(points, title=title, width=width, height=height))

    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert len(hover_texts(root)) == len(points)


# -- bar chart --------------------------------------------------------------------------------


def test_bar_chart_draws_a_row_per_item_scaled_to_the_largest():
    root = parse(bar_chart([("google.com", 1000), ("t.co", 500), ("bing.com", 0)], title="Top referrers"))

    widths = [float(bar.get("width", "-1")) for bar in by_class(root, "chart-bar")]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.2)
    assert widths[2] == 0
    counts = [node.text for node in by_class(root, "chart-count")]
    assert counts == ["1,000", "500", "0"]
    assert root.get("aria-label") == "Top referrers: google.com 1,000; t.co 500; bing.com 0"


def test_bar_chart_gives_small_nonzero_counts_a_visible_bar():
    root = parse(bar_chart([("big", 10**9), ("tiny", 1)], title="Countries"))

    assert float(by_class(root, "chart-bar")[1].get("width", "0")) >= 1


def test_bar_chart_with_all_zero_counts_has_empty_bars():
    root = parse(bar_chart([("a", 0), ("b", 0)], title="Devices"))

    assert [bar.get("width") for bar in by_class(root, "chart-bar")] == ["0", "0"]


def test_bar_chart_height_grows_with_the_rows():
    root = parse(bar_chart([(str(n), n) for n in range(10)], title="Browsers", width=500))

    assert root.get("viewBox") == "0 0 500 264"


def test_empty_bar_chart_says_there_were_no_visits():
    root = parse(bar_chart([], title="Top referrers"))

    assert EMPTY_MESSAGE in "".join(root.itertext())
    assert not by_class(root, "chart-bar")


def test_bar_chart_escapes_hostile_labels_and_keeps_them_whole_in_titles():
    svg = bar_chart([(HOSTILE, 3)], title=HOSTILE)
    root = parse(svg)

    assert "<script" not in svg
    row = by_class(root, "chart-row")[0]
    assert row.findtext(f"{NS}title") == f"{HOSTILE}: 3"
    assert by_class(root, "chart-label")[0].text == HOSTILE[:20] + "…"  # 144 px column: 21 characters


def test_bar_chart_shows_blank_labels_as_a_dash():
    root = parse(bar_chart([("", 2), ("  ", 1)], title="Referrers"))

    assert [
        node.text for node in by_class(root, "chart-label") if "chart-count" not in node.get("class", "")
    ] == [
        "—",
        "—",
    ]


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(st.tuples(st.text(max_size=80), st.integers(min_value=-5, max_value=10**15)), max_size=30),
    title=st.text(max_size=60),
    width=st.integers(min_value=-10, max_value=1200),
)
def test_bar_chart_is_always_well_formed_xml(items, title, width):
    root = parse(bar_chart(items, title=title, width=width))

    assert root.get("role") == "img"
    assert len(by_class(root, "chart-bar")) == len(items)
    assert all(float(bar.get("width", "-1")) >= 0 for bar in by_class(root, "chart-bar"))
