"""Reading posted forms on server-rendered pages: the CSRF check, text fields, and redirect targets
that never leave the site."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request

from scalebox.core.web.csrf import CSRF_FIELD, verify_csrf

FORM_FIELDS_MAX = 200  # account forms post a handful; systems with bigger forms read their own


async def read_form(request: Request, *, fields_max: int = FORM_FIELDS_MAX, files_max: int = 0) -> FormData:
    """The posted form, after checking its CSRF token (CsrfFailedError, a 403, when it does not match)."""
    form = await request.form(max_files=files_max, max_fields=fields_max)
    verify_csrf(request, form_text(form, CSRF_FIELD) or None)
    return form


def form_text(form: FormData, name: str) -> str:
    """A text field's value; "" when missing (or when a file was sent in its place)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default`: redirects never leave the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target
