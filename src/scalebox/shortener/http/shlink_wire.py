"""Shlink's JSON shapes both ways: short URLs, redirect rules, tags, visits and pagination as Shlink
renders them, and the request bodies, dates and orderings as Shlink accepts them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

from scalebox.shortener.domain import Link
from scalebox.shortener.http.shlink_problem import invalid_data
from scalebox.shortener.ports import StoredVisit, TagCount
from scalebox.shortener.service.links import LinkSpec

PAGE_NUMBER_MAX = 1_000_000


# ---------------------------------------------------------------------------------------------
# Responses


def _iso(moment: datetime | None) -> str | None:
    """Shlink's dates: ISO 8601 to the second, with the offset (UTC here)."""
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0).isoformat()


def render_summary(total: int, bots: int) -> dict[str, int]:
    return {"total": total, "nonBots": total - bots, "bots": bots}


def render_short_url(link: Link, base: str) -> dict[str, Any]:
    """A link as Shlink's ShortUrl, plus scalebox's `redirectType` and `disabled`."""
    return {
        "shortCode": link.code,
        "shortUrl": f"{base}{link.code}",
        "longUrl": link.long_url,
        "dateCreated": _iso(link.created_at),
        "visitsSummary": render_summary(link.visits, link.bot_visits),
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
        "visitsSummary": render_summary(tag.visits, tag.bot_visits),
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


def page_size(requested: int, maximum: int, total: int) -> int:
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
