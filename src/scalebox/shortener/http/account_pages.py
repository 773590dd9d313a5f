"""The shortener's account pages: core's (sign up, sign in and out, API keys for Shlink clients),
landing on the user's links after sign-in, with refusals read as sentences."""

from __future__ import annotations

from scalebox.core.web.account_pages import AccountPages
from scalebox.core.web.accounts import require_account
from scalebox.shortener.http.pages import sentence

__all__ = ["require_account", "router"]

router = AccountPages(
    after_sign_in="/links", after_sign_up="/links", refusal_message=lambda exc: sentence(exc.detail)
).router()
