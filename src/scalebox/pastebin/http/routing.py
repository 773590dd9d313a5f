"""Routing for the hot read paths: paste ids as a path type, so those routes can be matched first.

A paste id is exactly domain.ID_LENGTH base62 characters. Matching `/{paste_id:paste_id}` and
`/raw/{paste_id:paste_id}` ahead of every other route saves the framework a scan of ~40 routes on
each read, and no fixed route can be shadowed: none is a single segment of that shape (a test
checks it).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor

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
