"""Who is asking, in the shortener's terms: the Actor the link service sees, and the API key as Shlink
clients send it (X-Api-Key first); the rest comes from `scalebox.core.web.accounts`."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request

from scalebox.core.web.accounts import base_url, client_ip, current_account, page_context, read_api_key
from scalebox.shortener.service.links import Actor

if TYPE_CHECKING:
    from scalebox.shortener.service.runtime import Shortener

__all__ = ["actor", "api_key_of", "base_url", "client_ip", "current_account", "page_context", "shortener"]


def shortener(request: Request) -> Shortener:
    return cast("Shortener", request.app.state.shortener)


def api_key_of(request: Request) -> str | None:
    """Shlink clients send X-Api-Key; Authorization: Bearer works too."""
    return read_api_key(request, first="x-api-key")


async def actor(request: Request) -> Actor:
    account = await current_account(request)
    if account is None:
        return Actor(ip=client_ip(request))
    return Actor(account.id, is_admin=account.is_admin, ip=client_ip(request))
