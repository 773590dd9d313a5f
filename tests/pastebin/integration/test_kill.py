"""Durability: every paste the server acknowledged survives a kill -9 in the middle of a stream of
creates, and reads back byte for byte after a restart on the same data directory."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from tests.pastebin.integration.conftest import watch_server
from tests.servers import start_pastebin

pytestmark = pytest.mark.integration

PASTES = 30
KILL_AFTER_ACKS = 15
WRITERS = 4  # concurrent creates, so the kill lands while some are in flight
SEED = 20250101


def make_text(rng: random.Random, number: int) -> str:
    """Distinct text per paste: some short, some large enough to span many blocks of the blob store."""
    size = rng.choice([40, 900, 6_000, 40_000])
    alphabet = "abcdefghijklmnopqrstuvwxyz 0123456789\t{}()<>&;:'\"ünïcödé✓日本語\n"
    body = "".join(rng.choices(alphabet, k=size))
    return f"paste {number}\n{body}\n"


async def create_until_killed(url: str, texts: list[str], kill: asyncio.Event) -> dict[str, str]:
    """Create `texts` over WRITERS connections; returns {paste id: text} for each acknowledged create.
    Sets `kill` once KILL_AFTER_ACKS were acknowledged; creates the server never answers are dropped."""
    acknowledged: dict[str, str] = {}
    queue = list(enumerate(texts))

    async def writer(client: httpx.AsyncClient) -> None:
        while queue:
            _, text = queue.pop(0)
            try:
                response = await client.post("/api/v1/paste", json={"files": [{"content": text}]})
            except httpx.TransportError:
                continue  # not acknowledged: the server died with this request in flight
            assert response.status_code == 200, f"create answered {response.status_code}: {response.text}"
            acknowledged[response.json()["link"].rsplit("/", 1)[1]] = text
            if len(acknowledged) >= KILL_AFTER_ACKS:
                kill.set()

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(writer(client) for _ in range(WRITERS)))
    return acknowledged


async def test_acknowledged_pastes_survive_kill_9_mid_stream(tmp_path: Path, request: pytest.FixtureRequest):
    data_dir = tmp_path / "data"
    rng = random.Random(SEED)
    texts = [make_text(rng, n) for n in range(PASTES)]
    first = await asyncio.to_thread(start_pastebin, data_dir, tmp_path / "first.log")
    watch_server(request.config, first)
    kill = asyncio.Event()

    async def killer() -> None:
        await kill.wait()
        first.kill()  # SIGKILL: no shutdown code, no flush, as a crash or the OOM killer would

    killing = asyncio.create_task(killer())
    try:
        acknowledged = await create_until_killed(first.url, texts, kill)
        assert kill.is_set(), f"only {len(acknowledged)} creates were acknowledged before the kill"
        await asyncio.wait_for(killing, timeout=10)
    finally:
        killing.cancel()
        first.stop()

    assert first.process.returncode == -9
    assert KILL_AFTER_ACKS <= len(acknowledged) < PASTES, "the kill did not land mid-stream"

    second = await asyncio.to_thread(start_pastebin, data_dir, tmp_path / "second.log")
    watch_server(request.config, second)
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            for paste_id, text in acknowledged.items():
                response = await client.get(f"/raw/{paste_id}")
                assert response.status_code == 200, f"acknowledged paste {paste_id} lost: {response.text}"
                assert response.content == text.encode(), f"paste {paste_id} changed across the crash"
    finally:
        second.stop()
