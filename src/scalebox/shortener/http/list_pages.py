"""The owner's links page: search, tag filter, sort and pages; bulk create (one URL a line); CSV import
and export. Handlers translate forms and files; creating and checking links is the service's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from scalebox.core.auth import Account
from scalebox.core.errors import DomainError, LimitExceededError
from scalebox.core.web.forms import form_text
from scalebox.shortener import transfer
from scalebox.shortener.domain import Link
from scalebox.shortener.http.account_pages import require_account
from scalebox.shortener.http.deps import base_url, client_ip, current_account, shortener
from scalebox.shortener.http.pages import NO_STORE, read_form, refusal, render_page, sentence, split_tags
from scalebox.shortener.ports import LinkQuery, OrderField
from scalebox.shortener.service.links import Actor, LinkService, LinkSpec

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
EXPORT_PAGE_SIZE = 1000
Sort = Literal["newest", "oldest", "visits", "title", "code", "url"]
SORTS: dict[Sort, tuple[str, OrderField, bool]] = {
    "newest": ("Newest first", "dateCreated", True),
    "oldest": ("Oldest first", "dateCreated", False),
    "visits": ("Most visited", "visits", True),
    "title": ("Title A–Z", "title", False),
    "code": ("Short code A–Z", "shortCode", False),
    "url": ("Long URL A–Z", "longUrl", False),
}
assert set(SORTS) == set(get_args(Sort))


@dataclass(frozen=True, slots=True)
class Listing:
    """What the list shows: the search as asked, and the page of links it found."""

    search: str = ""
    tag: str = ""
    sort: Sort = "newest"
    page: int = 1
    links: Sequence[Link] = ()
    total: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    def url(self, **changes: Any) -> str:
        """This listing's address with `changes`, leaving out defaults (a clean, shareable URL)."""
        values = {"q": self.search, "tag": self.tag, "sort": self.sort, "page": self.page} | changes
        kept = {
            name: value
            for name, value in values.items()
            if value not in ("", None) and (name, value) not in (("sort", "newest"), ("page", 1))
        }
        return "/links" + (f"?{urlencode(kept)}" if kept else "")


@dataclass(frozen=True, slots=True)
class BulkLine:
    """One line of a bulk create or one row of an import: what was asked, and what became of it."""

    line: int
    text: str
    link: Link | None = None
    error: str | None = None


@dataclass
class Outcome:
    """A bulk create's or an import's report: the links made and every line that failed, in order."""

    kind: Literal["bulk", "import"]
    lines: list[BulkLine] = field(default_factory=list)
    stopped: str | None = None  # why the rest was not attempted (the rate limit)
    file_format: str | None = None

    @property
    def created(self) -> list[BulkLine]:
        return [line for line in self.lines if line.link is not None]

    @property
    def failed(self) -> list[BulkLine]:
        return [line for line in self.lines if line.error is not None]


def own(account: Account, request: Request) -> Actor:
    """The account acting on its own links only (an administrator's list is theirs, not everyone's)."""
    return Actor(account.id, is_admin=False, ip=client_ip(request))


