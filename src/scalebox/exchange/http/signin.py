"""Signing in and out of the exchange's pages with a participant id and password (the directory's
members, as FIX logons use); a signed-in browser keeps a signed session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import LimitExceededError
from scalebox.core.web.account_pages import SIGN_INS_PER_MINUTE, render_form_page
from scalebox.core.web.accounts import clear_session_cookie, client_ip, set_session_cookie
from scalebox.core.web.forms import form_text, local_path, read_form
from scalebox.exchange.http.context import web
from scalebox.exchange.http.session import (
    NOTES,
    PARTICIPANT_CHARS_MAX,
    SESSION_COOKIE,
    signed_in,
    verify_member,
)

router = APIRouter(include_in_schema=False)
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]
NoteQuery = Annotated[str, Query(max_length=40)]


@router.get("/login")
async def show_login(request: Request, next_path: NextQuery = "", note: NoteQuery = "") -> Response:
    target = local_path(next_path)
    if signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    flashes = [("ok", NOTES[note])] if note in NOTES else []
    return _login_page(request, "", target, flashes=flashes)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    participant = form_text(form, "participant").strip()[:PARTICIPANT_CHARS_MAX]
    target = local_path(form_text(form, "next"))
    wiring = web(request)
    # Every attempt counts, before the password is hashed: a guess over the limit costs no Argon2.
    decision = await wiring.limiter.hit(f"exchange:sign-in:ip{client_ip(request)}", SIGN_INS_PER_MINUTE, 60.0)
    if not decision.allowed:
        raise LimitExceededError(
            f"too many sign-in attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )
    member = await verify_member(request, participant, form_text(form, "password")) if participant else None
    if member is None:
        error = [("error", "Wrong participant id or password.")]
        return _login_page(request, participant, target, flashes=error, status=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response,
        SESSION_COOKIE,
        wiring.sessions.encode(member.participant.participant_id),
        max_age_seconds=wiring.settings.web_session_seconds,
        secure=wiring.settings.secure_cookies,
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/login?note=signed-out", status_code=303)
    clear_session_cookie(response, SESSION_COOKIE)
    return response


@router.get("/account")
async def account() -> Response:
    """Core's layout links the signed-in name here; a member's page is the trading screen."""
    return RedirectResponse("/", status_code=303)


def _login_page(
    request: Request, participant: str, target: str, *, flashes: list[tuple[str, str]], status: int = 200
) -> HTMLResponse:
    context = {"participant": participant, "next": target, "flashes": flashes}
    return render_form_page(request, "exchange/login.html", context, status_code=status)
