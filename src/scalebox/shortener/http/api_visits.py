"""The Shlink API's visit statistics: visits by short URL, tag and domain, orphan visits, the tags
and domains they are grouped by, and Shlink's health check. Included by `api.router` under /rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from scalebox import __version__
from scalebox.shortener.domain import VisitKind
from scalebox.shortener.errors import TagConflictError, TagNotFoundError
from scalebox.shortener.http.deps import base_url, shortener
from scalebox.shortener.http.shlink_deps import (
    ApiActor,
    ShortCode,
    default_domain,
    find_link,
    is_default_domain,
)
from scalebox.shortener.http.shlink_problem import ShlinkError, ShlinkRoute
from scalebox.shortener.http.shlink_wire import (
    PAGE_NUMBER_MAX,
    TagRenaming,
    page_size,
    pagination,
    parse_moment,
    parse_ordering,
    render_summary,
    render_tag,
    render_visit,
)
from scalebox.shortener.ports import TagCount
from scalebox.shortener.service.analytics import VISITS_PAGE_MAX, VisitPage, VisitWindow
from scalebox.shortener.service.links import Actor

_HEALTH_JSON = "application/health+json"
_NO_REDIRECTS = {"baseUrlRedirect": None, "regular404Redirect": None, "invalidShortUrlRedirect": None}

router = APIRouter(route_class=ShlinkRoute)


# ---------------------------------------------------------------------------------------------
# Tags


@dataclass(frozen=True, slots=True)
class TagsAsked:
    page: int
    items_per_page: int
    search: str | None
    ordering: tuple[str, bool]


def tags_asked(
    page: Annotated[int, Query(ge=1, le=PAGE_NUMBER_MAX)] = 1,
    items_per_page: Annotated[int, Query(alias="itemsPerPage", description="-1: all")] = -1,
    search_term: Annotated[str | None, Query(alias="searchTerm", max_length=256)] = None,
    order_by: Annotated[str | None, Query(alias="orderBy", description="field-ASC or field-DESC")] = None,
) -> TagsAsked:
    ordering = parse_ordering(order_by, tuple(_TAG_KEYS)) or ("tag", False)
    return TagsAsked(page, items_per_page, search_term or None, ordering)


_TAG_KEYS: dict[str, Callable[[TagCount], Any]] = {
    "tag": lambda tag: tag.tag.lower(),
    "shortUrlsCount": lambda tag: tag.links,
    "visits": lambda tag: tag.visits,
    "nonBotVisits": lambda tag: tag.visits - tag.bot_visits,
}


async def _tag_page(request: Request, who: Actor, asked: TagsAsked) -> tuple[list[TagCount], dict[str, int]]:
    """The caller's tags filtered, ordered and paged in memory (a tag list is small)."""
    tags = await shortener(request).links.tags(who)
    if asked.search:
        tags = [tag for tag in tags if asked.search.lower() in tag.tag.lower()]
    field, descending = asked.ordering
    tags.sort(key=_TAG_KEYS[field], reverse=descending)
    size = asked.items_per_page if asked.items_per_page >= 1 else max(len(tags), 1)
    shown = tags[(asked.page - 1) * size : asked.page * size]
    return shown, pagination(asked.page, size, len(tags), len(shown))


Tags = Annotated[TagsAsked, Depends(tags_asked)]


@router.get("/v3/tags", tags=["Tags"], summary="List existing tags", operation_id="listTags")
async def list_tags(
    request: Request,
    who: ApiActor,
    asked: Tags,
    with_stats: Annotated[bool, Query(alias="withStats", deprecated=True)] = False,
) -> dict[str, Any]:
    """The names of the tags on your short URLs (`withStats=true` adds Shlink's old `stats` list)."""
    tags, paging = await _tag_page(request, who, asked)
    body: dict[str, Any] = {"data": [tag.tag for tag in tags], "pagination": paging}
    if with_stats:
        body["stats"] = [render_tag(tag) for tag in tags]
    return {"tags": body}


