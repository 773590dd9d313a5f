"""The Shlink REST API v3 (/rest/v3) and Shlink's health check (/rest/health): short URLs, redirect
rules, tags, visits and domains in Shlink's JSON shapes, status codes and problem types, so clients
written for Shlink work unmodified. Handlers translate; every rule lives in the services and domain.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel
from starlette.responses import JSONResponse, PlainTextResponse, Response

from scalebox import __version__
from scalebox.core.errors import (
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
    UnauthorizedError,
)
from scalebox.core.web.errors import PROBLEM_JSON, status_for
from scalebox.shortener.domain import Link, VisitKind
from scalebox.shortener.errors import (
    BlockedDomainError,
    InvalidUrlError,
    LinkNotFoundError,
    SlugTakenError,
    TagConflictError,
    TagNotFoundError,
)
from scalebox.shortener.http.deps import actor, api_key_of, base_url, client_ip, shortener
from scalebox.shortener.ports import LinkQuery, OrderField, StoredVisit, TagCount
from scalebox.shortener.service.analytics import VISITS_PAGE_MAX, VisitPage, VisitWindow
from scalebox.shortener.service.links import Actor, LinkSpec

# LinkService.page's bound: Shlink's "all items" (itemsPerPage below 1) is served up to this many.
SHORT_URLS_PAGE_MAX = 1000
SHORT_CODE_LENGTH_MIN = 4  # Shlink's lower bound for shortCodeLength; ours are always 7 characters
PAGE_NUMBER_MAX = 1_000_000
_TYPE_BASE = "https://shlink.io/api/error/"
_HEALTH_JSON = "application/health+json"
_ORDERS: tuple[OrderField, ...] = ("dateCreated", "shortCode", "longUrl", "title", "visits", "nonBotVisits")
_NO_REDIRECTS = {"baseUrlRedirect": None, "regular404Redirect": None, "invalidShortUrlRedirect": None}


# ---------------------------------------------------------------------------------------------
# Problems: every error of these routes in Shlink's terms


class ShlinkError(Exception):
    """An error answer as Shlink gives it: problem+json with Shlink's `type`, `title` and extra members."""

    def __init__(
        self,
        status: int,
        error: str | None,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extras: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = f"{_TYPE_BASE}{error}" if error else "about:blank"
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extras = extras

    def response(self) -> Response:
        body = {"type": self.type, "title": self.title, "detail": self.detail, "status": self.status}
        return JSONResponse(
            {**body, **self.extras}, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers
        )


def invalid_data(*elements: str, detail: str = "Provided data is not valid") -> ShlinkError:
    return ShlinkError(400, "invalid-data", "Invalid data", detail, invalidElements=list(elements))


def _missing_authentication(header: str = "X-Api-Key") -> ShlinkError:
    return ShlinkError(
        401,
        "missing-authentication",
        "Invalid authorization",
        f'Expected one of the following authentication headers, ["{header}"], but none were provided',
        expectedTypes=[header],
    )


# One table from the error tree to Shlink's problem types; the most specific kinds come first.
_PROBLEMS: tuple[tuple[type[DomainError], int, str, str], ...] = (
    (UnauthorizedError, 401, "invalid-api-key", "Invalid API key"),
    (LinkNotFoundError, 404, "short-url-not-found", "Short URL not found"),
    (TagNotFoundError, 404, "tag-not-found", "Tag not found"),
    (SlugTakenError, 400, "non-unique-slug", "Invalid custom slug"),
    (TagConflictError, 409, "tag-conflict", "Tag conflict"),
    (BlockedDomainError, 400, "invalid-url", "Invalid URL"),
    (InvalidError, 400, "invalid-data", "Invalid data"),
    (NotFoundError, 404, "not-found", "Not found"),
    (ForbiddenError, 403, "forbidden-operation", "Forbidden operation"),
)


def problem_for(exc: DomainError, request: Request) -> ShlinkError:
    """The Shlink problem for a domain error; kinds Shlink has no type for (limits) get about:blank."""
    for kind, status, error, title in _PROBLEMS:
        if isinstance(exc, kind):
            return ShlinkError(status, error, title, exc.detail, **_extras(exc, request))
    status = status_for(exc)
    headers = None
    if isinstance(exc, LimitExceededError) and exc.retry_after_seconds is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after_seconds + 0.49)))}
    return ShlinkError(status, None, HTTPStatus(status).phrase, exc.detail, headers, code=exc.code)


