"""The pastebin's account pages: core's (sign up, sign in and out, API keys) with the account's own
pastes on the account page, and the pastebin's wording for refusals and sign-in limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from scalebox.core.auth import Account
from scalebox.core.web.account_pages import AccountPages
from scalebox.pastebin.http.deps import client_ip, pastebin, viewer
from scalebox.pastebin.service import Viewer
from scalebox.pastebin.service.limits import check_rate

ACCOUNT_PASTES_SHOWN = 100


async def _my_pastes(request: Request, account: Account) -> Mapping[str, Any]:
    pastes = await pastebin(request).pastes.list_mine(await viewer(request), limit=ACCOUNT_PASTES_SHOWN)
    return {"pastes": pastes}


def _deleted_flash(request: Request) -> list[tuple[str, str]]:
    # The delete form on the account page comes back here with ?deleted=<paste id>.
    deleted = request.query_params.get("deleted", "")
    return [("ok", f"Paste {deleted} was deleted.")] if deleted else []


async def _check_sign_in_rate(request: Request) -> None:
    pb = pastebin(request)
    await check_rate(pb.limiter, pb.pastes.limits, "sign-in", Viewer(ip=client_ip(request)))


router = AccountPages(
    after_sign_in="/",
    after_sign_up="/account",
    account_context=_my_pastes,
    account_flashes=_deleted_flash,
    check_rate=_check_sign_in_rate,
).router()