@router.get("/v3/tags/stats", tags=["Tags"], summary="Get tags with stats", operation_id="tagsWithStats")
async def tag_stats(request: Request, who: ApiActor, asked: Tags) -> dict[str, Any]:
    """Each tag with how many of your short URLs carry it and the visits they had."""
    tags, paging = await _tag_page(request, who, asked)
    return {"tags": {"data": [render_tag(tag) for tag in tags], "pagination": paging}}


@router.put("/v3/tags", status_code=204, tags=["Tags"], summary="Rename tag", operation_id="renameTag")
async def rename_tag(request: Request, body: TagRenaming, who: ApiActor) -> Response:
    """Rename a tag on every one of your short URLs that carries it."""
    try:
        await shortener(request).links.rename_tag(who, body.old_name, body.new_name)
    except TagNotFoundError as exc:
        raise ShlinkError(404, "tag-not-found", "Tag not found", exc.detail, tag=body.old_name) from exc
    except TagConflictError as exc:
        raise ShlinkError(
            409, "tag-conflict", "Tag conflict", exc.detail, oldName=body.old_name, newName=body.new_name
        ) from exc
    return Response(status_code=204)


@router.delete("/v3/tags", status_code=204, tags=["Tags"], summary="Delete tags", operation_id="deleteTags")
async def delete_tags(
    request: Request, who: ApiActor, tags: Annotated[list[str] | None, Query(alias="tags[]")] = None
) -> Response:
    """Take these tags off every one of your short URLs."""
    await shortener(request).links.delete_tags(who, tags or [])
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------
# Visits


@dataclass(frozen=True, slots=True)
class VisitsAsked:
    window: VisitWindow
    all_items: bool


def visits_asked(
    start_date: Annotated[str | None, Query(alias="startDate")] = None,
    end_date: Annotated[str | None, Query(alias="endDate")] = None,
    exclude_bots: Annotated[bool, Query(alias="excludeBots")] = False,
    page: Annotated[int, Query(ge=1, le=PAGE_NUMBER_MAX)] = 1,
    items_per_page: Annotated[int, Query(alias="itemsPerPage", description="-1: all")] = -1,
) -> VisitsAsked:
    """Shlink's visit filters; "all" (the default) is served up to the analytics page maximum."""
    window = VisitWindow(
        start=None if start_date is None else parse_moment(start_date, "startDate", naive_is_utc=True),
        end=None if end_date is None else parse_moment(end_date, "endDate", naive_is_utc=True),
        exclude_bots=exclude_bots,
        page=page,
        items_per_page=page_size(items_per_page, VISITS_PAGE_MAX, VISITS_PAGE_MAX),
    )
    return VisitsAsked(window, items_per_page < 1)


Visits = Annotated[VisitsAsked, Depends(visits_asked)]


def render_visits(request: Request, page: VisitPage, asked: VisitsAsked) -> dict[str, Any]:
    size = min(max(page.total, 1), page.items_per_page) if asked.all_items else page.items_per_page
    base = base_url(request)
    return {
        "visits": {
            "data": [render_visit(visit, base) for visit in page.visits],
            "pagination": pagination(page.page, size, page.total, len(page.visits)),
        }
    }


@router.get("/v3/visits", tags=["Visits"], summary="Get general visits stats", operation_id="getGlobalVisits")
async def visits_summary(request: Request, who: ApiActor) -> dict[str, Any]:
    """Visit counts of your short URLs and, for administrators, of orphan visits."""
    summary = await shortener(request).analytics.summary(who.scope)
    return {
        "visits": {
            "nonOrphanVisits": render_summary(summary.non_orphan.total, summary.non_orphan.bots),
            "orphanVisits": render_summary(summary.orphan.total, summary.orphan.bots),
        }
    }


@router.get(
    "/v3/short-urls/{shortCode}/visits",
    tags=["Visits"],
    summary="List visits for short URL",
    operation_id="getShortUrlVisits",
)
async def short_url_visits(
    request: Request,
    short_code: ShortCode,
    who: ApiActor,
    asked: Visits,
    domain: str | None = None,
) -> dict[str, Any]:
    link = await find_link(request, who, short_code, domain)
    page = await shortener(request).analytics.link_visits(who.scope, link.id, asked.window)
    return render_visits(request, page, asked)


