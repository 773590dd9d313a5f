"""Who is asking and from where: the account behind an API key or session cookie, the client address,
and the base URL short links are built from. Shared by the Shlink API and the pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request
from starlette.responses import Response

from scalebox.core.auth import Account, Session
from scalebox.core.errors import UnauthorizedError
from scalebox.core.web.csrf import LazyCsrfToken
from scalebox.shortener.service.links import Actor

if TYPE_CHECKING:
    from scalebox.shortener.service.runtime import Shortener

SESSION_COOKIE = "sbx_session"
_UNRESOLVED = object()


def shortener(request: Request) -> Shortener:
    return cast("Shortener", request.app.state.shortener)


def api_key_of(request: Request) -> str | None:
    """Shlink clients send X-Api-Key; Authorization: Bearer works too."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def current_account(request: Request) -> Account | None:
    """The account behind an API key or the session cookie (resolved once per request)."""
    memoised = getattr(request.state, "account", _UNRESOLVED)
    if memoised is not _UNRESOLVED:
        return cast("Account | None", memoised)
    sb = shortener(request)
    account = None
    key = api_key_of(request)
    if key is not None:
        account = await sb.accounts.account_for_api_key(key)
        if account is None:  # a client that sent a key means to act as someone: never fall back to anonymous
            raise UnauthorizedError("the API key is malformed, unknown, revoked, or its account is banned")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = sb.sessions.decode(cookie) if cookie else None
        if session is not None:
            account = await sb.accounts.account_for_session(session)
            if account is not None and account.is_banned:
                account = None
    request.state.account = account
    return account


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def actor(request: Request) -> Actor:
    account = await current_account(request)
    if account is None:
        return Actor(ip=client_ip(request))
    return Actor(account.id, is_admin=account.is_admin, ip=client_ip(request))


def base_url(request: Request) -> str:
    """The configured public URL, else the one this request came in on; always ends with '/'."""
    url = shortener(request).settings.public_url or str(request.base_url)
    return url if url.endswith("/") else url + "/"


def sign_in(request: Request, response: Response, account: Account) -> None:
    sb = shortener(request)
    token = sb.sessions.encode(Session(account.id, sb.clock.now()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=sb.settings.secure_cookies,
        path="/",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def page_context(request: Request) -> dict[str, object]:
    """Values every page template gets: the CSRF token, the signed-in account, whether sign-up is open."""
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "account", None),
        "signup_enabled": shortener(request).settings.signup,
    }