def _extras(exc: DomainError, request: Request) -> dict[str, Any]:
    """The members Shlink adds to a problem: what was asked for, or which fields were wrong."""
    if isinstance(exc, SlugTakenError):
        return {"customSlug": exc.slug}
    if isinstance(exc, LinkNotFoundError):
        return {"shortCode": request.path_params.get("shortCode", "")}
    if isinstance(exc, TagNotFoundError) and "tag" in request.path_params:
        return {"tag": request.path_params["tag"]}
    if isinstance(exc, InvalidError):
        return {"invalidElements": [exc.field] if exc.field else []}
    return {}


def _validation_problem(exc: RequestValidationError) -> ShlinkError:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return ShlinkError(
            400,
            "malformed-request-body",
            "Malformed request body",
            "Provided request does not contain a valid JSON body.",
        )
    locations = [tuple(str(part) for part in error.get("loc", ())) for error in errors]
    elements = dict.fromkeys(loc[1] for loc in locations if len(loc) > 1)
    detail = "; ".join(
        f"{'.'.join(loc[1:]) or 'body'}: {error.get('msg', 'invalid')}"
        for loc, error in zip(locations, errors, strict=True)
    )
    return invalid_data(*elements, detail=detail or "Provided data is not valid")


class ShlinkRoute(APIRoute):
    """A route whose every error, raised by a dependency, the body's validation or the use case, is
    answered in Shlink's problem terms rather than by the app-wide error table."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_shlink_terms(request: Request) -> Response:
            try:
                return await handle(request)
            except ShlinkError as problem:
                return problem.response()
            except DomainError as exc:
                return problem_for(exc, request).response()
            except RequestValidationError as exc:
                return _validation_problem(exc).response()

        return handle_in_shlink_terms


router = APIRouter(prefix="/rest", route_class=ShlinkRoute)

_API_KEY = APIKeyHeader(
    name="X-Api-Key",
    scheme_name="ApiKey",
    description="An API key issued with `scalebox shortener accounts api-key` or on the account page.",
    auto_error=False,
)


async def api_actor(request: Request, _key: Annotated[str | None, Security(_API_KEY)]) -> Actor:
    """The account behind the request's API key; the Shlink API answers nobody without one."""
    if api_key_of(request) is None:
        raise _missing_authentication()
    return await actor(request)  # an unknown, revoked or banned key raises UnauthorizedError


ApiActor = Annotated[Actor, Depends(api_actor)]
ShortCode = Annotated[str, Path(alias="shortCode", description="A short code or custom slug")]


# ---------------------------------------------------------------------------------------------
# Wire shapes


def _iso(moment: datetime | None) -> str | None:
    """Shlink's dates: ISO 8601 to the second, with the offset (UTC here)."""
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _summary(total: int, bots: int) -> dict[str, int]:
    return {"total": total, "nonBots": total - bots, "bots": bots}


def render_short_url(link: Link, base: str) -> dict[str, Any]:
    """A link as Shlink's ShortUrl, plus scalebox's `redirectType` and `disabled`."""
    return {
        "shortCode": link.code,
        "shortUrl": f"{base}{link.code}",
        "longUrl": link.long_url,
        "dateCreated": _iso(link.created_at),
        "visitsSummary": _summary(link.visits, link.bot_visits),
        "tags": list(link.tags),
        "meta": {
            "validSince": _iso(link.valid_since),
            "validUntil": _iso(link.valid_until),
            "maxVisits": link.max_visits,
        },
        "domain": None,  # the default domain, the only one there is
        "title": link.title,
        "crawlable": link.crawlable,
        "forwardQuery": link.forward_query,
        "hasRedirectRules": bool(link.rules),
        "redirectType": link.redirect_type,
        "disabled": link.disabled,
    }


def render_rules(link: Link) -> dict[str, Any]:
    return {
        "defaultLongUrl": link.long_url,
        "redirectRules": [
            {
                "longUrl": rule.long_url,
                "priority": priority,
                "conditions": [
                    {"type": c.type, "matchKey": c.match_key, "matchValue": c.match_value}
                    for c in rule.conditions
                ],
            }
            for priority, rule in enumerate(link.rules, 1)
        ],
    }


def render_tag(tag: TagCount) -> dict[str, Any]:
    return {
        "tag": tag.tag,
        "shortUrlsCount": tag.links,
        "visitsSummary": _summary(tag.visits, tag.bot_visits),
    }


def render_visit(visit: StoredVisit, base: str) -> dict[str, Any]:
    """A stored visit as Shlink's Visit; orphan visits add `visitedUrl` (absolute, as Shlink's) and
    `type`. `base` is the base URL, ending with '/'."""
    body: dict[str, Any] = {
        "referer": visit.referer,
        "date": _iso(visit.visited_at),
        "userAgent": visit.user_agent,
        "visitLocation": _location(visit),
        "potentialBot": visit.is_bot,
        "redirectUrl": visit.redirect_url or None,
    }
    if visit.kind != "valid":
        path = visit.visited_url
        body["visitedUrl"] = f"{base}{path.removeprefix('/')}" if path.startswith("/") else path
        body["type"] = visit.kind
    return body


