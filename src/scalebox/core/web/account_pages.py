"""The account pages every system with sign-in serves: sign up, sign in and out, and the account page
with its API keys (create, list, revoke). A system builds an `AccountPages` with what differs (where a
new session lands, what else its account page shows) and mounts `router()`; the templates are core's
`login.html`, `signup.html` and `account.html`, which a system may extend or replace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.auth import Account, AccountBannedError, BadCredentialsError
from scalebox.core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
)
from scalebox.core.web.accounts import (
    accounts_wiring,
    client_ip,
    current_account,
    require_account,
    sign_in,
    sign_out,
)
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text, local_path, read_form
from scalebox.core.web.pages import Pages

NO_STORE = {"Cache-Control": "no-store"}  # the page showing a new key: never kept by any cache
PAGE_CACHE = {"Cache-Control": "private, no-cache"}  # pages carry this browser's CSRF token


def render_form_page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] = PAGE_CACHE,
) -> HTMLResponse:
    """A page of the app's `Pages` that may carry forms (so never shared by caches), with no flash
    messages unless the context brings some."""
    pages: Pages = request.app.state.pages
    return pages.render(request, name, {"flashes": [], **context}, status_code=status_code, headers=headers)


SIGN_INS_PER_MINUTE = 10  # each attempt costs an argon2 hash: bound guessing and CPU alike
NextQuery = Annotated[str, Query(alias="next", max_length=2000)]  # where to go after signing in
RevokedQuery = Annotated[str, Query(max_length=64)]  # the key id just revoked, for the flash

Flashes = list[tuple[str, str]]
AccountContext = Callable[[Request, Account], Awaitable[Mapping[str, Any]]]


async def check_sign_in_rate(request: Request) -> None:
    """Count one sign-in or sign-up attempt from the client's address; LimitExceededError when over."""
    wiring = accounts_wiring(request)
    key = f"{wiring.system}:sign-in:ip{client_ip(request)}"
    decision = await wiring.limiter.hit(key, SIGN_INS_PER_MINUTE, 60.0)
    if not decision.allowed:
        raise LimitExceededError(
            f"too many sign-in attempts; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )


async def _no_context(request: Request, account: Account) -> Mapping[str, Any]:
    return {}


def _no_flashes(request: Request) -> Flashes:
    return []


def _detail(exc: DomainError) -> str:
    return exc.detail


class AccountPages:
    """The account routes, with the hooks a system fills in.

    `after_sign_in` / `after_sign_up`: where a browser lands when the form had no local `next`.
    `account_context(request, account)`: what else the account page shows (a system's own list).
    `account_flashes(request)`: messages from query parameters other systems' pages redirect with.
    `refusal_message(exc)`: how a refused use case reads in a flash (the detail, or a sentence).
    `check_rate(request)`: counts one sign-in attempt; the default allows 10 a minute per address.
    """

    def __init__(
        self,
        *,
        after_sign_in: str = "/",
        after_sign_up: str = "/account",
        account_context: AccountContext = _no_context,
        account_flashes: Callable[[Request], Flashes] = _no_flashes,
        refusal_message: Callable[[DomainError], str] = _detail,
        check_rate: Callable[[Request], Awaitable[None]] = check_sign_in_rate,
    ) -> None:
        self.after_sign_in, self.after_sign_up = after_sign_in, after_sign_up
        self.account_context, self.account_flashes = account_context, account_flashes
        self.refusal_message, self.check_rate = refusal_message, check_rate

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)
        router.add_api_route("/signup", self.show_signup, methods=["GET"])
        router.add_api_route("/signup", self.signup, methods=["POST"])
        router.add_api_route("/login", self.show_login, methods=["GET"])
        router.add_api_route("/login", self.login, methods=["POST"])
        router.add_api_route("/logout", self.logout, methods=["POST"])
        router.add_api_route("/account", self.show_account, methods=["GET"])
        router.add_api_route("/account/keys", self.create_key, methods=["POST"])
        router.add_api_route("/account/keys/{key_id}/revoke", self.revoke_key, methods=["POST"])
        return router

    async def show_signup(self, request: Request, next_path: NextQuery = "") -> HTMLResponse:
        await current_account(request)
        _require_signup(request)
        return _form_page(request, "signup.html", "", local_path(next_path, self.after_sign_up))

    async def signup(self, request: Request) -> Response:
        await current_account(request)
        _require_signup(request)
        form = await read_form(request)
        username, password = form_text(form, "username").strip(), form_text(form, "password")
        next_path = local_path(form_text(form, "next"), self.after_sign_up)
        await self.check_rate(request)
        if password != form_text(form, "password_confirm"):
            error = "The two passwords do not match."
            return _form_page(request, "signup.html", username, next_path, error=error, status=422)
        try:
            account = await accounts_wiring(request).accounts.register(username, password)
        except (InvalidError, ConflictError) as exc:
            error, status = self.refusal_message(exc), status_for(exc)
            return _form_page(request, "signup.html", username, next_path, error=error, status=status)
        response = RedirectResponse(next_path, status_code=303)
        sign_in(request, response, account)
        return response

    async def show_login(self, request: Request, next_path: NextQuery = "") -> HTMLResponse:
        await current_account(request)
        return _form_page(request, "login.html", "", local_path(next_path, self.after_sign_in))

    async def login(self, request: Request) -> Response:
        await current_account(request)
        form = await read_form(request)
        username = form_text(form, "username").strip()
        next_path = local_path(form_text(form, "next"), self.after_sign_in)
        await self.check_rate(request)
        accounts = accounts_wiring(request).accounts
        try:
            account = await accounts.authenticate(username, form_text(form, "password"))
        except BadCredentialsError:
            error = "Wrong username or password."
            return _form_page(request, "login.html", username, next_path, error=error, status=401)
        except AccountBannedError:
            error = "This account is banned."
            return _form_page(request, "login.html", username, next_path, error=error, status=403)
        response = RedirectResponse(next_path, status_code=303)
        sign_in(request, response, account)
        return response

    async def logout(self, request: Request) -> Response:
        await read_form(request)
        response = RedirectResponse("/", status_code=303)
        sign_out(response)
        return response

    async def show_account(self, request: Request, revoked: RevokedQuery = "") -> Response:
        account = await current_account(request)
        if account is None:
            return RedirectResponse("/login?next=/account", status_code=303)
        flashes = self.account_flashes(request)
        if revoked:
            flashes.append(("ok", f"API key {revoked} was revoked; it no longer works."))
        return await self._account_page(request, account, flashes=flashes)

    async def create_key(self, request: Request) -> HTMLResponse:
        account = await require_account(request)
        form = await read_form(request)
        name = form_text(form, "name").strip() or "API key"
        try:
            key, plaintext = await accounts_wiring(request).accounts.issue_api_key(account.id, name)
        except (InvalidError, ForbiddenError, LimitExceededError) as exc:
            flashes = [("error", self.refusal_message(exc))]
            return await self._account_page(request, account, flashes=flashes, status=status_for(exc))
        return await self._account_page(request, account, new_key=(key.key_id, plaintext))

    async def revoke_key(self, request: Request, key_id: str) -> Response:
        account = await require_account(request)
        await read_form(request)
        if not await accounts_wiring(request).accounts.revoke_api_key(account.id, key_id):
            raise NotFoundError(f"you have no live API key {key_id!r}")
        return RedirectResponse(f"/account?revoked={quote(key_id, safe='')}", status_code=303)

    async def _account_page(
        self,
        request: Request,
        account: Account,
        *,
        flashes: Flashes | None = None,
        new_key: tuple[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        context = {
            **(await self.account_context(request, account)),
            "keys": await accounts_wiring(request).accounts.list_api_keys(account.id),
            "new_key": new_key,
            "flashes": flashes or [],
        }
        headers = NO_STORE if new_key else PAGE_CACHE
        return render_account_page(request, "account.html", context, status_code=status, headers=headers)


def render_account_page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] = PAGE_CACHE,
) -> HTMLResponse:
    """A page through the app's Pages, with the clock's `now` for the times it shows."""
    pages: Pages = request.app.state.pages
    merged = {"now": accounts_wiring(request).clock.now(), **context}
    return pages.render(request, name, merged, status_code=status_code, headers=headers)


def _require_signup(request: Request) -> None:
    if not accounts_wiring(request).signup_enabled:
        raise ForbiddenError("sign-up is closed on this server; ask an administrator for an account")


def _form_page(
    request: Request, name: str, username: str, next_path: str, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    context = {"username": username, "next": next_path, "flashes": [("error", error)] if error else []}
    return render_account_page(request, name, context, status_code=status)
