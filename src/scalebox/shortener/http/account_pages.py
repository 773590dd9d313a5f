"""Account pages: sign up, sign in and out, and the account page with its API keys (for Shlink clients)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.auth import Account, AccountBannedError, BadCredentialsError
from scalebox.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
    UnauthorizedError,
)
from scalebox.shortener.http.deps import client_ip, current_account, shortener, sign_in, sign_out
from scalebox.shortener.http.pages import NO_STORE, form_text, local_path, read_form, refusal, render_page

router = APIRouter(include_in_schema=False)

SIGN_INS_PER_MINUTE = 10  # each attempt costs an argon2 hash: bound guessing and CPU alike
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]  # where to go after signing in


@router.get("/signup")
async def show_signup(request: Request, next_path: NextQuery = "") -> HTMLResponse:
    await current_account(request)
    _require_signup(request)
    return _signup(request, username="", next_path=local_path(next_path, "/links"))


@router.post("/signup")
async def signup(request: Request) -> Response:
    await current_account(request)
    _require_signup(request)
    form = await read_form(request)
    username, password = form_text(form, "username").strip(), form_text(form, "password")
    next_path = local_path(form_text(form, "next"), "/links")
    await _check_sign_in_rate(request)
    if password != form_text(form, "password_confirm"):
        return _signup(request, username, next_path, error="The two passwords do not match.", status=422)
    try:
        account = await shortener(request).accounts.register(username, password)
    except (InvalidError, ConflictError) as exc:
        refused = refusal(exc)
        return _signup(request, username, next_path, error=refused.message, status=refused.status)
    response = RedirectResponse(next_path, status_code=303)
    sign_in(request, response, account)
    return response


@router.get("/login")
async def show_login(request: Request, next_path: NextQuery = "") -> HTMLResponse:
    await current_account(request)
    return _login(request, username="", next_path=local_path(next_path, "/links"))


@router.post("/login")
async def login(request: Request) -> Response:
    await current_account(request)
    form = await read_form(request)
    username, next_path = form_text(form, "username").strip(), local_path(form_text(form, "next"), "/links")
    await _check_sign_in_rate(request)
    try:
        account = await shortener(request).accounts.authenticate(username, form_text(form, "password"))
    except BadCredentialsError:
        return _login(request, username, next_path, error="Wrong username or password.", status=401)
    except AccountBannedError:
        return _login(request, username, next_path, error="This account is banned.", status=403)
    response = RedirectResponse(next_path, status_code=303)
    sign_in(request, response, account)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/", status_code=303)
    sign_out(response)
    return response


@router.get("/account")
async def show_account(request: Request, revoked: Annotated[str, Query(max_length=64)] = "") -> Response:
    account = await current_account(request)
    if account is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    flashes = [("ok", f"API key {revoked} was revoked; it no longer works.")] if revoked else []
    return await _account_page(request, account, flashes=flashes)


@router.post("/account/keys")
async def create_key(request: Request) -> HTMLResponse:
    account = await require_account(request)
    form = await read_form(request)
    name = form_text(form, "name").strip() or "API key"
    try:
        key, plaintext = await shortener(request).accounts.issue_api_key(account.id, name)
    except (InvalidError, ForbiddenError, LimitExceededError) as exc:
        refused = refusal(exc)
        return await _account_page(request, account, flashes=refused.flashes, status=refused.status)
    return await _account_page(request, account, new_key=(key.key_id, plaintext))


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    account = await require_account(request)
    await read_form(request)
    if not await shortener(request).accounts.revoke_api_key(account.id, key_id):
        raise NotFoundError(f"you have no live API key {key_id!r}")
    return RedirectResponse(f"/account?revoked={quote(key_id, safe='')}", status_code=303)


async def require_account(request: Request) -> Account:
    """The signed-in account, else UnauthorizedError (a 401 page) for a form posted signed out."""
    account = await current_account(request)
    if account is None:
        raise UnauthorizedError("sign in first")
    return account


async def _check_sign_in_rate(request: Request) -> None:
    decision = await shortener(request).limiter.hit(
        f"shortener:sign-in:ip{client_ip(request)}", SIGN_INS_PER_MINUTE, 60.0
    )
    if not decision.allowed:
        raise LimitExceededError(
            f"too many sign-in attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )


def _require_signup(request: Request) -> None:
    if not shortener(request).settings.signup:
        raise ForbiddenError("sign-up is closed on this server; ask an administrator for an account")


async def _account_page(
    request: Request,
    account: Account,
    *,
    flashes: list[tuple[str, str]] | None = None,
    new_key: tuple[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "keys": await shortener(request).accounts.list_api_keys(account.id),
        "new_key": new_key,
        "flashes": flashes or [],
    }
    headers = NO_STORE if new_key else None
    return render_page(request, "account.html", context, status_code=status, headers=headers)


def _signup(
    request: Request, username: str, next_path: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    context = {"username": username, "next": next_path, "flashes": [("error", error)] if error else []}
    return render_page(request, "signup.html", context, status_code=status)


def _login(
    request: Request, username: str, next_path: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    context = {"username": username, "next": next_path, "flashes": [("error", error)] if error else []}
    return render_page(request, "login.html", context, status_code=status)
