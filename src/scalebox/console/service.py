"""Polls every system's /healthz and /api/stats over HTTP (systems meet only through protocols)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from scalebox.console.domain import Figure, Health, SystemEntry, SystemState
from scalebox.core.clock import Clock

log = logging.getLogger(__name__)
_BODY_BYTES_MAX = 64 * 1024


class Poller:
    """Keeps a SystemState per catalog entry fresh."""

    def __init__(self, catalog: tuple[SystemEntry, ...], client: httpx.AsyncClient, clock: Clock) -> None:
        self.states = {entry.name: SystemState(entry) for entry in catalog}
        self.client = client
        self.clock = clock

    async def poll_all(self) -> None:
        await asyncio.gather(*(self.poll(state) for state in self.states.values()))

    async def poll(self, state: SystemState) -> None:
        try:
            health = await self.client.get(f"{state.entry.url}/healthz")
            stats = await self.client.get(f"{state.entry.url}/api/stats")
        except httpx.HTTPError as exc:
            state.record(Health.DOWN, f"unreachable: {type(exc).__name__}", [], self.clock.now())
            return
        status = Health.UP if health.status_code == 200 else Health.DEGRADED
        detail = "healthy" if status is Health.UP else _checks_detail(health)
        state.record(status, detail, _figures(stats), self.clock.now())

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        # The lifespan polled once already, so the first page has figures: wait, then poll.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
            if not stop.is_set():
                await self.poll_all()


def _checks_detail(response: httpx.Response) -> str:
    try:
        checks = response.json().get("checks", {})
    except ValueError:
        return f"HTTP {response.status_code}"
    failing = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    return "; ".join(failing) or f"HTTP {response.status_code}"


def _figures(response: httpx.Response) -> list[Figure]:
    if response.status_code != 200 or len(response.content) > _BODY_BYTES_MAX:
        return []
    try:
        raw = response.json().get("figures", [])
        return [
            Figure(
                str(f["key"]),
                str(f["label"]),
                None if f.get("value") is None else float(f["value"]),
                str(f.get("unit", "")),
            )
            for f in raw[:12]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("malformed /api/stats from %s", response.url)
        return []
