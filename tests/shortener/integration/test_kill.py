"""Durability: every link the server acknowledged, and every visit it published to the event log,
survives a kill -9 in the middle of a stream of creates; after a restart on the same data directory
the links redirect and the analytics consumer stores exactly the published visits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.servers import wait_until
from tests.shortener.shlink_server import issue_api_keys, start_shortener

pytestmark = pytest.mark.integration

LINKS_BEFORE = 10
VISITS_PER_LINK = 3
CREATES = 60
KILL_AFTER_ACKS = 20
WRITERS = 4  # concurrent creates, so the kill lands while some are in flight
TIMEOUT_SECONDS = 20.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def published_visits(url: str) -> int:
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(r'^shortener_visits_total\{outcome="published"\} (\S+)$', metrics, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def create_until_killed(url: str, key: str, kill: asyncio.Event) -> dict[str, str]:
    """{short code: long URL} of every create the server acknowledged before it died."""
    acknowledged: dict[str, str] = {}
    queue = [f"https://example.com/stream/{number}" for number in range(CREATES)]

    async def writer(client: httpx.AsyncClient) -> None:
        while queue:
            long_url = queue.pop(0)
            try:
                response = await client.post(
                    "/rest/v3/short-urls", json={"longUrl": long_url}, headers={"X-Api-Key": key}
                )
            except httpx.TransportError:
                continue  # not acknowledged: the server died with this request in flight
            assert response.status_code == 200, response.text
            acknowledged[response.json()["shortCode"]] = long_url
            if len(acknowledged) >= KILL_AFTER_ACKS:
                kill.set()

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(writer(client) for _ in range(WRITERS)))
    return acknowledged


async def test_links_and_published_visits_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (key,) = await asyncio.to_thread(issue_api_keys, data_dir, "alice")
    # The first server stores no visits itself (no analytics consumer), so every visit it published
    # must come back from the event log after the crash.
    first = await asyncio.to_thread(
        start_shortener, data_dir, tmp_path / "first.log", SCALEBOX_SHORTENER_WORKERS="false"
    )
    try:
        headers = {"X-Api-Key": key, "User-Agent": BROWSER}
        async with httpx.AsyncClient(base_url=first.url, timeout=10, headers=headers) as client:
            before = {}
            for number in range(LINKS_BEFORE):
                body = (
                    await client.post(
                        "/rest/v3/short-urls", json={"longUrl": f"https://example.com/{number}"}
                    )
                ).json()
                before[body["shortCode"]] = body["longUrl"]
            for code in before:
                for _ in range(VISITS_PER_LINK):
                    assert (await client.get(f"/{code}")).status_code == 302
        visits = LINKS_BEFORE * VISITS_PER_LINK
        await asyncio.to_thread(
            wait_until,
            lambda: published_visits(first.url) == visits,
            timeout_seconds=TIMEOUT_SECONDS,
            describe=first.log_tail,
        )
        kill = asyncio.Event()

        async def killer() -> None:
            await kill.wait()
            first.kill()  # SIGKILL: no shutdown code, no flush

        killing = asyncio.create_task(killer())
        acknowledged = await create_until_killed(first.url, key, kill)
        await asyncio.wait_for(killing, timeout=10)
    finally:
        first.stop()
    assert first.process.returncode == -9
    assert KILL_AFTER_ACKS <= len(acknowledged) < CREATES, "the kill did not land mid-stream"

    second = await asyncio.to_thread(start_shortener, data_dir, tmp_path / "second.log")
    try:
        async with httpx.AsyncClient(
            base_url=second.url, timeout=10, headers={"User-Agent": BROWSER}
        ) as client:
            for code, long_url in {**before, **acknowledged}.items():
                response = await client.get(f"/{code}")
                assert (response.status_code, response.headers.get("location")) == (302, long_url), code

            async def stored() -> int:
                summary = (await client.get("/rest/v3/visits", headers={"X-Api-Key": key})).json()
                return int(summary["visits"]["nonOrphanVisits"]["total"])

            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT_SECONDS
            # The visits published before the kill, plus the redirects just made by this check.
            expected = visits + len(before) + len(acknowledged)
            while (count := await stored()) != expected:
                assert count < expected, f"stored {count} visits, more than the {expected} published"
                assert loop.time() < deadline, (
                    f"only {count} of {expected} visits stored\n{second.log_tail()}"
                )
                await asyncio.sleep(0.05)
    finally:
        second.stop()
