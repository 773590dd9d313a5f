"""How the pastebin's pages present things: the render call every page handler makes, form reading,
and the small formatters templates use (ages, sizes, lexer names, safe redirect targets)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from scalebox.core.size import render_size
from scalebox.core.web import Pages
from scalebox.core.web import forms as core_forms
from scalebox.pastebin import render
from scalebox.pastebin.http.deps import pastebin

NO_STORE = {"Cache-Control": "no-store"}  # pages holding a secret shown once: never kept by any cache
FORM_FIELDS_MAX = 200  # the editor posts 3 fields per file, at most 20 files, plus a handful


def render_page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A full page (or its partial for htmx), with the clock's `now` for relative times."""
    pages: Pages = request.app.state.pages
    merged = {"now": pastebin(request).clock.now(), **(context or {})}
    return pages.render(request, name, merged, status_code=status_code, headers=headers)


async def read_form(request: Request) -> FormData:
    """The posted form, CSRF-checked, with the pastebin's field limit (multi-file pastes post many)."""
    return await core_forms.read_form(request, fields_max=FORM_FIELDS_MAX)


def form_texts(form: FormData, name: str) -> list[str]:
    return [value if isinstance(value, str) else "" for value in form.getlist(name)]


def relative_time(moment: datetime, now: datetime) -> str:
    """ "3 minutes ago" or "in 6 days": coarse on purpose, the exact time is in the title attribute."""
    seconds = (moment - now).total_seconds()
    amount = round(abs(seconds))  # whole seconds: a day less a microsecond still reads "1 day"
    if amount < 60:
        return "just now" if seconds <= 0 else "in under a minute"
    unit, size = next(
        (unit, size)
        for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))
        if amount >= size - 60  # a paste made a moment ago "expires in 1 day", not "in 24 hours"
    )
    count = round(amount / size)
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{text} ago" if seconds < 0 else f"in {text}"


def lexer_name(alias: str) -> str:
    return render.list_lexers().get(alias, alias)


def iso_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@functools.cache
def pygments_stylesheet() -> tuple[str, str]:
    """The highlighting stylesheet and a short hash of it (its URL's version, so it may be cached long)."""
    css = render.pygments_css()
    return css, hashlib.sha256(css.encode()).hexdigest()[:12]


def template_globals() -> dict[str, Any]:
    """What every pastebin template may call, whichever handler (or error handler) renders it."""
    return {
        "relative_time": relative_time,
        "human_size": render_size,
        "lexer_name": lexer_name,
        "iso_time": iso_time,
        "pygments_css_url": f"/static/pygments.css?v={pygments_stylesheet()[1]}",
    }
