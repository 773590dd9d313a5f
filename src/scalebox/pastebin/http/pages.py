"""The paste pages: a paste (behind its burn or password gate), owner deletion, removal links, reports,
and the highlighting stylesheet. Handlers translate forms to use cases; every rule lives in the service.

Registered last: its catch-all `/{paste_id}` must not shadow any fixed path.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import LimitExceededError
from scalebox.core.web.forms import form_text, local_path
from scalebox.pastebin import render
from scalebox.pastebin.domain import Paste, PasteFile, token_hash
from scalebox.pastebin.errors import PasswordRequiredError, PasteNotFoundError
from scalebox.pastebin.http.deps import base_url, pastebin, viewer
from scalebox.pastebin.http.routing import hot_route
from scalebox.pastebin.http.view import NO_STORE, pygments_stylesheet, read_form, render_page
from scalebox.pastebin.service import Opened, Viewer

router = APIRouter(include_in_schema=False)

PAGE_CACHE = {"Cache-Control": "private, no-cache"}  # pages carry this browser's CSRF token
_MARKDOWN_INLINE_CHARS_MAX = 32 * 1024  # larger Markdown renders in a worker thread


@dataclass(frozen=True, slots=True)
class FileView:
    """One file of a paste page: its metadata, its HTML, and whether that HTML is rendered Markdown."""

    file: PasteFile
    html: str
    markdown: bool
    rendered: bool
    ends_with_newline: bool  # the copy button trims the newline Pygments always ends with

    @property
    def number(self) -> int:
        return self.file.position + 1


# -- the highlighting stylesheet -------------------------------------------------------------------


@router.get("/static/pygments.css")
async def pygments_css() -> Response:
    css, _version = pygments_stylesheet()  # the URL carries the version, so it may be cached for a year
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=31536000"})


# -- removal links and reports ----------------------------------------------------------------------


@router.get("/remove/{token}")
async def confirm_removal(request: Request, token: str) -> HTMLResponse:
    await viewer(request)
    paste = await pastebin(request).pastes.get_by_removal_token(token)
    return render_page(request, "remove.html", {"paste": paste, "token": token}, headers=NO_STORE)


@router.post("/remove/{token}")
async def remove(request: Request, token: str) -> HTMLResponse:
    await viewer(request)
    await read_form(request)
    paste_id = await pastebin(request).pastes.remove_by_token(token)
    return render_page(request, "removed.html", {"paste_id": paste_id})


@router.get("/report/{paste_id}")
async def show_report_form(request: Request, paste_id: str) -> HTMLResponse:
    paste = await pastebin(request).pastes.get(paste_id, await viewer(request))
    return render_page(request, "report.html", {"paste": paste, "reason": "", "flashes": []})


@router.post("/report/{paste_id}")
async def report(request: Request, paste_id: str) -> HTMLResponse:
    who = await viewer(request)
    form = await read_form(request)
    pastes = pastebin(request).pastes
    reason = form_text(form, "reason")
    try:
        await pastes.report(paste_id, reason, who)
    except LimitExceededError as exc:
        context = {
            "paste": await pastes.get(paste_id, who),
            "reason": reason,
            "flashes": [("error", exc.detail)],
        }
        return render_page(request, "report.html", context, status_code=429)
    return render_page(request, "report_sent.html", {"paste_id": paste_id})


# -- a paste -----------------------------------------------------------------------------------------


@hot_route("/{paste_id:paste_id}")
async def show_paste(request: Request) -> HTMLResponse:
    paste_id: str = request.path_params["paste_id"]
    created, view = request.query_params.get("created"), request.query_params.get("view")
    who = await viewer(request)
    pastes = pastebin(request).pastes
    paste = await pastes.get(paste_id, who)
    removal = _removal_link(request, paste, created)
    headers = NO_STORE if removal else PAGE_CACHE
    if paste.burn_after_reading or paste.encrypted:
        return _gate(request, paste, who, removal=removal, headers=headers)
    # Anonymous readers of a plain view all get the same bytes: a micro-cache of a few seconds
    # (like a CDN's) spares the template. The checks above and the view count still run each time.
    shared = who.account_id is None and removal is None and view is None
    page_cache = pastebin(request).page_cache
    if shared and (body := await page_cache.get(paste.id)) is not None:
        await pastes.count_read(paste, who)
        return HTMLResponse(body, headers=headers)
    opened = await pastes.read(paste, who)
    response = await _paste_page(
        request, opened, who, removal=removal, rendered=view == "rendered", headers=headers
    )
    if shared:
        await page_cache.set(paste.id, bytes(response.body), pastebin(request).settings.page_cache_seconds)
    return response


@router.get("/{paste_id}", include_in_schema=False)
async def unknown_paste(paste_id: str) -> Response:
    """A single path segment that is no paste id (wrong length or characters): the paste 404 page."""
    raise PasteNotFoundError(f"no paste {paste_id!r}: it never existed, expired, or was removed")


@router.post("/{paste_id}/reveal")
@router.post("/{paste_id}/unlock")
async def reveal(request: Request, paste_id: str) -> Response:
    """Open a burn-after-reading or password-protected paste: the one read that shows its content."""
    who = await viewer(request)
    form = await read_form(request)
    pastes = pastebin(request).pastes
    paste = await pastes.get(paste_id, who)
    if not (paste.burn_after_reading or paste.encrypted):
        return RedirectResponse(f"/{paste.id}", status_code=303)
    password = form_text(form, "password") or None
    try:
        opened = await pastes.read(paste, who, password)
    except PasswordRequiredError:
        error = "That password is not right." if password else "Enter the paste's password."
        return _gate(request, paste, who, removal=None, error=error, headers=NO_STORE)
    return await _paste_page(request, opened, who, removal=None, rendered=False, headers=NO_STORE)


@router.post("/{paste_id}/delete")
async def delete(request: Request, paste_id: str) -> Response:
    who = await viewer(request)
    form = await read_form(request)
    await pastebin(request).pastes.delete(paste_id, who)
    target = local_path(form_text(form, "next"), default="")
    if target:
        separator = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{separator}deleted={quote(paste_id, safe='')}", status_code=303)
    return render_page(request, "removed.html", {"paste_id": paste_id})


def _removal_link(request: Request, paste: Paste, token: str | None) -> str | None:
    """The removal link, only for the creator's redirect: whoever holds the token made the paste."""
    if not token or len(token) > 64 or not hmac.compare_digest(token_hash(token), paste.removal_hash):
        return None
    return f"{base_url(request)}remove/{quote(token, safe='')}"


