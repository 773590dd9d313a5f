"""SingleFlight: one load per key at a time, shared by every caller that arrives while it runs."""

from __future__ import annotations

import asyncio

import pytest

from scalebox.core.singleflight import SingleFlight

TIMEOUT_SECONDS = 10.0


async def test_concurrent_callers_share_one_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return 42

    callers = [asyncio.create_task(flight.run("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    assert len(flight) == 1
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*callers), TIMEOUT_SECONDS) == [42] * 5
    assert loads == 1
    assert len(flight) == 0
    assert await flight.run("k", load) == 42  # done loads are not cached: a later call loads again
    assert loads == 2


async def test_a_failed_load_fails_every_waiter_and_is_not_remembered() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise ConnectionError("database down")

    callers = [asyncio.create_task(flight.run("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), TIMEOUT_SECONDS)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert len(flight) == 0


async def test_a_cancelled_waiter_does_not_cancel_the_load() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def load() -> int:
        await release.wait()
        return 7

    first = asyncio.create_task(flight.run("k", load))
    await asyncio.sleep(0)
    second = asyncio.create_task(flight.run("k", load))
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    assert await asyncio.wait_for(first, TIMEOUT_SECONDS) == 7
