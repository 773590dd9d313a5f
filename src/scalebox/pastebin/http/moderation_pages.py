"""The moderation queue page: open reports (from readers and the secret scanner) and the admin's actions.

Admin-only: ModerationService refuses everyone else with ForbiddenError, a 403 page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import NotFoundError
from scalebox.pastebin.http.deps import pastebin, viewer
from scalebox.pastebin.http.view import read_form, render_page
from scalebox.pastebin.service import QueueItem, Viewer
from scalebox.pastebin.service.moderation import Action

router = APIRouter(include_in_schema=False)

ACTIONS: tuple[Action, ...] = get_args(Action)
_DONE = {
    "dismiss": "Report dismissed.",
    "hide": "Paste hidden; its reports are resolved.",
    "delete": "Paste deleted; its reports are resolved.",
    "ban": "Owner banned and paste hidden; its reports are resolved.",
}
_SCANNER_PREFIX = "secret scanner"


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue item with who reported it, as the page shows it."""

    item: QueueItem
    reporter: str


@router.get("/admin/reports")
async def show_queue(request: Request, done: str = "") -> HTMLResponse:
    who = await viewer(request)
    flashes = [("ok", _DONE[done])] if done in _DONE else []
    return await _queue_page(request, who, flashes=flashes)


@router.post("/admin/reports/{report_id}/{action}")
async def act(request: Request, report_id: int, action: str) -> Response:
    who = await viewer(request)
    await read_form(request)
    chosen = next((known for known in ACTIONS if known == action), None)
    if chosen is None:
        raise NotFoundError(f"no moderation action {action!r}; use one of {', '.join(ACTIONS)}")
    try:
        await pastebin(request).moderation.act(who, report_id, chosen)
    except NotFoundError as exc:
        return await _queue_page(request, who, flashes=[("error", exc.detail)], status=404)
    return RedirectResponse(f"/admin/reports?done={chosen}", status_code=303)


async def _queue_page(
    request: Request, who: Viewer, *, flashes: list[tuple[str, str]], status: int = 200
) -> HTMLResponse:
    pb = pastebin(request)
    items = await pb.moderation.queue(who)  # ForbiddenError for anyone but an admin
    names: dict[int, str] = {}
    rows = []
    for item in items:
        reporter_id = item.report.reporter_id
        if reporter_id is None:
            # Readers report anonymously too: only a flagged paste's scanner-worded report is the scanner's.
            flagged = item.paste is not None and item.paste.scan_verdict is not None
            scanner = flagged and item.report.reason.startswith(_SCANNER_PREFIX)
            reporter = "secret scanner" if scanner else "anonymous"
        else:
            if reporter_id not in names:
                account = await pb.accounts.get(reporter_id)
                names[reporter_id] = account.username if account else f"account {reporter_id}"
            reporter = names[reporter_id]
        rows.append(QueueRow(item, reporter))
    context = {"rows": rows, "flashes": flashes}
    headers = {"Cache-Control": "private, no-store"}
    return render_page(request, "moderation.html", context, status_code=status, headers=headers)