def _location(visit: StoredVisit) -> dict[str, Any] | None:
    names = (visit.country_code, visit.country_name, visit.region_name, visit.city_name, visit.timezone)
    if all(name is None for name in names) and visit.latitude is None and visit.longitude is None:
        return None  # never located (no GeoIP database, or a private address)
    return {
        "countryCode": visit.country_code or "",
        "countryName": visit.country_name or "",
        "regionName": visit.region_name or "",
        "cityName": visit.city_name or "",
        "latitude": visit.latitude or 0.0,
        "longitude": visit.longitude or 0.0,
        "timezone": visit.timezone or "",
        "isEmpty": False,
    }


def pagination(page: int, items_per_page: int, total: int, shown: int) -> dict[str, int]:
    return {
        "currentPage": page,
        "pagesCount": max(1, -(-total // items_per_page)),
        "itemsPerPage": items_per_page,
        "itemsInCurrentPage": shown,
        "totalItems": total,
    }


def _page_size(requested: int, maximum: int, total: int) -> int:
    """The page size a list reports: below 1 means "all", which Shlink reports as the total."""
    return min(max(total, 1), maximum) if requested < 1 else min(requested, maximum)


# ---------------------------------------------------------------------------------------------
# Requests


def parse_moment(text: str, element: str, *, naive_is_utc: bool = False) -> datetime:
    """An ISO 8601 date or date-time, else invalid data naming `element`. Naive values stay naive
    (the domain asks validSince/validUntil for an offset) unless `naive_is_utc` (list filters)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_data(element, detail=f"{element} is not an ISO 8601 date: {text!r}") from None
    return moment.replace(tzinfo=UTC) if naive_is_utc and moment.tzinfo is None else moment


def parse_ordering(text: str | None, fields: Sequence[str]) -> tuple[str, bool] | None:
    """Shlink's `field-ASC|DESC` (a bare field sorts ascending): (field, descending), or None."""
    if not text:
        return None
    field, _, direction = text.partition("-")
    direction = (direction or "ASC").upper()
    if field not in fields or direction not in ("ASC", "DESC"):
        raise invalid_data(
            "orderBy", detail=f"orderBy is one of {', '.join(fields)}, optionally with -ASC or -DESC"
        )
    return field, direction == "DESC"


def default_domain(request: Request) -> str:
    """The one domain short URLs live on: the authority of the base URL."""
    return urlsplit(base_url(request)).netloc


def _is_default_domain(request: Request, domain: str | None) -> bool:
    return domain is None or domain == "DEFAULT" or domain.lower() == default_domain(request).lower()


class _Body(BaseModel):
    # Strict: "5" is not a number and "true" not a boolean. Unknown members are ignored, as by Shlink.
    model_config = ConfigDict(strict=True, extra="ignore", alias_generator=to_camel, populate_by_name=True)


class _LinkFields(_Body):
    title: str | None = None
    tags: list[str] | None = None
    valid_since: str | None = None
    valid_until: str | None = None
    max_visits: int | None = None
    forward_query: bool | None = None
    crawlable: bool | None = None
    redirect_type: int | None = None  # scalebox's: 301, 302, 307 or 308

    @field_validator("valid_since", "valid_until")
    @classmethod
    def _iso_8601(cls, text: str | None) -> str | None:
        # Here rather than in the handler, so a bad date is reported with every other bad member.
        if text is not None and not _is_iso(text):
            raise ValueError("not an ISO 8601 date")
        return text


class ShortUrlCreate(_LinkFields):
    """Shlink's create body. `shortCodeLength` is checked (at least 4) but codes are always 7
    characters; `validateUrl` (gone in Shlink 4) is ignored; `domain` must be the default one."""

    long_url: str
    custom_slug: str | None = None
    find_if_exists: bool | None = None
    short_code_length: int | None = None
    domain: str | None = None
    validate_url: bool | None = None


class ShortUrlEdit(_LinkFields):
    """Shlink's edit body: members present are changed, and null clears the nullable ones."""

    long_url: str | None = None


class RedirectRulesSet(_Body):
    """The rules to keep, highest priority first; an empty list removes them all."""

    redirect_rules: list[dict[str, Any]] = []


class TagRenaming(_Body):
    old_name: str
    new_name: str


_NOT_NULL = ("long_url", "forward_query", "crawlable", "redirect_type")
_OPTIONS = ("title", "tags", "valid_since", "valid_until", "max_visits", "forward_query", "crawlable")


def spec_of(body: ShortUrlCreate) -> LinkSpec:
    since, until = _window_of(body.valid_since, body.valid_until)
    # findIfExists: Shlink matches on the members given; with only the long URL that is any link to
    # it (the service's True), with more it is the same options (the service's retry rule, None).
    given_options = any(getattr(body, name) is not None for name in _OPTIONS)
    find = (None if given_options else True) if body.find_if_exists else False
    return LinkSpec(
        long_url=body.long_url,
        custom_slug=body.custom_slug,
        title=body.title,
        tags=tuple(body.tags or ()),
        valid_since=since,
        valid_until=until,
        max_visits=body.max_visits,
        redirect_type=body.redirect_type or 302,
        forward_query=True if body.forward_query is None else body.forward_query,
        crawlable=bool(body.crawlable),
        find_if_exists=find,
    )


def _window_of(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """validSince and validUntil as datetimes (the body's validator checked they parse)."""
    return (
        None if since is None else datetime.fromisoformat(since),
        None if until is None else datetime.fromisoformat(until),
    )


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def changes_of(body: ShortUrlEdit) -> dict[str, Any]:
    """The edit as LinkService.edit takes it: only the members the client sent."""
    sent = body.model_fields_set
    nulled = [to_camel(name) for name in _NOT_NULL if name in sent and getattr(body, name) is None]
    if nulled:
        raise invalid_data(*nulled, detail=f"{', '.join(nulled)} cannot be null")
    since, until = _window_of(body.valid_since, body.valid_until)
    changes: dict[str, Any] = {
        name: getattr(body, name) for name in sent if name in ShortUrlEdit.model_fields
    }
    if "valid_since" in changes:
        changes["valid_since"] = since
    if "valid_until" in changes:
        changes["valid_until"] = until
    if "tags" in changes:
        changes["tags"] = tuple(body.tags or ())
    return changes


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
    size = _page_size(items_per_page, SHORT_URLS_PAGE_MAX, SHORT_URLS_PAGE_MAX)
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
    reported = _page_size(items_per_page, SHORT_URLS_PAGE_MAX, total)
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
    if not _is_default_domain(request, body.domain):
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
        who = await _query_actor(request, api_key)
        link, _ = await shortener(request).links.create(who, LinkSpec(long_url, find_if_exists=False))
    except (ShlinkError, DomainError) as exc:
        if not as_text:
            raise
        problem = exc if isinstance(exc, ShlinkError) else problem_for(exc, request)
        return PlainTextResponse(problem.type, status_code=problem.status, headers=problem.headers)
    if as_text:
        return PlainTextResponse(f"{base_url(request)}{link.code}")
    return JSONResponse(render_short_url(link, base_url(request)))


async def _query_actor(request: Request, api_key: str | None) -> Actor:
    if not api_key:
        raise _missing_authentication("apiKey")
    account = await shortener(request).accounts.account_for_api_key(api_key)
    if account is None:
        raise UnauthorizedError("Provided API key does not exist or is invalid.")
    return Actor(account.id, is_admin=account.is_admin, ip=client_ip(request))


@router.get(
    "/v3/short-urls/{shortCode}", tags=["Short URLs"], summary="Parse short code", operation_id="getShortUrl"
)
async def get_short_url(
    request: Request, short_code: ShortCode, who: ApiActor, domain: str | None = None
) -> dict[str, Any]:
    """One of your short URLs by its code (case-insensitive)."""
    link = await _find(request, who, short_code, domain)
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
    await _find(request, who, short_code, domain)
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
    await _find(request, who, short_code, domain)
    await shortener(request).links.delete(who, short_code)
    return Response(status_code=204)


async def _find(request: Request, who: Actor, code: str, domain: str | None) -> Link:
    if not _is_default_domain(request, domain):
        raise ShlinkError(
            404,
            "short-url-not-found",
            "Short URL not found",
            f'No URL found with short code "{code}" for domain "{domain}"',
            shortCode=code,
            domain=domain,
        )
    return await shortener(request).links.get(who, code)


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
    return render_rules(await _find(request, who, short_code, domain))


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
    await _find(request, who, short_code, domain)
    try:
        link = await shortener(request).links.set_rules(who, short_code, body.redirect_rules)
    except InvalidUrlError as exc:  # a rule's long URL: the member at fault is the rule list
        raise invalid_data("redirectRules", detail=f"a redirect rule's long URL: {exc.detail}") from exc
    return render_rules(link)


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
        items_per_page=_page_size(items_per_page, VISITS_PAGE_MAX, VISITS_PAGE_MAX),
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
            "nonOrphanVisits": _summary(summary.non_orphan.total, summary.non_orphan.bots),
            "orphanVisits": _summary(summary.orphan.total, summary.orphan.bots),
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
    link = await _find(request, who, short_code, domain)
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
    if not _is_default_domain(request, domain):
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