def _gate(
    request: Request,
    paste: Paste,
    who: Viewer,
    *,
    removal: str | None,
    headers: dict[str, str],
    error: str | None = None,
) -> HTMLResponse:
    context = {
        "paste": paste,
        "removal": removal,
        "can_delete": paste.can_delete(who.account_id, is_admin=who.is_admin),
        "flashes": [("error", error)] if error else [],
    }
    status = 403 if error else 200
    return render_page(request, "paste_gate.html", context, status_code=status, headers=headers)


async def _paste_page(
    request: Request,
    opened: Opened,
    who: Viewer,
    *,
    removal: str | None,
    rendered: bool,
    headers: dict[str, str],
) -> HTMLResponse:
    paste, pastes = opened.paste, pastebin(request).pastes
    files = []
    for file, text in zip(paste.files, opened.texts, strict=True):
        markdown = file.lexer in render.MARKDOWN_LEXERS
        if rendered and markdown:
            html = await _markdown_html(text)
        else:
            html = await pastes.highlighted(paste, file, text)
        files.append(FileView(file, html, markdown, rendered and markdown, text.endswith("\n")))
    context = {
        "paste": paste,
        "files": files,
        "gated": paste.burn_after_reading or paste.encrypted,
        "burned": opened.burned,
        "removal": removal,
        "can_delete": paste.can_delete(who.account_id, is_admin=who.is_admin),
        "rendered": rendered,
        "has_markdown": any(f.markdown for f in files),
    }
    return render_page(request, "paste.html", context, headers=headers)


async def _markdown_html(text: str) -> str:
    if len(text) <= _MARKDOWN_INLINE_CHARS_MAX:
        return render.render_markdown(text)
    return await asyncio.to_thread(render.render_markdown, text)
