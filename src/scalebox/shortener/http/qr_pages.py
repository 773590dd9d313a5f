"""`/{code}/qr-code`: the QR code of a short URL as PNG or SVG, at Shlink's path with Shlink's query
parameters (size, format, margin, errorCorrection, color, bgColor). Public, like the short URL itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from scalebox.shortener import qr
from scalebox.shortener.domain import looks_like_code
from scalebox.shortener.errors import InvalidLinkError, LinkNotFoundError
from scalebox.shortener.http.deps import base_url, shortener

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
# The image only changes if the link stops redirecting (it then answers 404), so an hour is safe.
CACHE = "public, max-age=3600"
Param = Annotated[str, Query(max_length=16)]


@router.get("/{code}/qr-code")
async def qr_code(
    request: Request,
    code: str,
    *,
    size: Param = "300",
    format: Param = "png",  # Shlink's parameter name
    margin: Param = "0",
    error_correction: Annotated[str, Query(alias="errorCorrection", max_length=1)] = "l",
    color: Param = "#000000",
    bg_color: Annotated[str, Query(alias="bgColor", max_length=16)] = "#ffffff",
) -> Response:
    sb = shortener(request)
    link = await sb.source.find(code.lower()) if looks_like_code(code) else None
    if link is None or link.status(sb.clock.now(), sb.recorder.unstored(link)) != "active":
        raise LinkNotFoundError(f'No URL found with short code "{code}"')
    kind = format.lower()
    image = qr.render_qr(
        f"{base_url(request)}{link.code}",
        kind=kind,  # type: ignore[arg-type]  # render_qr checks it
        size=_pixels("size", size),
        margin=_pixels("margin", margin),
        error_correction=error_correction.lower(),  # type: ignore[arg-type]  # render_qr checks it
        color=_hex(color),
        background=_hex(bg_color),
    )
    return Response(image, media_type=MEDIA_TYPES[kind], headers={"Cache-Control": CACHE})


def _pixels(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise InvalidLinkError(f"{name} is a whole number of pixels", field=name)
    return int(text)


def _hex(text: str) -> str:
    """Shlink clients send colours with or without '#' ('%23' is easy to forget in a query string)."""
    return text if text.startswith("#") else f"#{text}"
