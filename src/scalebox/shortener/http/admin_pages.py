"""The administrators' blocklist page: blocked domains, blocking one (which disables every link to it
or its subdomains), and unblocking. Everyone else gets the 404 page: the page's existence is no secret,
but there is nothing here for them."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.auth import Account
from scalebox.core.errors import DomainError, NotFoundError
from scalebox.core.web.forms import form_text
from scalebox.shortener.http.deps import actor, current_account, shortener
from scalebox.shortener.http.pages import read_form, refusal, render_page

router = APIRouter(include_in_schema=False)


async def _require_admin(request: Request) -> Account | None:
    """The administrator, None when signed out (the caller sends them to sign in), else 404."""
    account = await current_account(request)
    if account is not None and not account.is_admin:
        raise NotFoundError("there is no such page")
    return account


@router.get("/admin/blocklist")
async def show_blocklist(request: Request, unblocked: str = "") -> Response:
    if await _require_admin(request) is None:
        return RedirectResponse("/login?next=/admin/blocklist", status_code=303)
    flashes = [("ok", f"{unblocked} is no longer blocked.")] if unblocked else []
    return await _blocklist_page(request, flashes=flashes)


@router.post("/admin/blocklist")
async def block(request: Request) -> HTMLResponse:
    if await _require_admin(request) is None:
        raise NotFoundError("there is no such page")
    form = await read_form(request)
    domain, reason = form_text(form, "domain").strip(), form_text(form, "reason").strip()
    links = shortener(request).links
    try:
        disabled = await links.block_domain(await actor(request), domain, reason)
    except DomainError as exc:
        refused = refusal(exc)
        return await _blocklist_page(
            request, flashes=refused.flashes, status=refused.status, domain=domain, reason=reason
        )
    noun = "link" if disabled == 1 else "links"
    message = f"Blocked {domain}: {disabled} {noun} to it got disabled."
    return await _blocklist_page(request, flashes=[("ok", message)])


@router.post("/admin/blocklist/remove")
async def unblock(request: Request) -> Response:
    if await _require_admin(request) is None:
        raise NotFoundError("there is no such page")
    form = await read_form(request)
    domain = form_text(form, "domain").strip()
    try:
        removed = await shortener(request).links.unblock_domain(await actor(request), domain)
    except DomainError as exc:
        refused = refusal(exc)
        return await _blocklist_page(request, flashes=refused.flashes, status=refused.status)
    if not removed:
        raise NotFoundError(f"{domain} is not on the blocklist")
    return RedirectResponse(f"/admin/blocklist?unblocked={quote(domain, safe='')}", status_code=303)


async def _blocklist_page(
    request: Request,
    *,
    flashes: list[tuple[str, str]] | None = None,
    status: int = 200,
    domain: str = "",
    reason: str = "",
) -> HTMLResponse:
    links = shortener(request).links
    context = {
        "blocked": await links.blocked_domains(),
        "from_file": sorted(links.blocklist.from_file - links.blocklist.stored),
        "flashes": flashes or [],
        "domain": domain,
        "reason": reason,
    }
    return render_page(request, "blocklist.html", context, status_code=status)
