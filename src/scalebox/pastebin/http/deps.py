"""Who is asking, in the pastebin's terms: the Viewer the service sees, built from core's account
resolution (session cookie or API key); the rest comes from `scalebox.core.web.accounts`."""

from __future__ import annotations

from fastapi import Request

from scalebox.core.web.accounts import base_url, client_ip, current_account, page_context
from scalebox.pastebin.service import Viewer

__all__ = ["base_url", "client_ip", "current_account", "page_context", "pastebin", "viewer"]


def pastebin(request: Request):  # type: ignore[no-untyped-def]  # -> app.Pastebin (app imports http)
    return request.app.state.pastebin


async def viewer(request: Request) -> Viewer:
    account = await current_account(request)
    if account is None:
        return Viewer(ip=client_ip(request))
    return Viewer(account.id, is_admin=account.is_admin, banned=account.is_banned, ip=client_ip(request))
