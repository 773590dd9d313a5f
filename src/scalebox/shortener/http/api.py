"""The Shlink REST API v3 (/rest/v3) and Shlink's health check (/rest/health): short URLs, redirect
rules, tags, visits and domains in Shlink's JSON shapes, status codes and problem types, so clients
written for Shlink work unmodified. Handlers translate; every rule lives in the services and domain.
This module assembles `router` and serves short URLs and their redirect rules; `api_visits` serves
the rest, and the `shlink_*` modules hold the problems, dependencies and wire shapes they share.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from scalebox.core.errors import DomainError
from scalebox.shortener.errors import InvalidUrlError
from scalebox.shortener.http import api_visits
from scalebox.shortener.http.deps import base_url, shortener
from scalebox.shortener.http.shlink_deps import (
    ApiActor,
    ShortCode,
    default_domain,
    find_link,
    is_default_domain,
    query_actor,
)
from scalebox.shortener.http.shlink_problem import ShlinkError, ShlinkRoute, invalid_data, problem_for
from scalebox.shortener.http.shlink_wire import (
    PAGE_NUMBER_MAX,
    RedirectRulesSet,
    ShortUrlCreate,
    ShortUrlEdit,
    changes_of,
    page_size,
    pagination,
    parse_moment,
    parse_ordering,
    render_rules,
    render_short_url,
    spec_of,
)
from scalebox.shortener.ports import LinkQuery, OrderField
from scalebox.shortener.service.links import LinkSpec

# LinkService.page's bound: Shlink's "all items" (itemsPerPage below 1) is served up to this many.
SHORT_URLS_PAGE_MAX = 1000
SHORT_CODE_LENGTH_MIN = 4  # Shlink's lower bound for shortCodeLength; ours are always 7 characters
_ORDERS: tuple[OrderField, ...] = ("dateCreated", "shortCode", "longUrl", "title", "visits", "nonBotVisits")

router = APIRouter(prefix="/rest", route_class=ShlinkRoute)


# ---------------------------------------------------------------------------------------------
# Short URLs


@router.get("/v3/short-urls", tags=["Short URLs"], summary="List short URLs", operation_id="listShortUrls")
async def list_short_urls(
    request: Request,
    who: ApiActor,
    *,
    page: Annotated[int, Query(ge=1, le=PAGE_NUMBER_MAX)] = 1,
    items_per_page: Annotated[int, Query(alias="itemsPerPage", description="-1: all")] = 10,
    search_term: Annotated[str | None, Query(alias="searchTerm", max_length=256)] = None,
    tags: Annotated[list[str] | None, Query(alias="tags[]")] = None,
    tags_mode: Annotated[Literal["any", "all"], Query(alias="tagsMode")] = "any",
    order_by: Annotated[str | None, Query(alias="orderBy", description="field-ASC or field-DESC")] = None,
    start_date: Annotated[str | None, Query(alias="startDate")] = None,
    end_date: Annotated[str | None, Query(alias="endDate")] = None,
    exclude_max_visits_reached: Annotated[bool, Query(alias="excludeMaxVisitsReached")] = False,
    exclude_past_valid_until: Annotated[bool, Query(alias="excludePastValidUntil")] = False,
) -> dict[str, Any]:
    """A page of your short URLs, newest first unless ordered otherwise."""
    ordering = parse_ordering(order_by, _ORDERS) or ("dateCreated", True)
    size = page_size(items_per_page, SHORT_URLS_PAGE_MAX, SHORT_URLS_PAGE_MAX)
    query = LinkQuery(
        owner_id=who.scope,
        search=search_term or None,
        tags=tuple(tags or ()),
        tags_mode=tags_mode,
        start=None if start_date is None else parse_moment(start_date, "startDate", naive_is_utc=True),
        end=None if end_date is None else parse_moment(end_date, "endDate", naive_is_utc=True),
        exclude_max_visits_reached=exclude_max_visits_reached,
        exclude_past_valid_until=exclude_past_valid_until,
        order_by=ordering[0],  # type: ignore[arg-type]  # one of _ORDERS, checked by parse_ordering
        descending=ordering[1],
        limit=size,
        offset=(page - 1) * size,
    )
    links, total = await shortener(request).links.page(who, query)
    base = base_url(request)
    reported = page_size(items_per_page, SHORT_URLS_PAGE_MAX, total)
    return {
        "shortUrls": {
            "data": [render_short_url(link, base) for link in links],
            "pagination": pagination(page, reported, total, len(links)),
        }
    }


@router.post("/v3/short-urls", tags=["Short URLs"], summary="Create short URL", operation_id="createShortUrl")
async def create_short_url(request: Request, body: ShortUrlCreate, who: ApiActor) -> dict[str, Any]:
    """Shorten a long URL; `findIfExists` returns your existing short URL for it instead."""
    _check_create_options(request, body)
    link, _ = await shortener(request).links.create(who, spec_of(body))
    return render_short_url(link, base_url(request))


def _check_create_options(request: Request, body: ShortUrlCreate) -> None:
    if not is_default_domain(request, body.domain):
        raise invalid_data(
            "domain", detail=f"short URLs live on {default_domain(request)} only; leave domain out"
        )
    if body.short_code_length is not None and body.short_code_length < SHORT_CODE_LENGTH_MIN:
        raise invalid_data("shortCodeLength", detail="shortCodeLength is at least 4")


@router.get(
    "/v3/short-urls/shorten",
    tags=["Short URLs"],
    summary="Create a short URL in one call",
    operation_id="shortenUrl",
)
async def shorten(
    request: Request,
    long_url: Annotated[str, Query(alias="longUrl")],
    api_key: Annotated[str | None, Query(alias="apiKey")] = None,
    output: Annotated[Literal["json", "txt"] | None, Query(alias="format")] = None,
) -> Response:
    """For integrations that can only GET: the API key and long URL are query parameters; answers the
    short URL as JSON, or as plain text with `format=txt` (or `Accept: text/plain`)."""
    as_text = output == "txt" or (output is None and "text/plain" in request.headers.get("accept", ""))
    try:
        who = await query_actor(request, api_key)
        link, _ = await shortener(request).links.create(who, LinkSpec(long_url, find_if_exists=False))
    except (ShlinkError, DomainError) as exc:
        if not as_text:
            raise
        problem = exc if isinstance(exc, ShlinkError) else problem_for(exc, request)
        return PlainTextResponse(problem.type, status_code=problem.status, headers=problem.headers)
    if as_text:
        return PlainTextResponse(f"{base_url(request)}{link.code}")
    return JSONResponse(render_short_url(link, base_url(request)))


@router.get(
    "/v3/short-urls/{shortCode}", tags=["Short URLs"], summary="Parse short code", operation_id="getShortUrl"
)
async def get_short_url(
    request: Request, short_code: ShortCode, who: ApiActor, domain: str | None = None
) -> dict[str, Any]:
    """One of your short URLs by its code (case-insensitive)."""
    link = await find_link(request, who, short_code, domain)
    return render_short_url(link, base_url(request))


@router.patch(
    "/v3/short-urls/{shortCode}", tags=["Short URLs"], summary="Edit short URL", operation_id="editShortUrl"
)
async def edit_short_url(
    request: Request,
    short_code: ShortCode,
    body: ShortUrlEdit,
    who: ApiActor,
    domain: str | None = None,
) -> dict[str, Any]:
    """Change the members sent; null clears title, tags, validSince, validUntil and maxVisits."""
    await find_link(request, who, short_code, domain)
    link = await shortener(request).links.edit(who, short_code, changes_of(body))
    return render_short_url(link, base_url(request))


@router.delete(
    "/v3/short-urls/{shortCode}",
    status_code=204,
    tags=["Short URLs"],
    summary="Delete short URL",
    operation_id="deleteShortUrl",
)
async def delete_short_url(
    request: Request, short_code: ShortCode, who: ApiActor, domain: str | None = None
) -> Response:
    await find_link(request, who, short_code, domain)
    await shortener(request).links.delete(who, short_code)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------
# Redirect rules


@router.get(
    "/v3/short-urls/{shortCode}/redirect-rules",
    tags=["Redirect rules"],
    summary="List redirect rules",
    operation_id="listShortUrlRedirectRules",
)
async def list_redirect_rules(
    request: Request, short_code: ShortCode, who: ApiActor, domain: str | None = None
) -> dict[str, Any]:
    """The long URL a visit gets when no rule matches, and the rules in priority order."""
    return render_rules(await find_link(request, who, short_code, domain))


@router.post(
    "/v3/short-urls/{shortCode}/redirect-rules",
    tags=["Redirect rules"],
    summary="Set redirect rules",
    operation_id="setShortUrlRedirectRules",
)
@router.patch(
    "/v3/short-urls/{shortCode}/redirect-rules",
    tags=["Redirect rules"],
    summary="Set redirect rules (PATCH, as POST)",
    operation_id="patchShortUrlRedirectRules",
)
async def set_redirect_rules(
    request: Request,
    short_code: ShortCode,
    body: RedirectRulesSet,
    who: ApiActor,
    domain: str | None = None,
) -> dict[str, Any]:
    """Replace every rule; a rule's priority is its place in the list (device, language and the
    query-param conditions are supported)."""
    await find_link(request, who, short_code, domain)
    try:
        link = await shortener(request).links.set_rules(who, short_code, body.redirect_rules)
    except InvalidUrlError as exc:  # a rule's long URL: the member at fault is the rule list
        raise invalid_data("redirectRules", detail=f"a redirect rule's long URL: {exc.detail}") from exc
    return render_rules(link)


# Tags, visits, domains and health, after the routes above so the API keeps its order (and its
# OpenAPI document its path order).
router.include_router(api_visits.router)
