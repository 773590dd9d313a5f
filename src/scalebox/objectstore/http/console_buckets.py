"""The buckets list (create, delete when empty) and a bucket's page: its objects by folder ('/' as the
delimiter, a page at a time), uploads into the folder shown, and the versioning switch. Every call
goes through the ObjectService as the signed-in caller, so the S3 API's permissions apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import DomainError
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text, read_form
from scalebox.objectstore.domain import KEY_BYTES_MAX, Versioning
from scalebox.objectstore.http.console_session import (
    console,
    login_redirect,
    note_flashes,
    render_page,
    require_principal,
    signed_in,
)
from scalebox.objectstore.http.console_view import bucket_url
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import WriteRequest

router = APIRouter(include_in_schema=False)

PAGE_KEYS = 100  # objects and folders on one page of a bucket
UPLOAD_FILES_MAX = 100  # files in one upload form
UPLOAD_CHUNK_BYTES = 1024 * 1024  # read from the spooled upload and handed to the data plane
KeyQuery = Annotated[str, Query(max_length=KEY_BYTES_MAX)]
NoteQuery = Annotated[str, Query(max_length=40)]
Flashes = list[tuple[str, str]]


# -- the buckets list --------------------------------------------------------------------------------


@router.get("/")
async def buckets_page(request: Request, note: NoteQuery = "") -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    return await _buckets_page(request, principal, flashes=note_flashes(note))


@router.post("/buckets")
async def create_bucket(request: Request) -> Response:
    principal = await require_principal(request)
    form = await read_form(request)
    name = form_text(form, "name").strip()
    try:
        await console(request).service.create_bucket(principal, name)
    except DomainError as exc:
        return await _buckets_page(
            request, principal, flashes=[("error", exc.detail)], typed=name, status=status_for(exc)
        )
    return RedirectResponse(bucket_url(name, note="bucket-created"), status_code=303)


@router.post("/buckets/{bucket}/delete")
async def delete_bucket(request: Request, bucket: str) -> Response:
    principal = await require_principal(request)
    await read_form(request)
    try:
        await console(request).service.delete_bucket(principal, bucket)
    except DomainError as exc:
        return await _buckets_page(
            request, principal, flashes=[("error", exc.detail)], status=status_for(exc)
        )
    return RedirectResponse("/?note=bucket-deleted", status_code=303)


async def _buckets_page(
    request: Request, principal: Principal, *, flashes: Flashes, typed: str = "", status: int = 200
) -> HTMLResponse:
    service = console(request).service
    buckets = await service.list_buckets(principal)
    usage = {row.bucket: row for row in await service.usage_of(principal)}
    context = {"buckets": buckets, "usage": usage, "typed": typed, "flashes": flashes}
    return render_page(request, "objectstore/buckets.html", context, status_code=status)


# -- one bucket ----------------------------------------------------------------------------------------


@router.get("/buckets/{bucket}")
async def bucket_page(
    request: Request, bucket: str, prefix: KeyQuery = "", marker: KeyQuery = "", note: NoteQuery = ""
) -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    return await _bucket_page(request, principal, bucket, prefix, marker, flashes=note_flashes(note))


@router.post("/buckets/{bucket}/upload")
async def upload(request: Request, bucket: str) -> Response:
    """Store each posted file under the form's folder. Starlette spools a file past 1 MiB to disk
    while parsing, so the body is never held whole; each file then streams to the data plane."""
    principal = await require_principal(request)
    try:
        form = await read_form(request, files_max=UPLOAD_FILES_MAX)
        prefix = form_text(form, "prefix")
        files = [item for item in form.getlist("files") if isinstance(item, UploadFile) and item.filename]
        if not files:
            flashes = [("error", "Choose at least one file to upload.")]
            return await _bucket_page(request, principal, bucket, prefix, "", flashes=flashes, status=422)
        for done, file in enumerate(files):
            try:
                await _store_upload(request, principal, bucket, prefix + (file.filename or ""), file)
            except DomainError as exc:
                message = f"{file.filename} was not stored: {exc.detail}"
                if done:
                    message += f" ({done} earlier file{'s' if done > 1 else ''} stored.)"
                flashes = [("error", message)]
                return await _bucket_page(
                    request, principal, bucket, prefix, "", flashes=flashes, status=status_for(exc)
                )
    finally:
        await request.close()  # the spooled files
    return RedirectResponse(bucket_url(bucket, prefix, note="uploaded"), status_code=303)


async def _store_upload(
    request: Request, principal: Principal, bucket: str, key: str, file: UploadFile
) -> None:
    headers = {"content-type": file.content_type} if file.content_type else {}
    write = WriteRequest(headers=headers, size=file.size)
    await console(request).service.put_object(principal, bucket, key, _chunks(file), write)


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(UPLOAD_CHUNK_BYTES):
        yield chunk


@router.post("/buckets/{bucket}/versioning")
async def set_versioning(request: Request, bucket: str) -> Response:
    principal = await require_principal(request)
    form = await read_form(request)
    status = form_text(form, "status")
    await console(request).service.set_versioning(principal, bucket, status)
    note = "versioning-enabled" if status == Versioning.ENABLED else "versioning-suspended"
    return RedirectResponse(bucket_url(bucket, note=note), status_code=303)


async def _bucket_page(
    request: Request,
    principal: Principal,
    bucket: str,
    prefix: str,
    marker: str,
    *,
    flashes: Flashes,
    status: int = 200,
) -> HTMLResponse:
    service = console(request).service
    found = await service.head_bucket(principal, bucket)
    listing = await service.list_objects(
        principal, bucket, prefix=prefix, delimiter="/", marker=marker, max_keys=PAGE_KEYS
    )
    context = {
        "bucket": found,
        "prefix": prefix,
        "marker": marker,
        "listing": listing,
        "versioned": found.versioning != Versioning.UNVERSIONED,
        "versioning_on": found.versioning == Versioning.ENABLED,
        "flashes": flashes,
    }
    return render_page(request, "objectstore/bucket.html", context, status_code=status)
