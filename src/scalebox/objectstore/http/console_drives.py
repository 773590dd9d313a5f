"""Drive health and usage: each drive's state and space, the erasure layout, the last scrub and the
one in progress, a heal an administrator starts from the page (run in the background, its progress
shown), and bytes per bucket as a table and a chart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from scalebox.core.clock import Clock
from scalebox.core.errors import IntegrityError
from scalebox.core.web.forms import read_form
from scalebox.objectstore.http.console_buckets import NoteQuery
from scalebox.objectstore.http.console_session import (
    console,
    login_redirect,
    note_flashes,
    render_page,
    require_principal,
    signed_in,
)
from scalebox.objectstore.http.console_view import layout_bar_chart
from scalebox.objectstore.service.keys import require_admin
from scalebox.objectstore.service.upkeep import RepairTally, Upkeep
from scalebox.objectstore.storage.erasure import DriveSetError

log = structlog.get_logger("objectstore.console")
router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 2  # while a heal or scrub runs, the drives page reloads itself to show progress


@dataclass
class HealJob:
    """The heal an administrator last started from the drives page: at most one runs at a time."""

    progress: tuple[int, int] | None = None  # (shard sets done, total) while it runs
    result: RepairTally | None = None
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, upkeep: Upkeep, clock: Clock) -> bool:
        """Start healing every shard set in the background; False if a heal is running already."""
        if self.running:
            return False
        self.progress, self.result, self.error = (0, 0), None, ""
        self.started_at, self.finished_at = clock.now(), None
        self._task = asyncio.create_task(self._run(upkeep, clock))
        return True

    async def wait(self) -> None:
        """Until the heal started last has finished (for tests and shutdown)."""
        if self._task is not None:
            await self._task

    async def _run(self, upkeep: Upkeep, clock: Clock) -> None:
        try:
            self.result = await upkeep.heal_all(progress=self._record)
        except (DriveSetError, IntegrityError, OSError) as exc:  # shown on the page, not lost in a task
            self.error = str(exc)
            log.error("heal from the console failed", error=str(exc))
        finally:
            self.progress, self.finished_at = None, clock.now()

    def _record(self, done: int, total: int) -> None:
        self.progress = (done, total)


@router.get("/drives")
async def drives_page(request: Request, note: NoteQuery = "") -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    wiring = console(request)
    drives = await asyncio.to_thread(wiring.erasure.drive_status)
    context = {
        "drives": drives,
        "online": sum(drive.state == "ok" for drive in drives),
        "layout": wiring.erasure.layout,
        "set_id": wiring.erasure.set_id,
        "last_scrub": wiring.upkeep.last_scrub,
        "scrub_progress": wiring.upkeep.scrub_progress,
        "heal": wiring.heal,
        "refresh_seconds": REFRESH_SECONDS if wiring.heal.running or wiring.upkeep.scrub_progress else 0,
        "may_heal": principal.is_admin,
        "flashes": note_flashes(note),
    }
    return render_page(request, "objectstore/drives.html", context)


@router.post("/drives/heal")
async def heal(request: Request) -> Response:
    principal = await require_principal(request)
    await read_form(request)
    require_admin(principal)
    wiring = console(request)
    started = wiring.heal.start(wiring.upkeep, wiring.clock)
    return RedirectResponse(f"/drives?note={'heal-started' if started else 'heal-running'}", status_code=303)


@router.get("/usage")
async def usage_page(request: Request) -> Response:
    principal = await signed_in(request)
    if principal is None:
        return login_redirect(request)
    rows = await console(request).service.usage_of(principal)
    context = {
        "rows": rows,
        "chart": layout_bar_chart([(row.bucket, row.bytes) for row in rows]),
        "total_bytes": sum(row.bytes for row in rows),
        "total_objects": sum(row.objects for row in rows),
    }
    return render_page(request, "objectstore/usage.html", context)
