"""QR codes for short URLs, as PNG or SVG, with Shlink's options: size, margin, format,
errorCorrection, color and bgColor. segno does the encoding; this module owns the checks and sizing."""

from __future__ import annotations

import io
import math
import re
from typing import Literal, get_args

import segno

from scalebox.shortener.errors import InvalidLinkError

QrKind = Literal["png", "svg"]
ErrorCorrection = Literal["l", "m", "q", "h"]
QR_KINDS: tuple[str, ...] = get_args(QrKind)
ERROR_CORRECTIONS: tuple[str, ...] = get_args(ErrorCorrection)
SIZE_MIN_PX = 50
SIZE_MAX_PX = 1000
MARGIN_MAX_PX = 100
_HEX_COLOR = re.compile(r"#(?:[0-9a-f]{3}|[0-9a-f]{6})", re.IGNORECASE)
_SVG_OPEN = b'<svg xmlns="http://www.w3.org/2000/svg" '


def render_qr(
    url: str,
    *,
    kind: QrKind,
    size: int = 300,
    margin: int = 0,
    error_correction: ErrorCorrection = "l",
    color: str = "#000000",
    background: str = "#ffffff",
) -> bytes:
    """The QR code of `url` as PNG or SVG bytes, the same bytes for the same arguments.

    Modules are whole pixels, so the symbol is the multiple of its module count nearest `size`
    (a code with more modules than `size` gets one pixel each and comes out larger). `margin` is the
    quiet zone in pixels, rounded up to whole modules; 0, Shlink's default, leaves it to the page.
    The level is the least error correction used: segno raises it when that fits in the same symbol
    size, which only makes the code easier to scan. Never Micro QR, which many phone cameras cannot
    read. Bad values raise InvalidLinkError whose `field` is the Shlink query parameter's name.
    """
    if kind not in QR_KINDS:
        raise InvalidLinkError(f"format is one of {', '.join(QR_KINDS)}", field="format")
    level = str(error_correction).lower()
    if level not in ERROR_CORRECTIONS:
        raise InvalidLinkError(
            f"errorCorrection is one of {', '.join(ERROR_CORRECTIONS).upper()}", field="errorCorrection"
        )
    _check_range("size", size, SIZE_MIN_PX, SIZE_MAX_PX)
    _check_range("margin", margin, 0, MARGIN_MAX_PX)
    dark, light = _hex_color("color", color), _hex_color("bgColor", background)
    if dark == light:
        raise InvalidLinkError("color and bgColor are the same: the code would be invisible", field="bgColor")
    if not url:
        raise InvalidLinkError("there is no URL to encode", field="url")
    try:
        code = segno.make_qr(url, error=level)
    except segno.DataOverflowError as exc:
        raise InvalidLinkError("the URL is too long to fit in a QR code", field="url") from exc
    modules = len(code.matrix)  # the symbol is square
    scale = max(1, round(size / modules))
    border = math.ceil(margin / scale)
    out = io.BytesIO()
    if kind == "png":
        code.save(out, kind="png", scale=scale, border=border, dark=dark, light=light)
        return out.getvalue()
    code.save(
        out, kind="svg", scale=scale, border=border, dark=dark, light=light,
        xmldecl=False, omitsize=True, nl=False,
    )  # fmt: skip
    return _with_size(out.getvalue(), (modules + 2 * border) * scale)


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidLinkError(f"{name} is a whole number of pixels from {low} to {high}", field=name)


def _hex_color(name: str, value: str) -> str:
    """'#rgb' or '#rrggbb' (any case) as lowercase '#rrggbb', so equal colours give equal bytes."""
    if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value):
        raise InvalidLinkError(f"{name} is a hex colour such as #000 or #1a2b3c", field=name)
    digits = value[1:].lower()
    return "#" + (digits if len(digits) == 6 else "".join(digit * 2 for digit in digits))


def _with_size(svg: bytes, side: int) -> bytes:
    """segno writes either width/height or a viewBox; a file that is opened on its own needs both."""
    assert svg.startswith(_SVG_OPEN), svg[:80]
    return svg.replace(_SVG_OPEN, _SVG_OPEN + f'width="{side}" height="{side}" '.encode(), 1)
