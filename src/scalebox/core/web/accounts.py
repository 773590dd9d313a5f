"""Who is asking, for every system with accounts: the account behind an API key or the session cookie,
the client address, the base URL links are built from, and signing a browser in and out.

A system stores an `AccountsWiring` as `app.state.accounts` (in its app.py lifespan, usually
`wire_accounts(name, runtime)`); these functions reach its AccountService, SessionCodec and settings
through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, cast

from starlette.requests import Request
from starlette.responses import Response

from scalebox.core.auth import Account, AccountService, Session, SessionCodec
from scalebox.core.clock import Clock
from scalebox.core.errors import UnauthorizedError
from scalebox.core.ratelimit import RateLimiter
from scalebox.core.web.csrf import LazyCsrfToken

SESSION_COOKIE = "sbx_session"
SESSION_COOKIE_SECONDS = 30 * 24 * 3600
KeyHeader = Literal["authorization", "x-api-key"]
_UNRESOLVED = object()


@dataclass(frozen=True, slots=True)
class AccountsWiring:
    """What the shared account code needs from a system, built once in its app.py.

    `system` names its rate-limit keys; `key_header_first` is the API key header that wins when a
    client sends both (Shlink clients send X-Api-Key, most others `Authorization: Bearer`).
    """

    system: str
    accounts: AccountService
    sessions: SessionCodec
    limiter: RateLimiter
    clock: Clock
    signup_enabled: bool
    secure_cookies: bool
    public_url: str = ""
    key_header_first: KeyHeader = "authorization"


class AccountSettings(Protocol):
    """The settings account handling reads; every system's settings have these fields."""

    @property
    def signup(self) -> bool: ...
    @property
    def secure_cookies(self) -> bool: ...
    @property
    def public_url(self) -> str: ...


class AccountsRuntime(Protocol):
    """A running system as account handling sees it (a system's Pastebin, Shortener, ... object)."""

    @property
    def accounts(self) -> AccountService: ...
    @property
    def sessions(self) -> SessionCodec: ...
    @property
    def limiter(self) -> RateLimiter: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def settings(self) -> AccountSettings: ...


def wire_accounts(
    system: str, runtime: AccountsRuntime, *, key_header_first: KeyHeader = "authorization"
) -> AccountsWiring:
    """The wiring for a running system whose services and settings use the usual names."""
    return AccountsWiring(
        system=system,
        accounts=runtime.accounts,
        sessions=runtime.sessions,
        limiter=runtime.limiter,
        clock=runtime.clock,
        signup_enabled=runtime.settings.signup,
        secure_cookies=runtime.settings.secure_cookies,
        public_url=runtime.settings.public_url,
        key_header_first=key_header_first,
    )


def accounts_wiring(request: Request) -> AccountsWiring:
    wiring = getattr(request.app.state, "accounts", None)
    assert isinstance(wiring, AccountsWiring), "the system's app.py stores an AccountsWiring in app.state"
    return wiring


def read_api_key(request: Request, *, first: KeyHeader = "authorization") -> str | None:
    """The API key from `Authorization: Bearer …` or `X-Api-Key`, the `first` header winning.

    With Authorization first, an empty X-Api-Key still counts as a (bad) key; with X-Api-Key first,
    an empty one is ignored, as Shlink does.
    """
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    x_api_key = request.headers.get("x-api-key")
    if first == "x-api-key":
        return x_api_key or bearer
    return bearer if bearer is not None else x_api_key


async def current_account(request: Request) -> Account | None:
    """The account behind an API key or the session cookie (resolved once per request)."""
    memoised = getattr(request.state, "account", _UNRESOLVED)
    if memoised is not _UNRESOLVED:
        return cast("Account | None", memoised)
    wiring = accounts_wiring(request)
    account = None
    key = read_api_key(request, first=wiring.key_header_first)
    if key is not None:
        account = await wiring.accounts.account_for_api_key(key)
        if account is None:  # a client that sent a key means to act as someone: never fall back to anonymous
            raise UnauthorizedError("the API key is malformed, unknown, revoked, or its account is banned")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = wiring.sessions.decode(cookie) if cookie else None
        if session is not None:  # account_for_session answers None for a banned account
            account = await wiring.accounts.account_for_session(session)
    request.state.account = account
    return account


async def require_account(request: Request) -> Account:
    """The signed-in account, else UnauthorizedError (a 401 page) for a form posted signed out."""
    account = await current_account(request)
    if account is None:
        raise UnauthorizedError("sign in first")
    return account


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def base_url(request: Request) -> str:
    """The configured public URL, else the one this request came in on; always ends with '/'."""
    url = accounts_wiring(request).public_url or str(request.base_url)
    return url if url.endswith("/") else url + "/"


def set_session_cookie(
    response: Response, name: str, token: str, *, max_age_seconds: int, secure: bool
) -> None:
    """The signed session cookie every sign-in sets: HttpOnly, SameSite=Lax, for the whole site."""
    response.set_cookie(
        name, token, max_age=max_age_seconds, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/")


def sign_in(request: Request, response: Response, account: Account) -> None:
    """Set the session cookie on `response`: this browser is now `account`."""
    wiring = accounts_wiring(request)
    token = wiring.sessions.encode(Session(account.id, wiring.clock.now()))
    set_session_cookie(
        response, SESSION_COOKIE, token, max_age_seconds=SESSION_COOKIE_SECONDS, secure=wiring.secure_cookies
    )


def sign_out(response: Response) -> None:
    clear_session_cookie(response, SESSION_COOKIE)


def page_context(request: Request) -> dict[str, object]:
    """Values every page template gets: the CSRF token, the signed-in account, whether sign-up is open."""
    return {
        "csrf_token": LazyCsrfToken(request),
        "account": getattr(request.state, "account", None),
        "signup_enabled": accounts_wiring(request).signup_enabled,
    }
