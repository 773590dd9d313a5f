"""The console's one page (live via a small script, complete without it) and its JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from scalebox.console.domain import SystemState, sparkline_points
from scalebox.console.service import Poller

router = APIRouter()


def _poller(request: Request) -> Poller:
    poller: Poller = request.app.state.poller
    return poller


def _view(state: SystemState) -> dict[str, object]:
    return {
        "name": state.entry.name,
        "title": state.entry.title,
        "url": state.entry.url,
        "health": state.health.value,
        "detail": state.detail,
        "checked_at": state.checked_at.isoformat() if state.checked_at else None,
        "figures": [
            {
                "key": f.key,
                "label": f.label,
                "value": f.value,
                "display": f.display(),
                "spark": sparkline_points(list(state.history.get(f.key, ()))),
            }
            for f in state.figures
        ],
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    systems = [_view(state) for state in _poller(request).states.values()]
    pages = request.app.state.pages
    response: HTMLResponse = pages.render(request, "console.html", {"systems": systems})
    return response


@router.get("/api/systems")
async def systems(request: Request) -> dict[str, object]:
    """Every system with its health and latest figures (what the page shows)."""
    return {"systems": [_view(state) for state in _poller(request).states.values()]}
