"""The machine APIs: pinnwand's /api/v1 and /curl, haste's /documents, raw and download, and stats.

Handlers translate HTTP to use cases and back; every rule lives in the service and the domain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, PlainTextResponse, Response

from scalebox.pastebin import render
from scalebox.pastebin.domain import (
    DEFAULT_EXPIRY,
    EXPIRIES,
    Draft,
    Paste,
    PasteRequest,
    Visibility,
    decode_text,
)
from scalebox.pastebin.errors import InvalidPasteError, PasteNotFoundError
from scalebox.pastebin.http.deps import base_url, pastebin, viewer
from scalebox.pastebin.http.routing import hot_route
from scalebox.pastebin.service import Created, Opened, Viewer

router = APIRouter()

ViewerDep = Annotated[Viewer, Depends(viewer)]
PasswordHeader = Annotated[str | None, Header(alias="X-Paste-Password")]
_CURL_OPTIONS = ("lexer", "expiry", "title", "burn", "password")


class FileIn(BaseModel):
    content: str = Field(max_length=16 * 1024 * 1024)
    lexer: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)


class PasteIn(BaseModel):
    """pinnwand v1's body, plus scalebox's optional fields."""

    expiry: str = DEFAULT_EXPIRY
    files: list[FileIn] = Field(min_length=1, max_length=20)
    title: str = Field(default="", max_length=200)
    visibility: Visibility = Visibility.UNLISTED
    burn_after_reading: bool = False
    password: str | None = Field(default=None, max_length=1024)


def _links(request: Request, created: Created) -> dict[str, str]:
    base = base_url(request)
    return {
        "link": f"{base}{created.paste.id}",
        "raw": f"{base}raw/{created.paste.id}",
        "removal": f"{base}remove/{created.removal_token}",
    }


@router.get("/api/v1/lexer", tags=["pinnwand v1"])
async def list_lexers() -> dict[str, str]:
    """Every lexer name the API accepts, with its display name."""
    return render.list_lexers()


@router.get("/api/v1/expiry", tags=["pinnwand v1"])
async def list_expiries() -> dict[str, str]:
    """Every expiry name the API accepts, with its duration."""
    return {name: "never" if life is None else str(life) for name, life in EXPIRIES.items()}


@router.post("/api/v1/paste", tags=["pinnwand v1"])
async def create_paste(request: Request, body: PasteIn, who: ViewerDep) -> dict[str, str]:
    """Create a (multi-file) paste; answers its link and its removal link."""
    paste_request = PasteRequest(
        files=tuple(Draft(f.content, f.lexer or None, f.name) for f in body.files),
        title=body.title,
        expiry=body.expiry,
        visibility=body.visibility,
        burn_after_reading=body.burn_after_reading,
        password=body.password or None,
        source="api",
    )
    created = await pastebin(request).pastes.create(paste_request, who)
    return _links(request, created)


@router.get("/api/v1/paste/{paste_id}", tags=["pinnwand v1"])
async def show_paste(
    request: Request, paste_id: str, who: ViewerDep, password: PasswordHeader = None
) -> Response:
    """A paste and its files as JSON (consumes a burn-after-reading paste)."""
    opened = await pastebin(request).pastes.open(paste_id, who, password)
    return JSONResponse(_paste_json(request, opened), headers=cache_headers(opened.paste))


@router.delete("/api/v1/paste/{paste_id}", status_code=204, tags=["pinnwand v1"])
async def delete_paste(request: Request, paste_id: str, who: ViewerDep) -> Response:
    """Delete your own paste (API key or session required)."""
    await pastebin(request).pastes.delete(paste_id, who)
    return Response(status_code=204)


@router.delete("/remove/{token}", status_code=204, tags=["pinnwand v1"])
async def remove_by_token(request: Request, token: str) -> Response:
    """Delete a paste with the secret removal link it was created with."""
    await pastebin(request).pastes.remove_by_token(token)
    return Response(status_code=204)


@router.post("/curl", tags=["curl"])
async def create_from_curl(request: Request, who: ViewerDep) -> PlainTextResponse:
    """`curl -F raw=@file host/curl` (form field `raw`, optional `lexer`, `expiry`), or a raw body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10) as form:
            raw = form.get("raw")
            text = decode_text(await raw.read()) if isinstance(raw, UploadFile) else str(raw or "")
            options = {key: str(form.get(key) or "") for key in _CURL_OPTIONS}
    else:
        body = await request.body()
        fields = _form_fields(body) if content_type.startswith("application/x-www-form-urlencoded") else {}
        if fields and fields.keys() <= {"raw", *_CURL_OPTIONS}:  # curl -d raw=... (and options)
            text, options = fields.get("raw", ""), {key: fields.get(key, "") for key in _CURL_OPTIONS}
        else:  # a raw body; `curl --data-binary @file` labels it urlencoded all the same
            text = decode_text(body)
            options = {key: request.query_params.get(key, "") for key in _CURL_OPTIONS}
    if not text.strip():
        raise InvalidPasteError(
            "nothing to paste: send the text in the form field `raw` or as the body", field="raw"
        )
    paste_request = PasteRequest(
        files=(Draft(text, options["lexer"] or None),),
        title=options["title"],
        expiry=options["expiry"] or DEFAULT_EXPIRY,
        burn_after_reading=options["burn"] in ("1", "true", "yes", "on"),
        password=options["password"] or None,
        source="curl",
    )
    created = await pastebin(request).pastes.create(paste_request, who)
    links = _links(request, created)
    return PlainTextResponse(
        f"Paste URL:   {links['link']}\nRaw URL:     {links['raw']}\nRemoval URL: {links['removal']}\n"
    )


