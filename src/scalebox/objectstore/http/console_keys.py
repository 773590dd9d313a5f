"""The access keys page: an administrator lists, creates (the secret shown once) and revokes keys; any
other key sees only itself. The KeyService decides who may do what."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import InvalidError
from scalebox.core.web.account_pages import NO_STORE, PAGE_CACHE
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text, read_form
from scalebox.objectstore.http.console_buckets import NoteQuery
from scalebox.objectstore.http.console_session import (
    console,
    login_redirect,
    note_flashes,
    render_page,
    require_principal,
    signed_in,
)
from scalebox.objectstore.service.keys import AccessKeyTakenError, IssuedAccessKey, Principal

router = APIRouter(include_in_schema=False)


@router.get("/keys")
async def keys_page(request: Request, note: NoteQuery = "") -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    return await _keys_page(request, principal, flashes=note_flashes(note))


@router.post("/keys")
async def create_key(request: Request) -> Response:
    principal = await require_principal(request)
    form = await read_form(request)
    name = form_text(form, "name")
    is_admin = form_text(form, "admin") == "on"
    try:
        issued = await console(request).keys.create_for(principal, name, is_admin=is_admin)
    except (InvalidError, AccessKeyTakenError) as exc:
        return await _keys_page(request, principal, flashes=[("error", exc.detail)], status=status_for(exc))
    return await _keys_page(request, principal, flashes=[], issued=issued)


@router.post("/keys/revoke")
async def revoke_key(request: Request) -> Response:
    principal = await require_principal(request)
    form = await read_form(request)
    await console(request).keys.revoke_for(principal, form_text(form, "access_key"))
    return RedirectResponse("/keys?note=key-revoked", status_code=303)


async def _keys_page(
    request: Request,
    principal: Principal,
    *,
    flashes: list[tuple[str, str]],
    issued: IssuedAccessKey | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = await console(request).keys.list_for(principal)
    context = {"rows": rows, "issued": issued, "me": principal, "flashes": flashes}
    headers = NO_STORE if issued else PAGE_CACHE  # the page showing a secret is never kept by a cache
    return render_page(request, "objectstore/keys.html", context, status_code=status, headers=headers)
