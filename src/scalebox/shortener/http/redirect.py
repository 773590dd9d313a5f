"""The redirect's full path: what the fast path (http/hot.py) hands over, mainly codes it could not
answer (unknown, disabled, expired, not yet valid, used up), for which it renders a clear 404 page.

It still resolves and redirects on its own (shared cache, then SQL, filling the LRU), for a link
whose state changed between the fast path's look and this one.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from scalebox.core.clock import epoch_ms
from scalebox.core.web import Pages
from scalebox.shortener.domain import Status, Visit, VisitFacts, decide, looks_like_code
from scalebox.shortener.http.deps import shortener
from scalebox.shortener.http.hot import redirect_headers

router = APIRouter()

REASONS: dict[Status, tuple[str, str]] = {
    "active": ("Link not found", "There is no link with this address. Check it for typos."),
    "disabled": ("Link disabled", "This link has been disabled and no longer redirects."),
    "not_yet_valid": ("Link not active yet", "This link starts working later."),
    "expired": ("Link expired", "This link has expired and no longer redirects."),
    "visits_exhausted": ("Link used up", "This link has reached its maximum number of visits."),
}


async def follow(request: Request) -> Response:
    sb = shortener(request)
    code: str = request.path_params["code"]
    link = await sb.source.find(code.lower()) if looks_like_code(code) else None
    reason: Status = "active"
    if link is not None:
        query = request.url.query
        facts = (
            VisitFacts.from_request(
                request.headers.get("user-agent", ""), request.headers.get("accept-language", ""), query
            )
            if link.rules
            else None
        )
        now = sb.clock.now()
        unstored = sb.recorder.unstored(link) if link.max_visits is not None else 0
        decision = decide(link, facts, query, now, unstored)
        if decision.location is not None:
            headers = redirect_headers(decision.status, decision.location, link.crawlable)
            visit = Visit(
                "valid",
                epoch_ms(now),
                link.code,
                link.id,
                request.headers.get("user-agent", ""),
                request.headers.get("referer", ""),
                request.client.host if request.client else "",
                request.url.path,
                decision.location,
            )
            limited = link if link.max_visits is not None else None
            return Response(
                status_code=decision.status,
                headers={name.decode(): value.decode("latin-1") for name, value in headers},
                background=BackgroundTask(sb.recorder.record, visit, limited),
            )
        reason = decision.reason
    title, detail = REASONS[reason]
    pages: Pages = request.app.state.pages
    return pages.render(
        request,
        "unavailable.html",
        {"status": 404, "title": title, "detail": detail, "reason": reason},
        status_code=404,
        headers={"cache-control": "no-store", "x-robots-tag": "noindex"},
    )


# Registered last (see http.routers()): a single segment that no other route claimed.
router.add_route("/{code}", follow, methods=["GET", "HEAD"], include_in_schema=False)
