"""Routing for the hot read paths: paste ids as a path type, so those routes can be matched first.

A paste id is exactly domain.ID_LENGTH base62 characters. Matching `/{paste_id:paste_id}` and
`/raw/{paste_id:paste_id}` ahead of every other route saves the framework a scan of ~40 routes on
each read, and no fixed route can be shadowed: none is a single segment of that shape (a test
checks it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from scalebox.pastebin.domain import ID_LENGTH


class PasteIdConvertor(Convertor[str]):
    regex = f"[0-9A-Za-z]{{{ID_LENGTH}}}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("paste_id", PasteIdConvertor())

# Routes registered here go in front of every other router (see http.routers()).
hot_router = APIRouter()

Endpoint = Callable[[Request], Awaitable[Response]]


def hot_route(*paths: str) -> Callable[[Endpoint], Endpoint]:
    """Register a GET endpoint on the hot router as a plain Starlette route: no dependency
    injection or parameter validation per request (the endpoint reads `request.path_params`).
    These routes are documented in docs/pastebin.md rather than in the OpenAPI schema."""

    def register(endpoint: Endpoint) -> Endpoint:
        for path in paths:
            hot_router.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
        return endpoint

    return register
