"""QR codes: the bytes hold segno's matrix for the URL, at the asked size, in the asked colours."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from scalebox.shortener.errors import InvalidLinkError
from scalebox.shortener.qr import render_qr

URL = "https://sho.rt/abc1234"
SVG_NS = "{http://www.w3.org/2000/svg}"


def expected_matrix(url: str, error: str = "l") -> list[list[int]]:
    return [list(row) for row in segno.make(url, error=error, micro=False).matrix]


# -- a minimal PNG reader (stdlib only): chunks, then unfiltered scanlines as palette indices --


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    return chunks


def png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png_chunks(data)[b"IHDR"][:8])
    return width, height


def _paeth(left: int, up: int, up_left: int) -> int:
    guess = left + up - up_left
    distances = (abs(guess - left), abs(guess - up), abs(guess - up_left))
    return (left, up, up_left)[distances.index(min(distances))]


def png_pixels(data: bytes) -> tuple[list[list[int]], list[tuple[int, int, int]] | None]:
    """Rows of sample values (palette indices for colour type 3, grey levels for type 0)."""
    chunks = png_chunks(data)
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert color_type in (0, 3)
    assert interlace == 0
    stride = (width * depth + 7) // 8
    raw = zlib.decompress(chunks[b"IDAT"])
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - 1] if x else 0
            up, up_left = previous[x], (previous[x - 1] if x else 0)
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            line[x] = (line[x] + predictor) & 0xFF
        bits = "".join(f"{byte:08b}" for byte in line)
        rows.append([int(bits[x * depth : (x + 1) * depth], 2) for x in range(width)])
        previous = line
    palette = None
    if b"PLTE" in chunks:
        plte = chunks[b"PLTE"]
        palette = [(plte[i], plte[i + 1], plte[i + 2]) for i in range(0, len(plte), 3)]
    return rows, palette


def png_modules(data: bytes, modules: int, border: int) -> list[list[int]]:
    """The dark (1) and light (0) modules, sampled at each module's centre."""
    rows, palette = png_pixels(data)
    width = len(rows[0])
    scale = width // (modules + 2 * border)
    dark_value = 0 if palette is None else None  # greyscale: black is 0
    grid = []
    for row in range(modules):
        y = (border + row) * scale + scale // 2
        line = []
        for column in range(modules):
            value = rows[y][(border + column) * scale + scale // 2]
            line.append(int(value == dark_value) if palette is None else value)
        grid.append(line)
    if palette is not None:  # segno puts the dark colour first in the palette
        grid = [[int(value == 0) for value in line] for line in grid]
    return grid


# -- a minimal reader of segno's SVG path: runs of 'h' strokes along module rows -------------


def svg_modules(root: ET.Element, modules: int, border: int) -> list[list[int]]:
    path = next(node for node in root.iter(f"{SVG_NS}path") if node.get("class") == "qrline")
    grid = [[0] * modules for _ in range(modules)]
    x = y = 0.0
    for command, args in re.findall(r"([MmHhVv])([^MmHhVvZz]*)", path.get("d", "")):
        numbers = [float(number) for number in args.replace(",", " ").split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            for column in range(int(x), int(x + numbers[0])):
                grid[int(y) - border][column - border] = 1
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {command}")
    return grid


# -- PNG --------------------------------------------------------------------------------------


def test_png_has_the_signature_and_about_the_asked_size():
    data = render_qr(URL, kind="png")

    modules = len(expected_matrix(URL))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_size(data) == (modules * 12, modules * 12)  # 25 modules x 12 px = 300
    assert png_size(data) == (300, 300)


@pytest.mark.parametrize("size", [50, 51, 99, 123, 300, 777, 1000])
def test_png_symbol_is_the_module_multiple_nearest_the_size(size):
    modules = len(expected_matrix(URL))

    width, height = png_size(render_qr(URL, kind="png", size=size))

    assert width == height
    assert width % modules == 0
    assert abs(width - size) <= modules / 2


def test_png_holds_segnos_matrix_for_the_url():
    data = render_qr(URL, kind="png", size=200)

    matrix = expected_matrix(URL)
    assert png_modules(data, len(matrix), border=0) == matrix


@pytest.mark.parametrize("level", ["l", "m", "q", "h"])
def test_png_uses_the_asked_error_correction(level):
    url = "https://sho.rt/" + "x" * 60
    data = render_qr(url, kind="png", size=400, error_correction=level)

    matrix = expected_matrix(url, error=level)
    assert png_modules(data, len(matrix), border=0) == matrix


def test_margin_is_rounded_up_to_whole_modules():
    matrix = expected_matrix(URL)
    modules = len(matrix)

    data = render_qr(URL, kind="png", size=300, margin=13)  # 12 px modules: 13 px is 2 modules

    assert png_size(data) == ((modules + 4) * 12, (modules + 4) * 12)
    assert png_modules(data, modules, border=2) == matrix
    rows, _ = png_pixels(data)
    assert set(rows[0]) == {1}  # the quiet zone is all background (palette entry 1)


def test_png_palette_carries_the_colours_with_short_hex_expanded():
    data = render_qr(URL, kind="png", color="#1A2", background="#fFeEdD")

    _, palette = png_pixels(data)

    assert palette == [(0x11, 0xAA, 0x22), (0xFF, 0xEE, 0xDD)]


def test_short_urls_never_become_micro_qr():
    matrix = expected_matrix("http://a.co")

    data = render_qr("http://a.co", kind="png", size=105)

    assert len(matrix) >= 21  # Micro QR tops out at 17 modules
    assert png_modules(data, len(matrix), border=0) == matrix


# -- SVG --------------------------------------------------------------------------------------


def test_svg_is_xml_with_a_view_box_and_a_size():
    data = render_qr(URL, kind="svg", size=300, margin=24)

    root = ET.fromstring(data)
    modules = len(expected_matrix(URL))
    side = (modules + 4) * 12
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == f"0 0 {side} {side}"
    assert (root.get("width"), root.get("height")) == (str(side), str(side))


def test_svg_draws_segnos_matrix_in_the_asked_colours():
    data = render_qr(URL, kind="svg", margin=12, color="#123456", background="#abcdef")

    root = ET.fromstring(data)
    matrix = expected_matrix(URL)
    assert svg_modules(root, len(matrix), border=1) == matrix
    paints = {node.get("stroke") or node.get("fill") for node in root.iter(f"{SVG_NS}path")}
    assert paints == {"#123456", "#abcdef"}


# -- determinism and validation ---------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    path=st.text(st.characters(codec="ascii", min_codepoint=0x21, max_codepoint=0x7E), max_size=80),
    kind=st.sampled_from(["png", "svg"]),
    size=st.integers(min_value=50, max_value=400),
    margin=st.integers(min_value=0, max_value=100),
)
def test_same_arguments_give_identical_bytes(path, kind, size, margin):
    url = "https://example.com/" + path

    first = render_qr(url, kind=kind, size=size, margin=margin)

    assert render_qr(url, kind=kind, size=size, margin=margin) == first
    if kind == "svg":
        ET.fromstring(first)
    else:
        assert png_chunks(first)[b"IEND"] == b""


def test_equal_colours_in_different_spellings_give_identical_bytes():
    assert render_qr(URL, kind="svg", color="#ABC") == render_qr(URL, kind="svg", color="#aabbcc")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"size": 49}, "size"),
        ({"size": 1001}, "size"),
        ({"size": True}, "size"),
        ({"margin": -1}, "margin"),
        ({"margin": 101}, "margin"),
        ({"color": "red"}, "color"),
        ({"color": "#12345"}, "color"),
        ({"color": "#ggg"}, "color"),
        ({"color": "000000"}, "color"),
        ({"background": "#fffffff"}, "bgColor"),
        ({"background": "#000"}, "bgColor"),  # same as the default colour
        ({"kind": "gif"}, "format"),
        ({"error_correction": "x"}, "errorCorrection"),
    ],
)
def test_bad_options_raise_invalid_with_the_shlink_field(overrides, field):
    arguments = {"kind": "png", **overrides}

    with pytest.raises(InvalidLinkError) as caught:
        render_qr(URL, **arguments)

    assert caught.value.field == field


def test_error_correction_is_case_insensitive_like_shlink():
    assert render_qr(URL, kind="svg", error_correction="H") == render_qr(  # type: ignore[arg-type]
        URL, kind="svg", error_correction="h"
    )


def test_a_url_too_long_for_any_qr_code_is_refused():
    with pytest.raises(InvalidLinkError, match="too long") as caught:
        render_qr("https://example.com/" + "x" * 3000, kind="png")

    assert caught.value.field == "url"


def test_an_empty_url_is_refused():
    with pytest.raises(InvalidLinkError) as caught:
        render_qr("", kind="svg")

    assert caught.value.field == "url"