@router.get("/links")
async def show_links(
    request: Request,
    *,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    sort: Sort = "newest",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    deleted: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    account = await current_account(request)
    if account is None:
        return RedirectResponse("/login?next=/links", status_code=303)
    listing = Listing(search=q.strip(), tag=tag.strip(), sort=sort, page=page)
    flashes = [("ok", f"Link {deleted} was deleted; its address answers 404 now.")] if deleted else []
    return await _links_page(request, account, listing, flashes=flashes)


@router.post("/links/bulk")
async def bulk_create(request: Request) -> HTMLResponse:
    account = await require_account(request)
    form = await read_form(request)
    tags = split_tags(form_text(form, "tags"))
    lines = [
        (number, text.strip())
        for number, text in enumerate(form_text(form, "urls").splitlines(), 1)
        if text.strip()
    ]
    if not lines:
        return await _links_page(
            request, account, Listing(), flashes=[("error", "Paste at least one URL.")], status=422
        )
    try:
        results = await shortener(request).links.create_many(
            own(account, request), [LinkSpec(long_url=text, tags=tags) for _, text in lines]
        )
    except DomainError as exc:  # too many lines, or over the rate limit: nothing was created
        refused = refusal(exc)
        return await _links_page(request, account, Listing(), flashes=refused.flashes, status=refused.status)
    outcome = Outcome("bulk")
    for (number, text), result in zip(lines, results, strict=True):
        if isinstance(result, DomainError):
            outcome.lines.append(BulkLine(number, text, error=sentence(result.detail)))
        else:
            outcome.lines.append(BulkLine(number, text, link=result))
    return await _links_page(request, account, Listing(), outcome=outcome, headers=NO_STORE)


@router.post("/links/import")
async def import_links(request: Request) -> HTMLResponse:
    account = await require_account(request)
    form = await read_form(request, max_files=1)
    upload = form.get("file")
    try:
        # Bounded by the edge middleware's body limit; an empty file input posts a nameless part.
        data = await upload.read() if isinstance(upload, UploadFile) and upload.filename else None
    finally:
        await form.close()
    if data is None:
        return await _links_page(
            request, account, Listing(), flashes=[("error", "Choose a CSV file to import.")], status=422
        )
    sb = shortener(request)
    try:
        parsed = transfer.parse_import(data, rows_max=sb.settings.import_rows_max)
    except DomainError as exc:
        refused = refusal(exc)
        return await _links_page(request, account, Listing(), flashes=refused.flashes, status=refused.status)
    outcome = Outcome("import", file_format=parsed.format)
    outcome.lines.extend(BulkLine(row.line, "", error=sentence(row.message)) for row in parsed.errors)
    await _create_rows(sb.links, own(account, request), parsed.rows, outcome)
    outcome.lines.sort(key=lambda line: line.line)
    return await _links_page(request, account, Listing(), outcome=outcome, headers=NO_STORE)


async def _create_rows(
    links: LinkService, who: Actor, rows: Sequence[transfer.ImportRow], outcome: Outcome
) -> None:
    """Create the imported rows; a refused import (rate limit) creates nothing and says so."""
    try:
        results = await links.import_links(who, [_spec(row) for row in rows])
    except LimitExceededError as exc:
        outcome.stopped = sentence(f"import refused: {exc.detail}; try again later")
        return
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, DomainError):
            outcome.lines.append(BulkLine(row.line, row.long_url, error=sentence(result.detail)))
        else:
            outcome.lines.append(BulkLine(row.line, row.long_url, link=result))


def _spec(row: transfer.ImportRow) -> LinkSpec:
    return LinkSpec(
        long_url=row.long_url,
        custom_slug=row.slug,
        title=row.title,
        tags=row.tags,
        valid_since=row.valid_since,
        valid_until=row.valid_until,
        max_visits=row.max_visits,
        redirect_type=row.redirect_type or 302,
        created_at=row.created_at,
    )


@router.get("/links/export.csv")
async def export_links(request: Request) -> Response:
    account = await require_account(request)
    links: list[Link] = []
    query = LinkQuery(owner_id=account.id, order_by="dateCreated", descending=False, limit=EXPORT_PAGE_SIZE)
    who = own(account, request)
    while True:
        batch, total = await shortener(request).links.page(who, query)
        links.extend(batch)
        if not batch or len(links) >= total:
            break
        query = LinkQuery(**{**_query_fields(query), "offset": query.offset + EXPORT_PAGE_SIZE})
    return StreamingResponse(
        transfer.export_csv(links, base_url(request)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="links.csv"', **NO_STORE},
    )


def _query_fields(query: LinkQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in LinkQuery.__dataclass_fields__}


async def _links_page(
    request: Request,
    account: Account,
    listing: Listing,
    *,
    outcome: Outcome | None = None,
    flashes: list[tuple[str, str]] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    sb = shortener(request)
    who = own(account, request)
    _, order_by, descending = SORTS[listing.sort]
    query = LinkQuery(
        owner_id=account.id,
        search=listing.search or None,
        tags=(listing.tag,) if listing.tag else (),
        order_by=order_by,
        descending=descending,
        limit=PAGE_SIZE,
        offset=(listing.page - 1) * PAGE_SIZE,
    )
    links, total = await sb.links.page(who, query)
    listing = Listing(listing.search, listing.tag, listing.sort, listing.page, links, total)
    context = {
        "listing": listing,
        "sorts": {name: label for name, (label, _, _) in SORTS.items()},
        "tags": await sb.links.tags(who),
        "base": base_url(request),
        "outcome": outcome,
        "flashes": flashes or [],
        "bulk_links_max": sb.settings.bulk_links_max,
    }
    return render_page(request, "links.html", context, status_code=status, headers=headers)
