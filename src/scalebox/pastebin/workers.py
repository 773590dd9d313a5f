"""The pastebin's background work, started by the app's lifespan: event consumers, the view-count
flusher and the reaper. Each loop is a plain async function around one use-case step."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from scalebox.core.events import EventBus, run_consumer
from scalebox.pastebin.service import TOPIC, PasteService, Upkeep

log = logging.getLogger(__name__)

CONSUMER_GROUP = "pastebin-workers"


class Workers:
    """Starts and stops the background loops of one pastebin process."""

    def __init__(
        self,
        *,
        events: EventBus,
        pastes: PasteService,
        upkeep: Upkeep,
        view_flush_seconds: float,
        reap_interval_seconds: float,
    ) -> None:
        self.events, self.pastes, self.upkeep = events, pastes, upkeep
        self.view_flush_seconds = view_flush_seconds
        self.reap_interval_seconds = reap_interval_seconds
        self.stop_event = asyncio.Event()

    def start(self, *, background: bool = True) -> list[asyncio.Task[object]]:
        """The view-count flusher always (each process batches its own reads); the event consumer
        and the reaper only where `background` work is assigned to this process."""
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(
                self._every(self.view_flush_seconds, self.pastes.flush_views), name="pastebin-views"
            )
        ]
        if background:
            consumer = run_consumer(
                self.events, TOPIC, CONSUMER_GROUP, self.upkeep.on_paste_event, stop=self.stop_event
            )
            tasks.append(asyncio.create_task(consumer, name="pastebin-consumer"))
            tasks.append(
                asyncio.create_task(
                    self._every(self.reap_interval_seconds, self.upkeep.reap), name="pastebin-reaper"
                )
            )
        return tasks

    async def stop(self, tasks: list[asyncio.Task[object]]) -> None:
        self.stop_event.set()
        for task in tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=5)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _every(self, seconds: float, step: Callable[[], Awaitable[object]]) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)
            try:
                await step()
            except Exception:
                log.exception(
                    "background step %s failed; retrying next interval", getattr(step, "__name__", step)
                )
