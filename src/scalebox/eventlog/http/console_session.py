"""What every console page shares: the signed session cookie naming a SASL user (re-checked against
users.json on every request, so a removed user is signed out), the wiring the pages work with,
rendering, and the fixed notes a redirect after a form may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast
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
from scalebox.eventlog.service.broker import Broker
from scalebox.eventlog.service.groups import GroupCoordinator
from scalebox.eventlog.settings import EventLogSettings

# Not core's `sbx_session`: cookies ignore ports, and the other systems on this host keep theirs there.
SESSION_COOKIE = "sbx_eventlog_session"
_SESSION_SALT = "scalebox.eventlog.console-session"
_UNRESOLVED = object()

# What a redirect after a form says on the page it lands on; only these fixed sentences, so no link
# can make a page say something of its own.
NOTES = {
    "signed-out": "Signed out.",
}


class ServerCounters(Protocol):
    """What the console reads of the Kafka listeners (KafkaServer has both)."""

    @property
    def connections(self) -> int: ...

    @property
    def requests_total(self) -> int: ...


class RunningEventLog(Protocol):
    """The parts of app.py's EventLog the console reads; a Protocol, so http/ never imports app.py."""

    @property
    def settings(self) -> EventLogSettings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def broker(self) -> Broker: ...

    @property
    def groups(self) -> GroupCoordinator: ...

    @property
    def server(self) -> ServerCounters: ...


def console_sessions(server_secret: str, max_age_seconds: int, clock: Clock) -> NamedSessionCodec:
    """Session cookie values: the signed-in name and when it signed in, signed under a key derived
    from the server secret and this console's own salt."""
    return NamedSessionCodec(server_secret, max_age_seconds, clock, salt=_SESSION_SALT)


@dataclass(frozen=True)
class Console:
    """What the console's pages work with; console.py builds one and keeps it in `app.state.console`."""

    eventlog: RunningEventLog
    sessions: NamedSessionCodec
    limiter: RateLimiter

    @property
    def settings(self) -> EventLogSettings:
        return self.eventlog.settings

    @property
    def broker(self) -> Broker:
        return self.eventlog.broker

    @property
    def groups(self) -> GroupCoordinator:
        return self.eventlog.groups


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in SASL user as core's layout shows it (`username`, `is_admin`)."""

    username: str
    is_admin: bool = False


def console(request: Request) -> Console:
    return cast("Console", request.app.state.console)


def signed_in(request: Request) -> str | None:
    """The user whose session cookie this is, if that user still exists (resolved once per request)."""
    memoised = getattr(request.state, "user", _UNRESOLVED)
    if memoised is not _UNRESOLVED:
        return cast("str | None", memoised)
    wiring = console(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    name = wiring.sessions.decode(cookie) if cookie else None
    user = name if name is not None and name in wiring.broker.users.load() else None
    request.state.user = user
    if user is not None:
        request.state.viewer = Viewer(user)
    return user


def require_user(request: Request) -> str:
    """The signed-in user, else UnauthorizedError (a 401 page) for a form posted signed out."""
    user = signed_in(request)
    if user is None:
        raise UnauthorizedError("sign in first; your session ended or its user was removed")
    return user


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(local_path(here), safe='')}", status_code=303)


def page_context(request: Request) -> dict[str, object]:
    """What core's layout reads on every page (the viewer is resolved for every page, so the header
    shows who is signed in on read pages too)."""
    signed_in(request)
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "viewer", None),
        "signup_enabled": False,
    }


def note_flashes(note: str) -> list[tuple[str, str]]:
    message = NOTES.get(note)
    return [("ok", message)] if message else []


render_page = render_form_page  # every console page renders through core's form-page renderer
