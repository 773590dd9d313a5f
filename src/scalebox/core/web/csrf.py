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
        browser_id = _cookie(scope, BROWSER_COOKIE)
        state = scope.setdefault("state", {})
        state["csrf_codec"] = self.codec
        if browser_id is not None and self.codec.is_browser_id(browser_id):
            state["browser_id"] = browser_id
            await self.app(scope, receive, send)
            return
        new_id = self.codec.new_browser_id(self.rng)
        state["browser_id"] = new_id

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if any(name == b"content-type" and value.startswith(b"text/html") for name, value in headers):
                    flags = "; Secure" if self.secure else ""
                    cookie = (
                        f"{BROWSER_COOKIE}={new_id}; Path=/; Max-Age={_COOKIE_MAX_AGE_SECONDS}; HttpOnly; "
                        f"SameSite=Lax{flags}"
                    )
                    headers.append((b"set-cookie", cookie.encode()))
                    message["headers"] = headers
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


def csrf_token(request: Request) -> str:
    """The token to embed in this browser's forms."""
    codec: CsrfCodec = request.state.csrf_codec
    return codec.token_for(request.state.browser_id)


def verify_csrf(request: Request, token: str | None) -> None:
    codec: CsrfCodec = request.state.csrf_codec
    if not codec.check(_cookie(request.scope, BROWSER_COOKIE), token):
        raise CsrfFailedError("the form has expired or came from another site; reload the page and try again")
