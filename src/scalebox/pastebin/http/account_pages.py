"""Account pages: sign up, sign in and out, and the account page (my pastes, API keys)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.auth import Account, AccountBannedError, BadCredentialsError
from scalebox.core.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError, UnauthorizedError
from scalebox.core.web.errors import status_for
from scalebox.pastebin.http.deps import client_ip, current_account, pastebin, sign_in, sign_out, viewer
from scalebox.pastebin.http.view import NO_STORE, form_text, local_path, read_form, render_page
from scalebox.pastebin.service import Viewer
from scalebox.pastebin.service.limits import check_rate

router = APIRouter(include_in_schema=False)

ACCOUNT_PASTES_SHOWN = 100
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]  # where to go after signing in


@router.get("/signup")
async def show_signup(request: Request, next_path: NextQuery = "") -> HTMLResponse:
    await current_account(request)
    _require_signup(request)
    return _signup(request, username="", next_path=local_path(next_path, "/account"))


@router.post("/signup")
async def signup(request: Request) -> Response:
    await current_account(request)
    _require_signup(request)
    form = await read_form(request)
    username, password = form_text(form, "username").strip(), form_text(form, "password")
    next_path = local_path(form_text(form, "next"), "/account")
    await _check_sign_in_rate(request)
    if password != form_text(form, "password_confirm"):
        return _signup(request, username, next_path, error="The two passwords do not match.", status=422)
    try:
        account = await pastebin(request).accounts.register(username, password)
    except (InvalidError, ConflictError) as exc:
        return _signup(request, username, next_path, error=exc.detail, status=status_for(exc))
    response = RedirectResponse(next_path, status_code=303)
    sign_in(request, response, account)
    return response


@router.get("/login")
async def show_login(request: Request, next_path: NextQuery = "") -> HTMLResponse:
    await current_account(request)
    return _login(request, username="", next_path=local_path(next_path))


@router.post("/login")
async def login(request: Request) -> Response:
    await current_account(request)
    form = await read_form(request)
    username, next_path = form_text(form, "username").strip(), local_path(form_text(form, "next"))
    await _check_sign_in_rate(request)
    try:
        account = await pastebin(request).accounts.authenticate(username, form_text(form, "password"))
    except BadCredentialsError:
        return _login(request, username, next_path, error="Wrong username or password.", status=401)
    except AccountBannedError:
        return _login(request, username, next_path, error="This account is banned.", status=403)
    response = RedirectResponse(next_path, status_code=303)
    sign_in(request, response, account)
    return response


async def _check_sign_in_rate(request: Request) -> None:
    pb = pastebin(request)
    await check_rate(pb.limiter, pb.pastes.limits, "sign-in", Viewer(ip=client_ip(request)))


@router.post("/logout")
async def logout(request: Request) -> Response:
    await read_form(request)
    response = RedirectResponse("/", status_code=303)
    sign_out(response)
    return response


@router.get("/account")
async def show_account(request: Request, deleted: str = "", revoked: str = "") -> Response:
    account = await current_account(request)
    if account is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    flashes = []
    if deleted:
        flashes.append(("ok", f"Paste {deleted} was deleted."))
    if revoked:
        flashes.append(("ok", f"API key {revoked} was revoked; it no longer works."))
    return await _account_page(request, account, flashes=flashes)


@router.post("/account/keys")
async def create_key(request: Request) -> HTMLResponse:
    account = await _require_account(request)
    form = await read_form(request)
    name = form_text(form, "name").strip() or "API key"
    try:
        key, plaintext = await pastebin(request).accounts.issue_api_key(account.id, name)
    except (InvalidError, ForbiddenError) as exc:
        return await _account_page(request, account, flashes=[("error", exc.detail)], status=status_for(exc))
    return await _account_page(request, account, new_key=(key.key_id, plaintext))


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    account = await _require_account(request)
    await read_form(request)
    if not await pastebin(request).accounts.revoke_api_key(account.id, key_id):
        raise NotFoundError(f"you have no live API key {key_id!r}")
    return RedirectResponse(f"/account?revoked={quote(key_id, safe='')}", status_code=303)


async def _require_account(request: Request) -> Account:
    account = await current_account(request)
    if account is None:
        raise UnauthorizedError("sign in first")
    return account


def _require_signup(request: Request) -> None:
    if not pastebin(request).settings.signup:
        raise ForbiddenError("sign-up is closed on this server; ask an administrator for an account")


async def _account_page(
    request: Request,
    account: Account,
    *,
    flashes: list[tuple[str, str]] | None = None,
    new_key: tuple[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    pb = pastebin(request)
    context = {
        "pastes": await pb.pastes.list_mine(await viewer(request), limit=ACCOUNT_PASTES_SHOWN),
        "keys": await pb.accounts.list_api_keys(account.id),
        "new_key": new_key,
        "flashes": flashes or [],
    }
    headers = NO_STORE if new_key else {"Cache-Control": "private, no-cache"}
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
