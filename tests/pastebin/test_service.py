"""PasteService and Upkeep over real SQLite and the memory adapters, with FakeClock time.

Background work is driven one step at a time: `work_off_events` is one pass of the event worker,
`upkeep.reap()` one pass of the reaper, `pastes.flush_views()` one pass of the view flusher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event

from scalebox.core.blobs import BlobStore
from scalebox.core.clock import FakeClock
from scalebox.core.errors import ForbiddenError
from scalebox.core.events import consume_once
from scalebox.pastebin.app import Pastebin
from scalebox.pastebin.domain import Visibility, blob_key, highlight_prefix
from scalebox.pastebin.errors import (
    AccountBannedError,
    PasswordRequiredError,
    PasteNotFoundError,
    SecretDetectedError,
)
from scalebox.pastebin.service import TOPIC, RateLimitedError, Upkeep, Viewer
from tests.pastebin.factories import make_draft, make_request, open_test_pastebin

ANONYMOUS = Viewer(ip="192.0.2.1")
ALICE = Viewer(account_id=1, ip="192.0.2.2")
BOB = Viewer(account_id=2, ip="192.0.2.3")
ADMIN = Viewer(account_id=99, is_admin=True, ip="192.0.2.4")
GRACE_SECONDS = 3600.0
AWS_KEY_LINE = "aws_access_key_id = " + "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def pb(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Pastebin]:
    async with open_test_pastebin(tmp_path, clock=clock, orphan_grace_seconds=GRACE_SECONDS) as pastebin:
        yield pastebin


async def work_off_events(pb: Pastebin) -> int:
    """One pass of the event worker: highlight, scan and index every paste event published so far."""
    return await consume_once(pb.events, TOPIC, "test-workers", pb.upkeep.on_paste_event)


async def keys_under(blobs: BlobStore, prefix: str) -> list[str]:
    return [info.key async for info in blobs.list(prefix)]


# -- create ------------------------------------------------------------------------------------


async def test_create_stores_identical_content_once(pb):
    first = await pb.pastes.create(make_request(content="same text\n", title="one"), ANONYMOUS)
    second = await pb.pastes.create(make_request(content="same text\n", title="two"), ANONYMOUS)

    assert first.paste.id != second.paste.id
    assert first.paste.files[0].content_hash == second.paste.files[0].content_hash
    assert await keys_under(pb.blobs, "content/") == [blob_key(first.paste.files[0].content_hash)]


async def test_create_then_open_returns_every_file_in_order(pb):
    request = make_request(files=[make_draft(content="first", name="a.txt"), make_draft(content="second")])
    created = await pb.pastes.create(request, ANONYMOUS)

    opened = await pb.pastes.open(created.paste.id, ANONYMOUS)

    assert opened.texts == ("first", "second")
    assert [f.name for f in opened.paste.files] == ["a.txt", None]
    assert not opened.burned


async def test_create_guesses_the_lexer_when_none_is_given(pb):
    created = await pb.pastes.create(
        make_request(files=[make_draft(content="fn main() {}\n", lexer=None, name="main.rs")]), ANONYMOUS
    )

    assert created.paste.files[0].lexer == "rust"


async def test_create_refuses_a_banned_account(pb):
    with pytest.raises(AccountBannedError):
        await pb.pastes.create(make_request(), Viewer(account_id=5, banned=True))


# -- burn after reading ------------------------------------------------------------------------


async def test_burn_after_reading_lets_exactly_one_of_twenty_concurrent_readers_win(pb):
    created = await pb.pastes.create(make_request(content="once only", burn_after_reading=True), ANONYMOUS)

    results = await asyncio.gather(
        *(pb.pastes.open(created.paste.id, ANONYMOUS) for _ in range(20)), return_exceptions=True
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert winners[0].texts == ("once only",)
    assert winners[0].burned
    losers = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, PasteNotFoundError) for r in losers), losers
    with pytest.raises(PasteNotFoundError):
        await pb.pastes.open(created.paste.id, ANONYMOUS)


async def test_burn_after_reading_survives_a_wrong_password(pb):
    created = await pb.pastes.create(
        make_request(content="burn me", burn_after_reading=True, password="right"), ANONYMOUS
    )

    with pytest.raises(PasswordRequiredError):
        await pb.pastes.open(created.paste.id, ANONYMOUS, password="wrong")

    opened = await pb.pastes.open(created.paste.id, ANONYMOUS, password="right")
    assert opened.texts == ("burn me",)
    assert opened.burned


# -- expiry and the reaper ---------------------------------------------------------------------


async def test_open_raises_not_found_once_expired_before_the_reaper_runs(pb, clock):
    created = await pb.pastes.create(make_request(expiry="10min"), ANONYMOUS)
    await pb.pastes.open(created.paste.id, ANONYMOUS)  # also fills the metadata cache

    clock.advance(seconds=600 - 1)
    await pb.pastes.open(created.paste.id, ANONYMOUS)
    clock.advance(seconds=1)

    with pytest.raises(PasteNotFoundError):
        await pb.pastes.open(created.paste.id, ANONYMOUS)
    with pytest.raises(PasteNotFoundError):
        await pb.pastes.get(created.paste.id, ANONYMOUS)
    assert await pb.pastes.repo.get(created.paste.id) is not None  # not reaped yet, only refused


async def test_reap_deletes_expired_pastes_then_orphan_blobs_after_the_grace(pb, clock):
    ephemeral = await pb.pastes.create(make_request(content="ephemeral text", expiry="10min"), ANONYMOUS)
    shared_expiring = await pb.pastes.create(make_request(content="shared text", expiry="10min"), ANONYMOUS)
    shared_kept = await pb.pastes.create(make_request(content="shared text", expiry="never"), ANONYMOUS)
    lonely = ephemeral.paste.files[0].content_hash
    shared = shared_kept.paste.files[0].content_hash
    await work_off_events(pb)  # stores highlight renders for every paste
    assert await keys_under(pb.blobs, highlight_prefix(lonely))
    assert await keys_under(pb.blobs, highlight_prefix(shared))

    clock.advance(seconds=600)
    reaped = await pb.upkeep.reap()

    assert (reaped.pastes, reaped.blobs) == (2, 0)
    assert await pb.pastes.repo.get(ephemeral.paste.id) is None
    assert await pb.pastes.repo.get(shared_expiring.paste.id) is None
    assert await pb.blobs.exists(blob_key(lonely))  # still inside the grace period

    clock.advance(seconds=GRACE_SECONDS)
    reaped = await pb.upkeep.reap()

    assert (reaped.pastes, reaped.blobs) == (0, 1)
    assert not await pb.blobs.exists(blob_key(lonely))
    assert await keys_under(pb.blobs, highlight_prefix(lonely)) == []
    assert await pb.blobs.exists(blob_key(shared))
    assert await keys_under(pb.blobs, highlight_prefix(shared))
    assert (await pb.pastes.open(shared_kept.paste.id, ANONYMOUS)).texts == ("shared text",)
    assert (await pb.upkeep.reap()).blobs == 0


async def test_reap_deletes_the_blob_of_a_removed_paste_after_the_grace(pb, clock):
    created = await pb.pastes.create(make_request(content="take it back"), ANONYMOUS)
    await pb.pastes.remove_by_token(created.removal_token)

    clock.advance(seconds=GRACE_SECONDS + 1)

    assert (await pb.upkeep.reap()).blobs == 1
    assert await keys_under(pb.blobs, "content/") == []


class PausingBlobStore:
    """A BlobStore that holds every delete until released, to interleave the reaper with a create."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.delete_reached = asyncio.Event()
        self.release = asyncio.Event()

    async def put(self, key: str, data: bytes) -> None:
        await self.inner.put(key, data)

    async def get(self, key: str) -> bytes:
        return await self.inner.get(key)

    async def get_range(self, key: str, start: int, end: int) -> bytes:
        return await self.inner.get_range(key, start, end)

    async def delete(self, key: str) -> bool:
        self.delete_reached.set()
        await self.release.wait()
        return await self.inner.delete(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    def list(self, prefix: str = ""):
        return self.inner.list(prefix)

    async def close(self) -> None:
        await self.inner.close()


async def test_reap_keeps_a_blob_that_a_new_paste_references_while_the_reaper_runs(pb, clock):
    old = await pb.pastes.create(make_request(content="comes back"), ANONYMOUS)
    await pb.pastes.remove_by_token(old.removal_token)
    clock.advance(seconds=GRACE_SECONDS + 1)
    pausing = PausingBlobStore(pb.blobs)
    reaper = Upkeep(
        pastes=pb.pastes,
        repo=pb.pastes.repo,
        reports=pb.pastes.reports,
        blobs=pausing,
        events=pb.events,
        clock=clock,
        orphan_grace_seconds=GRACE_SECONDS,
    )
    reaping = asyncio.create_task(reaper.reap())
    await pausing.delete_reached.wait()  # the reaper has claimed the orphan and is about to delete it

    # The create sees the blob still there and reuses it; its metadata commit waits on the reaper.
    creating = asyncio.create_task(pb.pastes.create(make_request(content="comes back"), ANONYMOUS))
    await asyncio.sleep(0)  # let the create reach the database before the reaper goes on
    pausing.release.set()
    await asyncio.wait_for(reaping, timeout=30)
    again = await asyncio.wait_for(creating, timeout=30)

    opened = await pb.pastes.open(again.paste.id, ANONYMOUS)
    assert opened.texts == ("comes back",)


# -- passwords ---------------------------------------------------------------------------------


async def test_password_paste_is_readable_only_with_the_password(pb):
    created = await pb.pastes.create(make_request(content="top secret plan", password="hunter2"), ANONYMOUS)

    with pytest.raises(PasswordRequiredError):
        await pb.pastes.open(created.paste.id, ANONYMOUS)
    with pytest.raises(PasswordRequiredError):
        await pb.pastes.open(created.paste.id, ANONYMOUS, password="hunter3")
    opened = await pb.pastes.open(created.paste.id, ANONYMOUS, password="hunter2")
    assert opened.texts == ("top secret plan",)
    assert created.paste.encrypted


async def test_password_paste_never_stores_the_plaintext(pb):
    created = await pb.pastes.create(make_request(content="top secret plan", password="hunter2"), ANONYMOUS)
    await pb.pastes.open(created.paste.id, ANONYMOUS, password="hunter2")
    await work_off_events(pb)

    keys = await keys_under(pb.blobs, "")
    assert keys == [blob_key(created.paste.files[0].content_hash)]  # no highlight render either
    stored = await pb.blobs.get(keys[0])
    assert b"top secret plan" not in stored
    assert b"hunter2" not in stored
    assert await pb.cache.get(f"text:{created.paste.files[0].content_hash}") is None


async def test_password_paste_is_never_listed(pb):
    created = await pb.pastes.create(
        make_request(content="sealed words", password="pw", visibility=Visibility.PUBLIC), ANONYMOUS
    )
    await work_off_events(pb)

    assert created.paste.id not in [p.id for p in await pb.pastes.list_recent()]
    assert await pb.pastes.search("sealed words") == []


# -- visibility --------------------------------------------------------------------------------


async def test_private_paste_is_invisible_to_others_and_to_anonymous_readers(pb):
    created = await pb.pastes.create(make_request(content="mine", visibility=Visibility.PRIVATE), ALICE)

    assert (await pb.pastes.open(created.paste.id, ALICE)).texts == ("mine",)
    assert (await pb.pastes.open(created.paste.id, ADMIN)).texts == ("mine",)
    for stranger in (BOB, ANONYMOUS):
        with pytest.raises(PasteNotFoundError):
            await pb.pastes.open(created.paste.id, stranger)
        with pytest.raises(PasteNotFoundError):
            await pb.pastes.get(created.paste.id, stranger)


async def test_private_paste_is_never_listed_or_searchable(pb):
    created = await pb.pastes.create(
        make_request(content="private needle", visibility=Visibility.PRIVATE), ALICE
    )
    await work_off_events(pb)

    assert await pb.pastes.list_recent() == []
    assert await pb.pastes.search("needle") == []
    assert [p.id for p in await pb.pastes.list_mine(ALICE)] == [created.paste.id]
    assert await pb.pastes.list_mine(BOB) == []
    assert await pb.pastes.list_mine(ANONYMOUS) == []


# -- rate limits -------------------------------------------------------------------------------


async def test_create_raises_rate_limited_when_anonymous_exceeds_the_limit(tmp_path, clock):
    async with open_test_pastebin(tmp_path, clock=clock, create_limit_per_minute_anonymous=3) as pb:
        for _ in range(3):
            await pb.pastes.create(make_request(), ANONYMOUS)

        with pytest.raises(RateLimitedError) as caught:
            await pb.pastes.create(make_request(), ANONYMOUS)

        assert caught.value.retry_after_seconds == pytest.approx(60.0)
        assert await pb.pastes.repo.count(clock.now()) == 3
        await pb.pastes.create(make_request(), Viewer(ip="198.51.100.7"))  # another client is unaffected
        await pb.pastes.create(make_request(), ALICE)  # accounts have their own, larger limit
        clock.advance(seconds=60)
        await pb.pastes.create(make_request(), ANONYMOUS)


# -- secret scanning ---------------------------------------------------------------------------


async def test_create_raises_secret_detected_in_reject_mode_and_stores_nothing(tmp_path, clock):
    async with open_test_pastebin(tmp_path, clock=clock, secret_scan="reject") as pb:
        with pytest.raises(SecretDetectedError, match="aws-access-key-id on line 2") as caught:
            await pb.pastes.create(make_request(content=f"[default]\n{AWS_KEY_LINE}\n"), ANONYMOUS)

        assert "AKIA" not in str(caught.value)  # the message never repeats the secret
        assert await pb.pastes.repo.count(clock.now()) == 0
        assert await keys_under(pb.blobs, "") == []


async def test_worker_flags_a_secret_and_queues_a_report_in_flag_mode(pb):
    created = await pb.pastes.create(make_request(content=f"[default]\n{AWS_KEY_LINE}\n"), ANONYMOUS)
    clean = await pb.pastes.create(make_request(content="nothing to see\n"), ANONYMOUS)
    assert (await pb.pastes.repo.get(created.paste.id)).scan_verdict is None

    assert await work_off_events(pb) == 2

    flagged = await pb.pastes.repo.get(created.paste.id)
    assert flagged.scan_verdict == "aws-access-key-id on line 2"
    assert (await pb.pastes.repo.get(clean.paste.id)).scan_verdict is None
    queue = await pb.moderation.queue(ADMIN)
    assert [(item.report.paste_id, item.report.reporter_id) for item in queue] == [(created.paste.id, None)]
    assert "aws-access-key-id on line 2" in queue[0].report.reason
    assert "AKIA" not in queue[0].report.reason


async def test_worker_skips_scanning_when_scan_is_off(tmp_path, clock):
    async with open_test_pastebin(tmp_path, clock=clock, secret_scan="off") as pb:
        created = await pb.pastes.create(make_request(content=AWS_KEY_LINE), ANONYMOUS)
        await work_off_events(pb)

        assert (await pb.pastes.repo.get(created.paste.id)).scan_verdict is None
        assert await pb.pastes.reports.list_open(10) == []


# -- search ------------------------------------------------------------------------------------


async def test_worker_indexes_public_pastes_for_search_and_not_unlisted_ones(pb):
    public = await pb.pastes.create(
        make_request(content="needle in a haystack", visibility=Visibility.PUBLIC, title="Public"), ANONYMOUS
    )
    await pb.pastes.create(
        make_request(content="needle hidden away", visibility=Visibility.UNLISTED), ANONYMOUS
    )
    assert await pb.pastes.search("needle") == []  # the index lags creation until the worker runs

    await work_off_events(pb)

    assert [p.id for p in await pb.pastes.search("NEEDLE")] == [public.paste.id]
    assert [p.id for p in await pb.pastes.search("needle haystack")] == [public.paste.id]
    assert [p.id for p in await pb.pastes.search("public")] == [public.paste.id]  # the title counts
    assert await pb.pastes.search("needle hidden") == []
    assert await pb.pastes.search("") == []


async def test_worker_skips_a_paste_deleted_before_it_got_to_it(pb):
    created = await pb.pastes.create(make_request(visibility=Visibility.PUBLIC), ANONYMOUS)
    await pb.pastes.remove_by_token(created.removal_token)

    assert await work_off_events(pb) == 2  # the create and the delete event, both handled quietly
    assert await keys_under(pb.blobs, "html/") == []


# -- views and trending ------------------------------------------------------------------------


async def test_views_are_batched_until_flush(pb):
    created = await pb.pastes.create(make_request(visibility=Visibility.PUBLIC), ANONYMOUS)

    for _ in range(5):
        await pb.pastes.open(created.paste.id, ANONYMOUS)

    assert (await pb.pastes.repo.get(created.paste.id)).view_count == 0
    assert await pb.pastes.list_trending() == []
    assert await pb.pastes.flush_views() == 5
    assert (await pb.pastes.repo.get(created.paste.id)).view_count == 5
    assert await pb.pastes.flush_views() == 0


async def test_trending_ranks_listed_pastes_by_views_in_the_last_hour(pb, clock):
    quiet = await pb.pastes.create(make_request(content="quiet", visibility=Visibility.PUBLIC), ANONYMOUS)
    busy = await pb.pastes.create(make_request(content="busy", visibility=Visibility.PUBLIC), ANONYMOUS)
    unlisted = await pb.pastes.create(make_request(content="unlisted"), ANONYMOUS)
    for paste_id, reads in ((quiet.paste.id, 2), (busy.paste.id, 5), (unlisted.paste.id, 9)):
        for _ in range(reads):
            await pb.pastes.open(paste_id, ANONYMOUS)
    await pb.pastes.flush_views()

    assert [(p.id, n) for p, n in await pb.pastes.list_trending()] == [
        (busy.paste.id, 5),
        (quiet.paste.id, 2),
    ]

    clock.advance(seconds=50 * 60)
    for _ in range(4):
        await pb.pastes.open(quiet.paste.id, ANONYMOUS)
    await pb.pastes.flush_views()
    assert [(p.id, n) for p, n in await pb.pastes.list_trending()] == [
        (quiet.paste.id, 6),
        (busy.paste.id, 5),
    ]

    clock.advance(seconds=20 * 60)  # the first reads are now more than an hour old
    assert [(p.id, n) for p, n in await pb.pastes.list_trending()] == [(quiet.paste.id, 4)]


async def test_burn_after_reading_reads_are_not_counted_as_views(pb):
    created = await pb.pastes.create(make_request(burn_after_reading=True), ANONYMOUS)
    await pb.pastes.open(created.paste.id, ANONYMOUS)

    assert await pb.pastes.flush_views() == 0


# -- removal -----------------------------------------------------------------------------------


async def test_remove_by_token_deletes_the_paste_at_once(pb):
    created = await pb.pastes.create(make_request(), ANONYMOUS)
    await pb.pastes.open(created.paste.id, ANONYMOUS)  # cached metadata must not outlive removal

    assert await pb.pastes.remove_by_token(created.removal_token) == created.paste.id

    with pytest.raises(PasteNotFoundError):
        await pb.pastes.open(created.paste.id, ANONYMOUS)
    with pytest.raises(PasteNotFoundError):
        await pb.pastes.remove_by_token(created.removal_token)


@pytest.mark.parametrize("token", ["", "wrong", "x" * 65, "x" * 10_000])
async def test_remove_by_token_raises_not_found_when_token_is_unknown(pb, token):
    await pb.pastes.create(make_request(), ANONYMOUS)

    with pytest.raises(PasteNotFoundError):
        await pb.pastes.remove_by_token(token)


async def test_removal_token_is_stored_only_as_a_hash(pb):
    created = await pb.pastes.create(make_request(), ANONYMOUS)

    stored = await pb.pastes.repo.get(created.paste.id)
    assert created.removal_token not in stored.removal_hash
    assert len(created.removal_token) == 24


async def test_delete_by_the_owner_removes_the_paste(pb):
    created = await pb.pastes.create(make_request(), ALICE)

    await pb.pastes.delete(created.paste.id, ALICE)

    with pytest.raises(PasteNotFoundError):
        await pb.pastes.open(created.paste.id, ALICE)


@pytest.mark.parametrize("viewer", [BOB, ANONYMOUS], ids=["other-user", "anonymous"])
async def test_delete_raises_forbidden_when_viewer_is_not_the_owner(pb, viewer):
    created = await pb.pastes.create(make_request(), ALICE)

    with pytest.raises(ForbiddenError):
        await pb.pastes.delete(created.paste.id, viewer)

    assert (await pb.pastes.open(created.paste.id, ALICE)).texts


async def test_delete_by_an_admin_removes_anyones_paste(pb):
    created = await pb.pastes.create(make_request(), ANONYMOUS)

    await pb.pastes.delete(created.paste.id, ADMIN)

    assert await pb.pastes.repo.get(created.paste.id) is None


async def test_delete_of_an_anonymous_paste_is_forbidden_to_anonymous_readers(pb):
    created = await pb.pastes.create(make_request(), ANONYMOUS)

    with pytest.raises(ForbiddenError):
        await pb.pastes.delete(created.paste.id, ANONYMOUS)


# -- moderation --------------------------------------------------------------------------------


async def test_hiding_a_reported_anonymous_paste_hides_it_from_everyone_but_admins(pb):
    created = await pb.pastes.create(make_request(visibility=Visibility.PUBLIC), ANONYMOUS)
    report = await pb.pastes.report(created.paste.id, "phishing", BOB)
    await pb.pastes.open(created.paste.id, ANONYMOUS)  # fills the metadata cache

    await pb.moderation.act(ADMIN, report.id, "hide")

    with pytest.raises(PasteNotFoundError):
        await pb.pastes.open(created.paste.id, ANONYMOUS)
    assert await pb.pastes.list_recent() == []
    assert (await pb.pastes.open(created.paste.id, ADMIN)).texts
    assert await pb.moderation.queue(ADMIN) == []


async def test_worker_sheds_highlighting_ahead_when_it_is_behind_but_still_scans_and_indexes(pb, clock):
    created = await pb.pastes.create(
        make_request(content="searchable words here\n", visibility=Visibility.PUBLIC), ANONYMOUS
    )
    clock.advance(seconds=pb.upkeep.highlight_ahead_max_lag_seconds + 1)  # the worker is behind

    await work_off_events(pb)

    digest = created.paste.files[0].content_hash
    assert await keys_under(pb.blobs, highlight_prefix(digest)) == []  # shed
    assert [p.id for p in await pb.pastes.search("searchable")] == [created.paste.id]  # indexed anyway
    opened = await pb.pastes.open(created.paste.id, ANONYMOUS)
    await pb.pastes.highlighted(opened.paste, opened.paste.files[0], opened.texts[0])  # the first read
    assert await keys_under(pb.blobs, highlight_prefix(digest))  # renders and keeps it


async def test_concurrent_metadata_misses_share_one_database_read(pb):
    created = await pb.pastes.create(make_request(content="viral\n"), ANONYMOUS)
    await pb.pastes.forget(created.paste.id)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM pastebin_pastes" in statement:
            statements.append(statement)

    event.listen(pb.engine.sync_engine, "before_cursor_execute", record)  # watch the real SQL
    try:
        pastes = await asyncio.gather(*(pb.pastes.get(created.paste.id, ANONYMOUS) for _ in range(20)))
    finally:
        event.remove(pb.engine.sync_engine, "before_cursor_execute", record)

    assert len(statements) == 1
    assert {p.id for p in pastes} == {created.paste.id}
