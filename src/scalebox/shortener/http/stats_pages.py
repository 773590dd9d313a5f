"""The dashboards: one link's visits (`/links/{code}/stats`) and the account's overview (`/stats`), each
over a date range with bots shown or hidden. Charts are SVG drawn on the server, so they need no script."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response

from scalebox.shortener import charts
from scalebox.shortener.http.deps import actor, current_account, shortener
from scalebox.shortener.http.list_pages import own
from scalebox.shortener.http.pages import render_page, short_url
from scalebox.shortener.ports import LinkQuery
from scalebox.shortener.service.analytics import CHART_DAYS_MAX, VisitWindow

router = APIRouter(include_in_schema=False)

Span = Literal["7", "30", "90", "all"]
SPANS: dict[Span, str] = {"7": "7 days", "30": "30 days", "90": "90 days", "all": "All time"}
BREAKDOWNS = (
    ("referrer", "Top referrers"),
    ("country", "Countries"),
    ("browser", "Browsers"),
    ("os", "Operating systems"),
    ("device", "Devices"),
)
TOP_SHOWN = 10
RECENT_SHOWN = 20
TOP_LINKS_SHOWN = 10
BAR_CHART_WIDTH = 440  # about a breakdown card's width, so its labels keep their size


@dataclass(frozen=True, slots=True)
class Window:
    """The dashboard's view as its query string says: the last N days or all time, with or without bots."""

    path: str
    span: Span = "30"
    bots: bool = True

    def url(self, **changes: Any) -> str:
        window = replace(self, **changes)
        values = {"range": window.span, "bots": "include" if window.bots else "exclude"}
        return f"{window.path}?{urlencode(values)}"

    def days(self, today: date, since: datetime) -> tuple[date, date]:
        """The first and last UTC day shown; all time starts at `since` (at most CHART_DAYS_MAX back)."""
        if self.span == "all":
            first = max(since.astimezone(UTC).date(), today - timedelta(days=CHART_DAYS_MAX - 1))
        else:
            first = today - timedelta(days=int(self.span) - 1)
        return min(first, today), today


RangeQuery = Annotated[Span, Query(alias="range")]
BotsQuery = Annotated[Literal["include", "exclude"], Query()]


@router.get("/links/{code}/stats")
async def link_stats(
    request: Request, code: str, span: RangeQuery = "30", bots: BotsQuery = "include"
) -> Response:
    if await current_account(request) is None:
        return RedirectResponse(f"/login?next=/links/{quote(code, safe='')}/stats", status_code=303)
    sb = shortener(request)
    who = await actor(request)
    link = await sb.links.get(who, code)
    window = Window(f"/links/{quote(link.code, safe='')}/stats", span, bots == "include")
    first, last = window.days(sb.clock.now().astimezone(UTC).date(), link.created_at)
    daily = await sb.analytics.daily(
        who.scope, link_id=link.id, start=first, end=last, include_bots=window.bots
    )
    breakdowns = await _breakdowns(
        request, who.scope, link_id=link.id, first=first, last=last, bots=window.bots
    )
    recent = await sb.analytics.link_visits(
        who.scope,
        link.id,
        VisitWindow(
            start=datetime.combine(first, time.min, UTC),
            exclude_bots=not window.bots,
            items_per_page=RECENT_SHOWN,
        ),
    )
    context = {
        "link": link,
        "short_url": short_url(request, link),
        "window": window,
        "spans": SPANS,
        "first": first,
        "last": last,
        "in_range": sum(count for _, count in daily),
        "chart": Markup(charts.line_chart(_days(daily), title=f"Visits per day to {link.code}")),
        "breakdowns": breakdowns,
        "recent": recent,
    }
    return render_page(request, "link_stats.html", context)


@router.get("/stats")
async def overview(request: Request, span: RangeQuery = "30", bots: BotsQuery = "include") -> Response:
    account = await current_account(request)
    if account is None:
        return RedirectResponse("/login?next=/stats", status_code=303)
    sb = shortener(request)
    window = Window("/stats", span, bots == "include")
    first, last = window.days(sb.clock.now().astimezone(UTC).date(), account.created_at)
    daily = await sb.analytics.daily(account.id, start=first, end=last, include_bots=window.bots)
    breakdowns = await _breakdowns(
        request, account.id, link_id=None, first=first, last=last, bots=window.bots
    )
    top_links, total_links = await sb.links.page(
        own(account, request),
        LinkQuery(
            owner_id=account.id,
            order_by="visits" if window.bots else "nonBotVisits",
            limit=TOP_LINKS_SHOWN,
        ),
    )
    summary = await sb.analytics.summary(account.id)
    context = {
        "window": window,
        "spans": SPANS,
        "first": first,
        "last": last,
        "in_range": sum(count for _, count in daily),
        "chart": Markup(charts.line_chart(_days(daily), title="Visits per day to all my links")),
        "breakdowns": breakdowns,
        "top_links": [link for link in top_links if link.visits],
        "total_links": total_links,
        "all_time": summary.non_orphan.total if window.bots else summary.non_orphan.non_bots,
    }
    return render_page(request, "stats.html", context)


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One top list: its heading, its rows (value, visits) and the bar chart drawn from them."""

    dimension: str
    title: str
    rows: list[tuple[str, int]]
    chart: Markup


async def _breakdowns(
    request: Request, owner_id: int | None, *, link_id: int | None, first: date, last: date, bots: bool
) -> list[Breakdown]:
    analytics = shortener(request).analytics
    result = []
    for dimension, title in BREAKDOWNS:
        rows = await analytics.top(
            owner_id,
            dimension,
            link_id=link_id,
            start=first,
            end=last,
            include_bots=bots,
            limit=TOP_SHOWN,
        )
        labelled = [(_label(dimension, value), count) for value, count in rows]
        chart = Markup(charts.bar_chart(labelled, title=title, width=BAR_CHART_WIDTH))
        result.append(Breakdown(dimension, title, labelled, chart))
    return result


def _days(daily: list[tuple[date, int]]) -> list[tuple[str, int]]:
    return [(f"{day:%b} {day.day}", count) for day, count in daily]


def _label(dimension: str, value: str) -> str:
    """What an empty value means in each list (a visit with no referrer came direct)."""
    if value:
        return value
    return "Direct or unknown" if dimension == "referrer" else "Unknown"
