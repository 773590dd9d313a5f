"""The console's web pages on the console port: topics, consumer groups and a test-message form, as
Kafka UIs (AKHQ, Redpanda Console) show them. This module wires them (the templates, the routers)
and owns signing in and out with a SASL user's name and password."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import LimitExceededError
from scalebox.core.web import Pages
from scalebox.core.web.account_pages import SIGN_INS_PER_MINUTE
from scalebox.core.web.accounts import clear_session_cookie, client_ip, set_session_cookie
from scalebox.core.web.forms import form_text, local_path, read_form
from scalebox.eventlog.http import console_groups, console_topics
from scalebox.eventlog.http.console_session import (
    SESSION_COOKIE,
    console,
    note_flashes,
    page_context,
    render_page,
    signed_in,
)
from scalebox.eventlog.http.console_view import template_globals
from scalebox.eventlog.service.sasl import PASSWORD_MAX, USERNAME_MAX
from scalebox.eventlog.service.users import verify_password

TEMPLATES = Path(__file__).parent.parent / "templates"
STATIC = Path(__file__).parent.parent / "static"
NAV = (("/", "Topics"), ("/groups", "Consumer groups"), ("/produce", "Produce"))
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]
NoteQuery = Annotated[str, Query(max_length=40)]

router = APIRouter(include_in_schema=False)


def build_pages() -> Pages:
    return Pages(
        TEMPLATES,
        site_name="event log",
        nav=NAV,
        context_hooks=(page_context,),
        globals_=template_globals(),
    )


def routers() -> list[APIRouter]:
    return [router, console_topics.router, console_groups.router]


@router.get("/login")
async def show_login(request: Request, next_path: NextQuery = "", note: NoteQuery = "") -> Response:
    target = local_path(next_path)
    if signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, "", target, flashes=note_flashes(note))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    name = form_text(form, "username").strip()[:USERNAME_MAX]
    password = form_text(form, "password")[:PASSWORD_MAX]
    target = local_path(form_text(form, "next"))
    wiring = console(request)
    # Every attempt counts (a success is one a minute at most): checking before the password is
    # derived means a guess over the limit learns nothing, and costs no PBKDF2.
    decision = await wiring.limiter.hit(f"eventlog:sign-in:ip{client_ip(request)}", SIGN_INS_PER_MINUTE, 60.0)
    if not decision.allowed:
        raise LimitExceededError(
            f"too many sign-in attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )
    users = wiring.broker.users.load()
    if not name or not await asyncio.to_thread(verify_password, users, name, password):
        error = [("error", "Wrong user name or password.")]
        return _login_page(request, name, target, flashes=error, status=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response,
        SESSION_COOKIE,
        wiring.sessions.encode(name),
        max_age_seconds=wiring.settings.console_session_seconds,
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
    """Core's layout links the signed-in name here; what a user can do besides reading is produce."""
    return RedirectResponse("/produce", status_code=303)


def _login_page(
    request: Request, name: str, target: str, *, flashes: list[tuple[str, str]], status: int = 200
) -> HTMLResponse:
    context = {"username": name, "next": target, "flashes": flashes}
    return render_page(request, "eventlog/login.html", context, status_code=status)
