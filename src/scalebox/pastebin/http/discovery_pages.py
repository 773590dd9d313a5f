"""The discovery pages: recent, trending and search. Only listed pastes appear (the service filters)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from scalebox.pastebin.domain import Paste
from scalebox.pastebin.http.deps import pastebin, viewer
from scalebox.pastebin.http.view import render_page

router = APIRouter(include_in_schema=False)

QUERY_CHARS_MAX = 200


@dataclass(frozen=True, slots=True)
class Row:
    """One paste in a list, with the view count that list ranks by."""

    paste: Paste
    views: int


@router.get("/recent")
async def recent(request: Request) -> HTMLResponse:
    await viewer(request)
    pastes = await pastebin(request).pastes.list_recent()
    rows = [Row(paste, paste.view_count) for paste in pastes]
    context = {
        "heading": "Recent pastes",
        "intro": "The newest public pastes.",
        "rows": rows,
        "views_label": "Views",
        "empty": "No public pastes yet.",
    }
    return render_page(request, "list.html", context)


@router.get("/trending")
async def trending(request: Request) -> HTMLResponse:
    await viewer(request)
    ranked = await pastebin(request).pastes.list_trending()
    context = {
        "heading": "Trending",
        "intro": "Public pastes read most in the last hour.",
        "rows": [Row(paste, views) for paste, views in ranked],
        "views_label": "Views (1 h)",
        "empty": "Nothing has been read in the last hour.",
    }
    return render_page(request, "list.html", context)


@router.get("/search")
async def search(request: Request, q: str = "") -> HTMLResponse:
    await viewer(request)
    query = q.strip()[:QUERY_CHARS_MAX]
    pastes = await pastebin(request).pastes.search(query) if query else []
    context = {
        "query": query,
        "rows": [Row(paste, paste.view_count) for paste in pastes],
        "views_label": "Views",
        "empty": f"No public paste matches “{query}”." if query else "",
    }
    return render_page(request, "search.html", context)
