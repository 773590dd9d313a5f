"""One object: its details page (size, ETag, type, metadata, tags, checksum, and its versions in a
versioned bucket), downloads (the current version or any other), deletion, and a presigned S3 link
valid for an hour. Keys travel in the query string, URL-encoded, so any key works."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from scalebox.core.web.account_pages import NO_STORE, PAGE_CACHE
from scalebox.core.web.forms import form_text, read_form
from scalebox.objectstore.domain import ObjectVersion, Versioning
from scalebox.objectstore.errors import NoSuchKeyError
from scalebox.objectstore.http.console_buckets import KeyQuery, NoteQuery
from scalebox.objectstore.http.console_session import (
    console,
    login_redirect,
    note_flashes,
    render_page,
    require_principal,
    signed_in,
)
from scalebox.objectstore.http.console_view import attachment_header, bucket_url, object_url, parent_prefix
from scalebox.objectstore.protocol.sigv4 import presign_query
from scalebox.objectstore.service.keys import Principal

router = APIRouter(include_in_schema=False)

VERSIONS_SHOWN = 100
PRESIGNED_SECONDS = 3600


@router.get("/buckets/{bucket}/download")
async def download(request: Request, bucket: str, key: KeyQuery, version: KeyQuery = "") -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    service = console(request).service
    found = await service.get_object(principal, bucket, key, version or None)
    headers = {
        "Content-Disposition": attachment_header(key),
        "Content-Length": str(found.size),
        "ETag": found.etag,
        "Cache-Control": "private, no-store",
    }
    # Always bytes to save, never a type the browser would render on the console's own origin.
    return StreamingResponse(service.read(found), media_type="application/octet-stream", headers=headers)


@router.get("/buckets/{bucket}/object")
async def object_page(
    request: Request, bucket: str, key: KeyQuery, version: KeyQuery = "", note: NoteQuery = ""
) -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    return await _object_page(request, principal, bucket, key, version, flashes=note_flashes(note))


@router.post("/buckets/{bucket}/object/presign")
async def presign(request: Request, bucket: str) -> Response:
    """The details page again, with a GET link for the S3 API signed by the caller's own key."""
    principal = await require_principal(request)
    form = await read_form(request)
    key, version = form_text(form, "key"), form_text(form, "version")
    wiring = console(request)
    found = await wiring.service.get_object(
        principal, bucket, key, version or None
    )  # may the caller read it?
    credentials = await wiring.keys.lookup(principal.access_key)
    assert credentials is not None, "signed_in checked the key is active"
    host = request.url.hostname or wiring.settings.host
    host = f"[{host}]:{wiring.settings.port}" if ":" in host else f"{host}:{wiring.settings.port}"
    path = f"/{quote(bucket, safe='')}/{quote(key, safe='/')}"
    query = presign_query(
        "GET",
        path,
        host,
        access_key=principal.access_key,
        secret=credentials[1],
        region=wiring.settings.region,
        now=wiring.clock.now(),
        expires_seconds=PRESIGNED_SECONDS,
        query_pairs=[("versionId", found.version_id)] if version else (),
    )
    url = f"{request.url.scheme}://{host}{path}?{query}"
    return await _object_page(request, principal, bucket, key, version, flashes=[], presigned=url)


@router.post("/buckets/{bucket}/object/delete")
async def delete_object(request: Request, bucket: str) -> Response:
    """Delete the key (a delete marker in a versioned bucket) or, given a version, that version."""
    principal = await require_principal(request)
    form = await read_form(request)
    key, version = form_text(form, "key"), form_text(form, "version")
    await console(request).service.delete_object(principal, bucket, key, version or None)
    note = "version-deleted" if version else "object-deleted"
    return RedirectResponse(bucket_url(bucket, parent_prefix(key), note=note), status_code=303)


async def _object_page(
    request: Request,
    principal: Principal,
    bucket: str,
    key: str,
    version: str,
    *,
    flashes: list[tuple[str, str]],
    presigned: str = "",
) -> HTMLResponse:
    service = console(request).service
    found_bucket = await service.head_bucket(principal, bucket)
    shown: ObjectVersion | None = None
    deleted_by: str | None = None
    try:
        shown = await service.get_object(principal, bucket, key, version or None)
    except NoSuchKeyError as exc:
        deleted_by = exc.extra.get("delete_marker")
        if not deleted_by:
            raise  # never existed (or every version is gone)
    versions: tuple[ObjectVersion, ...] = ()
    more = False
    if found_bucket.versioning != Versioning.UNVERSIONED:
        page = await service.list_versions(principal, bucket, prefix=key, max_keys=VERSIONS_SHOWN)
        versions = tuple(row for row in page.versions if row.key == key)
        more = page.is_truncated and len(versions) == len(page.versions)
    context = {
        "bucket": found_bucket,
        "key": key,
        "shown": shown,
        "deleted_by": deleted_by,
        "versions": versions,
        "more_versions": more,
        "presigned": presigned,
        "presigned_minutes": PRESIGNED_SECONDS // 60,
        "self_url": object_url(bucket, key, version),
        "flashes": flashes,
    }
    return render_page(
        request, "objectstore/object.html", context, headers=NO_STORE if presigned else PAGE_CACHE
    )
