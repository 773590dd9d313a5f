"""The garbage collector's loop: a write that queued garbage gets it collected at once; a wake after
writes that queued nothing does not read the garbage table (most PUTs replace nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scalebox.objectstore.app import ObjectStore, open_objectstore
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import WriteRequest
from scalebox.objectstore.settings import ObjectStoreSettings

OWNER = Principal("AKOWNER", "owner", is_admin=False)
TIMEOUT_SECONDS = 10.0
BIG = b"x" * 4096  # over inline_bytes_max: stored as a shard set, which an overwrite makes garbage


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def objectstore(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    settings = ObjectStoreSettings(
        data_dir=tmp_path / "data", fsync=False, block_bytes=64 * 1024, inline_bytes_max=1024
    )
    async with open_objectstore(settings) as store:
        yield store


async def test_the_loop_collects_what_a_write_queued_and_skips_wakes_that_queued_nothing(
    objectstore: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, upkeep = objectstore, objectstore.upkeep
    reads = 0
    take_garbage = store.store.take_garbage

    async def counted(limit: int) -> list[tuple[int, str, int]]:
        nonlocal reads
        reads += 1
        return await take_garbage(limit)

    monkeypatch.setattr(store.store, "take_garbage", counted)

    async def put(key: str, data: bytes) -> None:
        await store.service.put_object(OWNER, "bucket", key, _body(data), WriteRequest(size=len(data)))

    async def settled(condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while not condition():  # noqa: ASYNC110  # conditions on plain state, no event to wait on
                await asyncio.sleep(0.01)

    await store.service.create_bucket(OWNER, "bucket")
    await put("big", BIG)
    loop = asyncio.create_task(upkeep._gc_loop(3600))  # the timer never fires in this test
    try:
        await settled(lambda: reads == 1)  # the first pass reads once (nothing queued yet)
        for number in range(5):  # new keys: each write wakes the loop, none queues garbage
            await put(f"small-{number}", b"tiny")
            # The loop clears the wake and decides in one step, so a cleared wake is a decided one.
            await settled(lambda: not upkeep.garbage_ready.is_set())
        assert reads == 1
        await put("big", BIG + b"again")  # the first version's shard set becomes garbage
        assert store.store.garbage_queued == 1
        await settled(lambda: reads >= 2 and not upkeep.garbage_ready.is_set())
        assert await take_garbage(10) == []  # collected: the table is empty again
    finally:
        loop.cancel()
