"""Who is asking and from where: the signed-in account (session cookie or API key), the client address,
and the base URL links are built from. Shared by the API and the pages."""

from __future__ import annotations

from typing import cast

from fastapi import Request
from starlette.responses import Response

from scalebox.core.auth import Account, Session
from scalebox.core.errors import UnauthorizedError
from scalebox.core.web.csrf import LazyCsrfToken
from scalebox.pastebin.service import Viewer

SESSION_COOKIE = "sbx_session"
_UNRESOLVED = object()


def pastebin(request: Request):  # type: ignore[no-untyped-def]  # -> app.Pastebin (app imports http)
    return request.app.state.pastebin


async def current_account(request: Request) -> Account | None:
    """The account behind an API key (Authorization: Bearer / X-Api-Key) or the session cookie."""
    memoised = getattr(request.state, "account", _UNRESOLVED)  # resolved once per request
    if memoised is not _UNRESOLVED:
        return cast("Account | None", memoised)
    pb = pastebin(request)
    account = None
    key = _api_key(request)
    if key is not None:
        account = await pb.accounts.account_for_api_key(key)
        if account is None:  # a client that sent a key means to act as someone: never fall back to anonymous
            raise UnauthorizedError("the API key is malformed, unknown, revoked, or its account is banned")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = pb.sessions.decode(cookie) if cookie else None
        if session is not None:
            account = await pb.accounts.account_for_session(session)
    request.state.account = account
    return account


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def viewer(request: Request) -> Viewer:
    account = await current_account(request)
    if account is None:
        return Viewer(ip=client_ip(request))
    return Viewer(account.id, is_admin=account.is_admin, banned=account.is_banned, ip=client_ip(request))


def base_url(request: Request) -> str:
    """The configured public URL, else the one this request came in on; always ends with '/'."""
    configured: str = pastebin(request).settings.public_url
    url = configured or str(request.base_url)
    return url if url.endswith("/") else url + "/"


def sign_in(request: Request, response: Response, account: Account) -> None:
    pb = pastebin(request)
    token = pb.sessions.encode(Session(account.id, pb.clock.now()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=30 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=pb.settings.secure_cookies,
        path="/",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def page_context(request: Request) -> dict[str, object]:
    """Values every page template gets: the CSRF token, the signed-in account, whether sign-up is open."""
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "account", None),
        "signup_enabled": pastebin(request).settings.signup,
    }
