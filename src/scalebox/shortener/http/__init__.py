"""The shortener's HTTP edge: the Shlink REST API v3, the web pages, and the redirect."""

from pathlib import Path

from fastapi import APIRouter

from scalebox.core.web import Pages
from scalebox.shortener.http import (
    account_pages,
    admin_pages,
    api,
    console_api,
    link_pages,
    list_pages,
    pages,
    qr_pages,
    redirect,
    stats_pages,
)
from scalebox.shortener.http.deps import page_context

TEMPLATES = Path(__file__).parent.parent / "templates"
NAV = (("/", "Shorten"), ("/links", "My links"), ("/stats", "Stats"))


def routers() -> list[APIRouter]:
    # Fixed paths before patterns (/links/export.csv before /links/{code}); the redirect's catch-all
    # `/{code}` goes last, so no page or API route is ever shadowed.
    return [
        api.router,
        console_api.router,
        pages.router,
        account_pages.router,
        list_pages.router,
        stats_pages.router,
        link_pages.router,
        admin_pages.router,
        qr_pages.router,
        redirect.router,
    ]


def build_pages() -> Pages:
    return Pages(
        TEMPLATES,
        site_name="shortener",
        nav=NAV,
        context_hooks=(page_context,),
        globals_=pages.template_globals(),
    )


__all__ = ["build_pages", "routers"]
