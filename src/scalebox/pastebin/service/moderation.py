"""The moderation queue: reports (from readers and the secret scanner), hiding pastes, banning accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scalebox.core.auth import AccountService
from scalebox.core.clock import Clock
from scalebox.core.errors import ForbiddenError, NotFoundError
from scalebox.pastebin.domain import Paste
from scalebox.pastebin.ports import PasteRepository, Report, ReportRepository
from scalebox.pastebin.service.limits import Viewer
from scalebox.pastebin.service.pastes import PasteService

Action = Literal["dismiss", "hide", "delete", "ban"]
QUEUE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class QueueItem:
    report: Report
    paste: Paste | None  # None when the paste is already gone


class ModerationService:
    """Admin-only use cases; every method checks the viewer is an admin."""

    def __init__(
        self,
        *,
        pastes: PasteService,
        repo: PasteRepository,
        reports: ReportRepository,
        accounts: AccountService,
        clock: Clock,
    ) -> None:
        self.pastes, self.repo, self.reports, self.accounts, self.clock = (
            pastes,
            repo,
            reports,
            accounts,
            clock,
        )

    async def queue(self, viewer: Viewer) -> list[QueueItem]:
        _require_admin(viewer)
        items = []
        for report in await self.reports.list_open(QUEUE_LIMIT):
            items.append(QueueItem(report, await self.repo.get(report.paste_id)))
        return items

    async def act(self, viewer: Viewer, report_id: int, action: Action) -> None:
        """Resolve a report: dismiss it, hide its paste, delete its paste, or ban the paste's owner."""
        _require_admin(viewer)
        report = next((r for r in await self.reports.list_open(QUEUE_LIMIT) if r.id == report_id), None)
        if report is None:
            raise NotFoundError(f"no open report {report_id}")
        now = self.clock.now()
        if action == "dismiss":
            await self.reports.resolve(report_id, "dismissed", now)
            return
        paste = await self.repo.get(report.paste_id)
        if action == "hide" and paste is not None:
            await self.pastes.hide(paste.id)
        elif action == "delete" and paste is not None:
            await self.pastes.delete(paste.id, viewer)
        elif action == "ban":
            if paste is None or paste.owner_id is None:
                raise NotFoundError("the reported paste has no owner account to ban")
            await self.accounts.set_banned(paste.owner_id, True)
            await self.pastes.hide(paste.id)
        await self.reports.resolve_for_paste(report.paste_id, action, now)


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise ForbiddenError("moderation is for admins")
