"""Who is calling: a browser's signed session cookie (a participant id, re-checked against the
directory on every request, so a removed member is signed out), or HTTP Basic with a participant
id and password for scripts. Writes through the JSON API with a cookie also need the page's CSRF
token in an X-CSRF-Token header; Basic requests need none, as no browser sends those credentials
on its own (the API never asks for them with a WWW-Authenticate challenge)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse

from scalebox.core.auth import NamedSessionCodec
from scalebox.core.clock import Clock
from scalebox.core.errors import ForbiddenError, LimitExceededError, UnauthorizedError
from scalebox.core.web.accounts import client_ip
from scalebox.core.web.csrf import LazyCsrfToken, verify_csrf
from scalebox.core.web.forms import local_path
from scalebox.exchange.http.context import web
from scalebox.exchange.service.directory import Member

# Not core's `sbx_session`: cookies ignore ports, and the other systems on this host keep theirs there.
SESSION_COOKIE = "sbx_exchange_session"
CSRF_HEADER = "x-csrf-token"
BASIC_ATTEMPTS_PER_MINUTE = 600  # per address: each one costs an Argon2 verification
PARTICIPANT_CHARS_MAX = 32
PASSWORD_CHARS_MAX = 1024
_SESSION_SALT = "scalebox.exchange.web-session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNRESOLVED = object()

NOTES = {
    "signed-out": "Signed out.",
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in member as core's layout shows it (`username`, `is_admin`)."""

    username: str
    is_admin: bool = False


def web_sessions(server_secret: str, max_age_seconds: int, clock: Clock) -> NamedSessionCodec:
    return NamedSessionCodec(server_secret, max_age_seconds, clock, salt=_SESSION_SALT)


def signed_in(connection: HTTPConnection) -> Member | None:
    """The member whose session cookie this is, if still a member (resolved once per request)."""
    memoised = getattr(connection.state, "member", _UNRESOLVED)
    if memoised is not _UNRESOLVED:
        return cast("Member | None", memoised)
    wiring = web(connection)
    cookie = connection.cookies.get(SESSION_COOKIE)
    participant = wiring.sessions.decode(cookie) if cookie else None
    member = wiring.directory.members.get(participant) if participant else None
    connection.state.member = member
    if member is not None:
        connection.state.viewer = Viewer(member.participant.participant_id, member.operator)
    return member


def require_member(request: Request) -> Member:
    """The signed-in member, else UnauthorizedError (a 401) for a form posted signed out."""
    member = signed_in(request)
    if member is None:
        raise UnauthorizedError("sign in first; your session ended or you are no longer a member")
    return member


def require_operator(member: Member) -> Member:
    if not member.operator:
        raise ForbiddenError("the operations view is for operators")
    return member


def login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(local_path(here), safe='')}", status_code=303)


def page_context(request: Request) -> dict[str, object]:
    """What core's layout reads on every page."""
    member = signed_in(request)
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "viewer", None),
        "signup_enabled": False,
        "is_operator": bool(member and member.operator),
    }


async def api_member(request: Request) -> Member:
    """The caller of a JSON API route: HTTP Basic, or a session cookie (with the CSRF header on
    writes). UnauthorizedError (401) when neither identifies a member."""
    credentials = _basic_credentials(request.headers.get("authorization", ""))
    if credentials is not None:
        return await _basic_member(request, *credentials)
    member = signed_in(request)
    if member is None:
        raise UnauthorizedError("authenticate with HTTP Basic (participant id and password) or sign in")
    if request.method not in _SAFE_METHODS:
        verify_csrf(request, request.headers.get(CSRF_HEADER))
    return member


async def connection_member(connection: HTTPConnection) -> Member | None:
    """The member behind a WebSocket handshake (cookie or Basic), or None."""
    try:
        credentials = _basic_credentials(connection.headers.get("authorization", ""))
        if credentials is None:
            return signed_in(connection)
        return await _basic_member(connection, *credentials)
    except (UnauthorizedError, LimitExceededError):
        return None


async def verify_member(connection: HTTPConnection, participant: str, password: str) -> Member | None:
    """Check a participant id and password (off the event loop: Argon2 is slow on purpose)."""
    participant, password = participant[:PARTICIPANT_CHARS_MAX], password[:PASSWORD_CHARS_MAX]
    return await asyncio.to_thread(web(connection).directory.verify, participant, password)


async def _basic_member(connection: HTTPConnection, participant: str, password: str) -> Member:
    decision = await web(connection).limiter.hit(
        f"exchange:basic:ip{client_ip(cast('Request', connection))}", BASIC_ATTEMPTS_PER_MINUTE, 60.0
    )
    if not decision.allowed:
        raise LimitExceededError(
            f"too many authentication attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )
    member = await verify_member(connection, participant, password)
    if member is None:
        raise UnauthorizedError("wrong participant id or password")
    return member


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise UnauthorizedError("malformed Basic credentials") from exc
    participant, colon, password = decoded.partition(":")
    if not colon:
        raise UnauthorizedError("malformed Basic credentials")
    return participant, password
