"""What every console page shares: the signed session cookie naming an access key, the signed-in
caller (the key re-checked on every request, so a revoked key is signed out), rendering, CSRF-checked
forms, and the fixed notes a redirect after a form may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from scalebox.core.auth import NamedSessionCodec
from scalebox.core.clock import Clock
from scalebox.core.errors import UnauthorizedError
from scalebox.core.ratelimit import RateLimiter
from scalebox.core.web.account_pages import render_form_page
from scalebox.core.web.csrf import LazyCsrfToken
from scalebox.core.web.forms import local_path
from scalebox.objectstore.service.keys import KeyService, Principal
from scalebox.objectstore.service.objects import ObjectService
from scalebox.objectstore.service.upkeep import Upkeep
from scalebox.objectstore.settings import ObjectStoreSettings
from scalebox.objectstore.storage.erasure import ErasureSet

if TYPE_CHECKING:
    from scalebox.objectstore.http.console_drives import HealJob

# Not core's `sbx_session`: cookies ignore ports, and the other systems on this host keep theirs there.
SESSION_COOKIE = "sbx_objectstore_session"
_SESSION_SALT = "scalebox.objectstore.console-session"
_UNRESOLVED = object()

# What a redirect after a form says on the page it lands on; only these fixed sentences, so no link
# can make a page say something of its own.
NOTES = {
    "bucket-created": "Bucket created.",
    "bucket-deleted": "Bucket deleted.",
    "uploaded": "Upload complete.",
    "object-deleted": "Object deleted.",
    "version-deleted": "Version deleted.",
    "versioning-enabled": "Versioning is on: every write keeps the version it replaces.",
    "versioning-suspended": "Versioning is suspended: new writes replace the current version.",
    "key-revoked": "Access key revoked; it no longer works.",
    "heal-started": "Healing started.",
    "heal-running": "A heal is running already.",
}


def console_sessions(server_secret: str, max_age_seconds: int, clock: Clock) -> NamedSessionCodec:
    """Session cookie values: the signed-in name and when it signed in, signed under a key derived
    from the server secret and this console's own salt."""
    return NamedSessionCodec(server_secret, max_age_seconds, clock, salt=_SESSION_SALT)


@dataclass(frozen=True)
class Console:
    """What the console's pages work with; app.py builds one and keeps it in `app.state.console`."""

    settings: ObjectStoreSettings
    clock: Clock
    service: ObjectService
    keys: KeyService
    upkeep: Upkeep
    erasure: ErasureSet
    sessions: NamedSessionCodec
    limiter: RateLimiter
    heal: HealJob


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in key as core's layout shows it (`username`, `is_admin`)."""

    username: str
    access_key: str
    is_admin: bool


def console(request: Request) -> Console:
    return cast("Console", request.app.state.console)


async def signed_in(request: Request) -> Principal | None:
    """The caller whose session cookie this is, if the key is still active (resolved once per request)."""
    memoised = getattr(request.state, "principal", _UNRESOLVED)
    if memoised is not _UNRESOLVED:
        return cast("Principal | None", memoised)
    cookie = request.cookies.get(SESSION_COOKIE)
    access_key = console(request).sessions.decode(cookie) if cookie else None
    found = await console(request).keys.lookup(access_key) if access_key else None
    principal = found[0] if found else None
    request.state.principal = principal
    if principal is not None:
        request.state.viewer = Viewer(principal.name, principal.access_key, principal.is_admin)
    return principal


async def require_principal(request: Request) -> Principal:
    """The signed-in caller, else UnauthorizedError (a 401 page) for a form posted signed out."""
    principal = await signed_in(request)
    if principal is None:
        raise UnauthorizedError("sign in first; your session ended or its access key was revoked")
    return principal


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(local_path(here), safe='')}", status_code=303)


def page_context(request: Request) -> dict[str, object]:
    """What core's layout reads on every page."""
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "viewer", None),
        "signup_enabled": False,
    }


def note_flashes(note: str) -> list[tuple[str, str]]:
    message = NOTES.get(note)
    return [("ok", message)] if message else []


render_page = render_form_page  # every console page renders through core's form-page renderer
