"""The pastebin's HTTP edge: machine APIs (pinnwand, curl, haste, raw) and the web pages."""

from pathlib import Path

from fastapi import APIRouter

from scalebox.core.web import Pages
from scalebox.pastebin.http import (
    account_pages,
    api,
    discovery_pages,
    editor_pages,
    moderation_pages,
    pages,
)
from scalebox.pastebin.http.deps import page_context
from scalebox.pastebin.http.routing import hot_router
from scalebox.pastebin.http.view import template_globals

TEMPLATES = Path(__file__).parent.parent / "templates"
NAV = (("/", "New paste"), ("/recent", "Recent"), ("/trending", "Trending"), ("/search", "Search"))


def routers() -> list[APIRouter]:
    # The hot read routes first (see http/routing.py), then the rest; pages.router holds the
    # `/{paste_id}/...` actions, so it goes last.
    return [
        hot_router,
        api.router,
        editor_pages.router,
        account_pages.router,
        moderation_pages.router,
        discovery_pages.router,
        pages.router,
    ]


def build_pages() -> Pages:
    return Pages(
        TEMPLATES, site_name="pastebin", nav=NAV, context_hooks=(page_context,), globals_=template_globals()
    )


__all__ = ["build_pages", "routers"]
