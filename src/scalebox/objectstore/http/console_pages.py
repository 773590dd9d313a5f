"""The console's web pages on the console port, as MinIO's console users know them: sign in with an
access key and its secret, then buckets, objects, access keys, drives and usage. This module wires
them (the Console, the templates, the routers) and owns signing in and out."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.clock import Clock
from scalebox.core.errors import LimitExceededError
from scalebox.core.ratelimit import MemoryRateLimiter
from scalebox.core.web import Pages
from scalebox.core.web.account_pages import SIGN_INS_PER_MINUTE
from scalebox.core.web.accounts import clear_session_cookie, client_ip, set_session_cookie
from scalebox.core.web.forms import form_text, local_path, read_form
from scalebox.objectstore.http import console_buckets, console_drives, console_keys, console_objects
from scalebox.objectstore.http.console_drives import HealJob
from scalebox.objectstore.http.console_session import (
    SESSION_COOKIE,
    Console,
    console,
    console_sessions,
    page_context,
    render_page,
    signed_in,
)
from scalebox.objectstore.http.console_view import template_globals
from scalebox.objectstore.service.keys import KeyService
from scalebox.objectstore.service.objects import ObjectService
from scalebox.objectstore.service.upkeep import Upkeep
from scalebox.objectstore.settings import ObjectStoreSettings
from scalebox.objectstore.storage.erasure import ErasureSet

TEMPLATES = Path(__file__).parent.parent / "templates"
STATIC = Path(__file__).parent.parent / "static"
NAV = (("/", "Buckets"), ("/usage", "Usage"), ("/drives", "Drives"), ("/keys", "Access keys"))
ACCESS_KEY_CHARS_MAX = 128
SECRET_CHARS_MAX = 1024
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]

router = APIRouter(include_in_schema=False)


def build_console(
    settings: ObjectStoreSettings,
    clock: Clock,
    *,
    service: ObjectService,
    keys: KeyService,
    upkeep: Upkeep,
    erasure: ErasureSet,
    server_secret: str,
) -> Console:
    return Console(
        settings=settings,
        clock=clock,
        service=service,
        keys=keys,
        upkeep=upkeep,
        erasure=erasure,
        sessions=console_sessions(server_secret, settings.console_session_seconds, clock),
        limiter=MemoryRateLimiter(clock),
        heal=HealJob(),
    )


def build_pages() -> Pages:
    return Pages(
        TEMPLATES,
        site_name="object store",
        nav=NAV,
        context_hooks=(page_context,),
        globals_=template_globals(),
    )


def routers() -> list[APIRouter]:
    return [
        router,
        console_buckets.router,
        console_objects.router,
        console_keys.router,
        console_drives.router,
    ]


@router.get("/login")
async def show_login(request: Request, next_path: NextQuery = "") -> Response:
    target = local_path(next_path)
    if await signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, "", target)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    access_key = form_text(form, "access_key").strip()[:ACCESS_KEY_CHARS_MAX]
    secret = form_text(form, "secret_key")[:SECRET_CHARS_MAX]
    target = local_path(form_text(form, "next"))
    wiring = console(request)
    # Every attempt counts (a success is one a minute at most): checking before the secret is
    # compared means a guess over the limit learns nothing.
    decision = await wiring.limiter.hit(
        f"objectstore:sign-in:ip{client_ip(request)}", SIGN_INS_PER_MINUTE, 60.0
    )
    if not decision.allowed:
        raise LimitExceededError(
            f"too many sign-in attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )
    found = await wiring.keys.lookup(access_key) if access_key else None
    expected = found[1] if found else "\x00 no such key \x00"
    if found is None or not hmac.compare_digest(expected.encode(), secret.encode()):
        return _login_page(request, access_key, target, error="Wrong access key or secret key.", status=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response,
        SESSION_COOKIE,
        wiring.sessions.encode(access_key),
        max_age_seconds=wiring.settings.console_session_seconds,
        secure=wiring.settings.secure_cookies,
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, SESSION_COOKIE)
    return response


@router.get("/account")
async def account() -> Response:
    """Core's layout links the signed-in name here; a key's account is its row on the keys page."""
    return RedirectResponse("/keys", status_code=303)


def _login_page(
    request: Request, access_key: str, target: str, *, error: str = "", status: int = 200
) -> HTMLResponse:
    context = {"access_key": access_key, "next": target, "flashes": [("error", error)] if error else []}
    return render_page(request, "objectstore/login.html", context, status_code=status)
