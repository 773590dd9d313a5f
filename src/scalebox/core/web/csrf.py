"""CSRF protection for server-rendered forms: a random browser id in a cookie, and a signed token
derived from it in every form. A forged cross-site form cannot know the token."""

from __future__ import annotations

import random
from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scalebox.core.auth import CsrfCodec
from scalebox.core.errors import ForbiddenError

BROWSER_COOKIE = "sbx_bid"
CSRF_FIELD = "csrf_token"
_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600


class CsrfFailedError(ForbiddenError):
    """The form's CSRF token is missing or does not match this browser."""

    code = "csrf_failed"


class BrowserIdMiddleware:
    """Gives each browser an id cookie the first time it gets an HTML page."""

    def __init__(self, app: ASGIApp, *, rng: random.Random, codec: CsrfCodec, secure: bool) -> None:
        self.app, self.rng, self.codec, self.secure = app, rng, codec, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["csrf_codec"], state["csrf_rng"] = self.codec, self.rng
        browser_id = _cookie(scope, BROWSER_COOKIE)
        if browser_id is not None and self.codec.is_browser_id(browser_id):
            state["browser_id"] = browser_id
            await self.app(scope, receive, send)
            return

        # No id yet: one is minted only if a page asks for a CSRF token (csrf_token below), so API
        # calls and plain reads pay nothing, and the cookie goes out with the page that needs it.
        async def send_with_cookie(message: Message) -> None:
            new_id = state.get("new_browser_id")
            if message["type"] == "http.response.start" and new_id:
                flags = "; Secure" if self.secure else ""
                cookie = (
                    f"{BROWSER_COOKIE}={new_id}; Path=/; Max-Age={_COOKIE_MAX_AGE_SECONDS}; HttpOnly; "
                    f"SameSite=Lax{flags}"
                )
                message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return None
            morsel = jar.get(name)
            return morsel.value if morsel else None
    return None


class LazyCsrfToken:
    """A template value that mints the browser id and token only if a template prints it."""

    __slots__ = ("_request", "_token")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._token: str | None = None

    def __str__(self) -> str:
        if self._token is None:
            self._token = csrf_token(self._request)
        return self._token

    def __html__(self) -> str:  # a token is base64url and a dot: nothing to escape
        return str(self)


def csrf_token(request: Request) -> str:
    """The token to embed in this browser's forms."""
    codec: CsrfCodec = request.state.csrf_codec
    browser_id: str | None = getattr(request.state, "browser_id", None)
    if browser_id is None:
        browser_id = codec.new_browser_id(request.state.csrf_rng)
        request.state.browser_id = request.state.new_browser_id = browser_id
    return codec.token_for(browser_id)


def verify_csrf(request: Request, token: str | None) -> None:
    codec: CsrfCodec = request.state.csrf_codec
    if not codec.check(_cookie(request.scope, BROWSER_COOKIE), token):
        raise CsrfFailedError("the form has expired or came from another site; reload the page and try again")
