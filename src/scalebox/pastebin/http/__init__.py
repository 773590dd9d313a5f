"""The pastebin's HTTP edge: machine APIs (pinnwand, curl, haste, raw) and the web pages."""

from pathlib import Path

from fastapi import APIRouter

from scalebox.core.web import Pages
from scalebox.pastebin.http import api, pages
from scalebox.pastebin.http.deps import page_context

TEMPLATES = Path(__file__).parent.parent / "templates"
NAV = (("/", "New paste"), ("/recent", "Recent"), ("/trending", "Trending"), ("/search", "Search"))


def routers() -> list[APIRouter]:
    # pages last: its catch-all `/{paste_id}` must not shadow the API's fixed paths.
    return [api.router, pages.router]


def build_pages() -> Pages:
    return Pages(TEMPLATES, site_name="pastebin", nav=NAV, context_hooks=(page_context,))


__all__ = ["build_pages", "routers"]
