"""Fixtures for exchange integration tests: a real venue (journal on tmp_path, sequencer, engine)
with ACME open for continuous trading and three members, and the FIX gateway on 127.0.0.1 port 0.

`running_venue` is reusable on its own; `start_fix_gateway` starts gateways with settings
overrides (each is closed after the test); `fix_gateway` is one with the default settings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from scalebox.core.auth.passwords import TEST_PARAMS
from scalebox.core.clock import SystemClock
from scalebox.exchange.domain import DefineInstrument, DefineParticipant, Instrument, Phase, SetPhase
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.fix.gateway import FixGateway, start_fix_gateway
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.venue import Venue
from scalebox.exchange.settings import ExchangeSettings
from scalebox.exchange.storage.journal import Journal

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


@dataclass
class RunningVenue:
    venue: Venue
    directory: Directory
    journal: Journal
    data_dir: Path

    def allow_drop_copy(self, participant_id: str) -> None:
        members = self.directory.members
        members[participant_id] = replace(members[participant_id], drop_copy=True)


@pytest.fixture
async def running_venue(tmp_path: Path) -> AsyncIterator[RunningVenue]:
    """The venue sequencing into a journal under tmp_path; members alice, bob and carol (see
    PASSWORDS) and ACME (tick 0.01, reference price 100.00) trading continuously."""
    journal = Journal(tmp_path / "journal")
    journal.open()
    venue = Venue(MatchingEngine(), journal, SystemClock())
    task = asyncio.create_task(venue.run())
    directory = Directory(tmp_path / "directory.json", params=TEST_PARAMS)
    directory.set_instrument(Instrument("ACME"))
    for participant_id, password in PASSWORDS.items():
        directory.set_member(participant_id, password)
    try:
        await venue.submit_many([DefineInstrument(i) for i in directory.instruments.values()])
        await venue.submit_many([DefineParticipant(m.participant) for m in directory.members.values()])
        await venue.submit(SetPhase("", Phase.CONTINUOUS))
        yield RunningVenue(venue, directory, journal, tmp_path)
    finally:
        venue.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        journal.close()


GatewayStarter = Callable[..., Awaitable[FixGateway]]


@pytest.fixture
async def start_gateway(running_venue: RunningVenue) -> AsyncIterator[GatewayStarter]:
    """Start a FIX gateway on 127.0.0.1 port 0 over `running_venue`; keyword arguments override
    ExchangeSettings fields (and `tick_seconds`, the timer period). Gateways still open after the
    test are closed."""
    gateways: list[FixGateway] = []

    async def start(*, tick_seconds: float = 1.0, **overrides: Any) -> FixGateway:
        fields: dict[str, Any] = {"host": "127.0.0.1", "fix_port": 0, "data_dir": running_venue.data_dir}
        settings = ExchangeSettings(**(fields | overrides))
        venue, directory = running_venue.venue, running_venue.directory
        gateway = await start_fix_gateway(venue, directory, settings, tick_seconds=tick_seconds)
        gateways.append(gateway)
        return gateway

    yield start
    for gateway in gateways:
        await gateway.close(timeout_seconds=0)


@pytest.fixture
async def fix_gateway(start_gateway: GatewayStarter) -> FixGateway:
    return await start_gateway()