@router.get(
    "/v3/tags/{tag}/visits", tags=["Visits"], summary="List visits for tag", operation_id="getTagVisits"
)
async def tag_visits(request: Request, tag: str, who: ApiActor, asked: Visits) -> dict[str, Any]:
    sb = shortener(request)
    if not any(known.tag.lower() == tag.lower() for known in await sb.links.tags(who)):
        raise TagNotFoundError(f'Tag with name "{tag}" could not be found')
    return render_visits(request, await sb.analytics.tag_visits(who.scope, tag, asked.window), asked)


@router.get(
    "/v3/domains/{domain}/visits",
    tags=["Visits"],
    summary="List visits for domain",
    operation_id="getDomainVisits",
)
async def domain_visits(request: Request, domain: str, who: ApiActor, asked: Visits) -> dict[str, Any]:
    """Visits to your short URLs on a domain: `DEFAULT` or the default domain, the only one."""
    if not is_default_domain(request, domain):
        raise ShlinkError(
            404,
            "domain-not-found",
            "Domain not found",
            f'Domain with authority "{domain}" could not be found',
            authority=domain,
        )
    page = await shortener(request).analytics.non_orphan_visits(who.scope, asked.window)
    return render_visits(request, page, asked)


@router.get(
    "/v3/visits/non-orphan",
    tags=["Visits"],
    summary="List non-orphan visits",
    operation_id="getNonOrphanVisits",
)
async def non_orphan_visits(request: Request, who: ApiActor, asked: Visits) -> dict[str, Any]:
    page = await shortener(request).analytics.non_orphan_visits(who.scope, asked.window)
    return render_visits(request, page, asked)


@router.get(
    "/v3/visits/orphan", tags=["Visits"], summary="List orphan visits", operation_id="getOrphanVisits"
)
async def orphan_visits(
    request: Request,
    who: ApiActor,
    asked: Visits,
    kind: Annotated[
        Literal["invalid_short_url", "base_url", "regular_404"] | None, Query(alias="type")
    ] = None,
) -> dict[str, Any]:
    """Visits to the base URL, unknown short codes and other 404s; they belong to no account, so
    only administrators see them (everyone else gets an empty list, as the summary's zeros say)."""
    if not who.is_admin:
        window = asked.window
        return render_visits(request, VisitPage([], 0, window.page, window.items_per_page), asked)
    orphan_kind: VisitKind | None = kind
    page = await shortener(request).analytics.orphan_visits(orphan_kind, asked.window)
    return render_visits(request, page, asked)


# ---------------------------------------------------------------------------------------------
# Domains and health


@router.get("/v3/domains", tags=["Domains"], summary="List configured domains", operation_id="listDomains")
async def list_domains(request: Request, _who: ApiActor) -> dict[str, Any]:
    """The single default domain (the public URL's authority); no not-found redirects are set."""
    return {
        "domains": {
            "data": [{"domain": default_domain(request), "isDefault": True, "redirects": _NO_REDIRECTS}],
            "defaultRedirects": _NO_REDIRECTS,
        }
    }


@router.get("/health", tags=["Monitoring"], summary="Check health", operation_id="health")
@router.get(
    "/v3/health", tags=["Monitoring"], summary="Check health (versioned path)", operation_id="healthV3"
)
async def health(request: Request) -> Response:
    """Whether the database answers, as application/health+json; no API key needed."""
    try:
        await shortener(request).links.counts()
    except Exception:  # a health check reports any failure of its dependency as "fail", never raises
        status, code = "fail", 503
    else:
        status, code = "pass", 200
    body = {
        "status": status,
        "version": __version__,
        # What this server is: its API documentation, and the API it speaks.
        "links": {"about": f"{base_url(request)}api/docs", "project": "https://shlink.io"},
    }
    return JSONResponse(body, status_code=code, media_type=_HEALTH_JSON)