@router.post("/documents", tags=["haste"])
async def create_document(request: Request, who: ViewerDep) -> dict[str, str]:
    """haste-server's create: the raw body becomes a paste; answers {"key": id}."""
    text = decode_text(await request.body())
    created = await pastebin(request).pastes.create(PasteRequest(files=(Draft(text),), source="haste"), who)
    return {"key": created.paste.id}


@router.get("/documents/{key}", tags=["haste"])
async def show_document(
    request: Request, key: str, who: ViewerDep, password: PasswordHeader = None
) -> Response:
    """haste-server's read: {"data": text, "key": id} (`X-Paste-Password` opens a protected paste)."""
    opened = await pastebin(request).pastes.open(key, who, password)
    return JSONResponse({"data": opened.texts[0], "key": key}, headers=cache_headers(opened.paste))


@hot_route("/raw/{paste_id:paste_id}", "/raw/{paste_id:paste_id}/{number:int}")
async def raw(request: Request) -> Response:
    """One file as text/plain (the first unless a 1-based number is given); `X-Paste-Password`
    opens a password-protected paste."""
    paste_id: str = request.path_params["paste_id"]
    number: int = request.path_params.get("number", 1)
    who = await viewer(request)
    password = request.headers.get("x-paste-password")
    opened = await pastebin(request).pastes.open(paste_id, who, password)
    text = _nth(opened, number)
    return PlainTextResponse(text, headers=cache_headers(opened.paste))


@router.get("/raw/{anything:path}", include_in_schema=False)
async def raw_not_found(anything: str) -> Response:
    """Anything under /raw/ that is not a paste id: the same 404 an unknown id gets."""
    raise PasteNotFoundError(f"no paste {anything.split('/', maxsplit=1)[0]!r}")


@router.get("/download/{paste_id}", tags=["raw"])
@router.get("/download/{paste_id}/{number}", tags=["raw"])
async def download(
    request: Request, paste_id: str, who: ViewerDep, number: int = 1, password: PasswordHeader = None
) -> Response:
    """One file as an attachment named after the file (or the paste id)."""
    opened = await pastebin(request).pastes.open(paste_id, who, password)
    text = _nth(opened, number)
    name = opened.paste.files[number - 1].name or f"{paste_id}-{number}.txt"
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:100] or "paste.txt"
    headers = {**cache_headers(opened.paste), "Content-Disposition": f'attachment; filename="{safe}"'}
    return PlainTextResponse(text, headers=headers)


@router.get("/api/stats", tags=["operations"])
async def stats(request: Request) -> dict[str, object]:
    """Live figures in the shape the console reads from every system: key, label, value, unit."""
    figures = await pastebin(request).upkeep.figures()
    return {
        "system": "pastebin",
        "figures": [
            {"key": "pastes", "label": "Pastes", "value": figures.pastes, "unit": ""},
            {"key": "reads_per_minute", "label": "Reads/min", "value": figures.reads_per_minute, "unit": ""},
            {
                "key": "cache_hit_ratio",
                "label": "Cache hit ratio",
                "value": figures.cache_hit_ratio,
                "unit": "ratio",
            },
        ],
    }


def _form_fields(body: bytes) -> dict[str, str]:
    """An urlencoded body's fields, or {} when it is not one (then it is taken as the text itself)."""
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=10
        )
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def _nth(opened: Opened, number: int) -> str:
    if not 1 <= number <= len(opened.texts):
        raise InvalidPasteError(f"this paste has {len(opened.texts)} file(s); there is no file {number}")
    return opened.texts[number - 1]


def _paste_json(request: Request, opened: Opened) -> dict[str, object]:
    paste, base = opened.paste, base_url(request)
    return {
        "id": paste.id,
        "title": paste.title,
        "visibility": paste.visibility.value,
        "created_at": paste.created_at.isoformat(),
        "expires_at": paste.expires_at.isoformat() if paste.expires_at else None,
        "burned": opened.burned,
        "files": [
            {
                "name": f.name,
                "lexer": f.lexer,
                "content": text,
                "raw": f"{base}raw/{paste.id}/{f.position + 1}",
            }
            for f, text in zip(paste.files, opened.texts, strict=True)
        ],
    }


def cache_headers(paste: Paste) -> dict[str, str]:
    """Shared caches may keep public and unlisted pastes briefly; never private, burn or sealed ones."""
    if paste.visibility is Visibility.PRIVATE or paste.burn_after_reading or paste.encrypted:
        return {"Cache-Control": "private, no-store"}
    return {"Cache-Control": f"public, max-age={int(timedelta(minutes=5).total_seconds())}"}
