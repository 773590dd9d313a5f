"""The PasteRepository and ReportRepository contract, over SQLite and PostgreSQL.

The schema comes from the pastebin's Alembic migrations, so the migrations are under test as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.db import open_engine, sqlite_url, upgrade
from scalebox.pastebin.domain import Visibility
from scalebox.pastebin.errors import IdCollisionError
from scalebox.pastebin.storage.sql import SqlPasteRepository, SqlReportRepository
from tests.pastebin.factories import T0, make_paste, make_paste_file

HOUR = timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "pastebin.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(database_url)
    await upgrade(engine, "scalebox.pastebin.migrations", version_table="alembic_version_pastebin")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repo(engine) -> SqlPasteRepository:
    return SqlPasteRepository(engine)


@pytest.fixture
def reports(engine) -> SqlReportRepository:
    return SqlReportRepository(engine)


async def test_upgrade_creates_every_table_and_is_idempotent(engine):
    await upgrade(engine, "scalebox.pastebin.migrations", version_table="alembic_version_pastebin")

    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))

    expected = {"pastebin_pastes", "pastebin_files", "pastebin_contents", "pastebin_views"}
    assert expected | {"pastebin_terms", "pastebin_reports", "alembic_version_pastebin"} <= names


# -- add / get ---------------------------------------------------------------------------------


async def test_add_then_get_round_trips_every_field(repo):
    paste = make_paste(
        owner_id=2**40,
        title="Deploy notes \u2014 caf\u00e9 \U0001f680",
        visibility=Visibility.UNLISTED,
        created_at=T0 + timedelta(microseconds=123456),
        expires_at=T0 + timedelta(days=1),
        files=(
            make_paste_file(position=0, name="main.py", text="print(1)\n"),
            make_paste_file(position=1, name=None, lexer="text", text="notes"),
        ),
        source="api",
        scan_verdict="jwt on line 1",
    )

    await repo.add(paste, T0)

    assert await repo.get(paste.id) == paste


async def test_get_returns_aware_utc_datetimes(repo):
    plus_two = timezone(timedelta(hours=2))
    paste = make_paste(created_at=T0.astimezone(plus_two), expires_at=(T0 + HOUR).astimezone(plus_two))
    await repo.add(paste, T0)

    got = await repo.get(paste.id)

    assert got is not None
    assert got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.created_at == T0
    assert got.expires_at == T0 + HOUR
    assert got.expires_at is not None
    assert got.expires_at.utcoffset() == timedelta(0)


async def test_get_returns_none_when_paste_is_unknown(repo):
    assert await repo.get("nosuchpaste") is None


async def test_get_by_removal_hash_finds_the_paste(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    assert await repo.get_by_removal_hash(paste.removal_hash) == paste
    assert await repo.get_by_removal_hash("0" * 64) is None


async def test_add_raises_id_collision_when_id_is_taken_and_keeps_the_first(repo):
    first = make_paste(title="first")
    await repo.add(first, T0)
    second = make_paste(id=first.id, title="second", files=(make_paste_file(text="other"),))

    with pytest.raises(IdCollisionError):
        await repo.add(second, T0)

    assert await repo.get(first.id) == first


# -- delete ------------------------------------------------------------------------------------


async def test_delete_returns_true_once_then_false(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    assert await repo.delete(paste.id) is True
    assert await repo.delete(paste.id) is False
    assert await repo.get(paste.id) is None


async def test_delete_returns_false_when_paste_is_unknown(repo):
    assert await repo.delete("nosuchpaste") is False


async def test_delete_returns_true_to_exactly_one_of_ten_concurrent_callers(repo):
    paste = make_paste(burn_after_reading=True)
    await repo.add(paste, T0)

    results = await asyncio.gather(*(repo.delete(paste.id) for _ in range(10)))

    assert sorted(results) == [False] * 9 + [True]


# -- discovery ---------------------------------------------------------------------------------


async def add_discovery_set(repo):
    """One listed paste and one of each kind discovery must withhold; all created at T0."""
    listed = make_paste(title="listed")
    withheld = [
        make_paste(visibility=Visibility.UNLISTED),
        make_paste(visibility=Visibility.PRIVATE, owner_id=1),
        make_paste(burn_after_reading=True),
        make_paste(encrypted=True),
        make_paste(hidden=True),
        make_paste(expires_at=T0 + HOUR),
    ]
    for paste in [listed, *withheld]:
        await repo.add(paste, T0)
    return listed, withheld


async def test_list_recent_shows_only_listed_pastes(repo):
    listed, _withheld = await add_discovery_set(repo)

    assert await repo.list_recent(T0 + HOUR, limit=50) == [listed]


async def test_list_recent_shows_a_paste_until_it_expires(repo):
    paste = make_paste(expires_at=T0 + HOUR)
    await repo.add(paste, T0)

    assert await repo.list_recent(T0 + HOUR - timedelta(seconds=1), limit=50) == [paste]
    assert await repo.list_recent(T0 + HOUR, limit=50) == []


async def test_list_recent_is_newest_first_and_limited(repo):
    pastes = [make_paste(created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    for paste in pastes:
        await repo.add(paste, T0)

    recent = await repo.list_recent(T0 + HOUR, limit=3)

    assert [p.id for p in recent] == [p.id for p in reversed(pastes)][:3]


async def test_list_by_owner_pages_newest_first_whatever_the_visibility(repo):
    mine = [
        make_paste(owner_id=7, visibility=v, created_at=T0 + timedelta(minutes=i))
        for i, v in enumerate([Visibility.PUBLIC, Visibility.PRIVATE, Visibility.UNLISTED])
    ]
    for paste in [*mine, make_paste(owner_id=8)]:
        await repo.add(paste, T0)

    assert [p.id for p in await repo.list_by_owner(7, limit=2)] == [mine[2].id, mine[1].id]
    assert [p.id for p in await repo.list_by_owner(7, limit=2, offset=2)] == [mine[0].id]


async def test_count_counts_only_live_pastes(repo):
    await repo.add(make_paste(expires_at=T0 + HOUR), T0)
    await repo.add(make_paste(expires_at=None), T0)

    assert await repo.count(T0) == 2
    assert await repo.count(T0 + HOUR) == 1


# -- views and trending ------------------------------------------------------------------------


async def test_add_views_adds_to_the_total_view_count(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    await repo.add_views({paste.id: 3}, T0)
    await repo.add_views({paste.id: 4}, T0 + timedelta(minutes=5))

    got = await repo.get(paste.id)
    assert got is not None
    assert got.view_count == 7


async def test_list_trending_ranks_by_views_in_buckets_since_the_given_time(repo):
    old_hit, steady, new = make_paste(), make_paste(), make_paste()
    for paste in (old_hit, steady, new):
        await repo.add(paste, T0)
    await repo.add_views({old_hit.id: 100, steady.id: 2}, T0)  # before the window
    await repo.add_views({steady.id: 3, new.id: 5}, T0 + HOUR)
    await repo.add_views({steady.id: 4, old_hit.id: 1}, T0 + HOUR + timedelta(minutes=5))

    trending = await repo.list_trending(T0 + HOUR, T0 + 2 * HOUR, limit=10)

    assert [(p.id, n) for p, n in trending] == [(steady.id, 7), (new.id, 5), (old_hit.id, 1)]


async def test_list_trending_merges_views_added_to_the_same_bucket(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    await repo.add_views({paste.id: 2}, T0)
    await repo.add_views({paste.id: 3}, T0)

    assert [(p.id, n) for p, n in await repo.list_trending(T0, T0, limit=10)] == [(paste.id, 5)]


async def test_list_trending_shows_only_listed_pastes(repo):
    listed, withheld = await add_discovery_set(repo)
    await repo.add_views({p.id: 10 for p in [listed, *withheld]}, T0)

    trending = await repo.list_trending(T0, T0 + HOUR, limit=10)

    assert [(p.id, n) for p, n in trending] == [(listed.id, 10)]


async def test_list_trending_respects_the_limit(repo):
    pastes = [make_paste() for _ in range(4)]
    for paste in pastes:
        await repo.add(paste, T0)
    await repo.add_views({p.id: i + 1 for i, p in enumerate(pastes)}, T0)

    trending = await repo.list_trending(T0, T0, limit=2)

    assert [p.id for p, _ in trending] == [pastes[3].id, pastes[2].id]


async def test_add_views_ignores_deleted_pastes(repo):
    kept, gone = make_paste(), make_paste()
    await repo.add(kept, T0)
    await repo.add(gone, T0)
    await repo.delete(gone.id)

    await repo.add_views({kept.id: 2, gone.id: 5, "neverexisted": 1}, T0)

    got = await repo.get(kept.id)
    assert got is not None
    assert got.view_count == 2
    assert [(p.id, n) for p, n in await repo.list_trending(T0, T0, limit=10)] == [(kept.id, 2)]


async def test_add_views_does_nothing_when_counts_are_empty(repo):
    await repo.add_views({}, T0)


async def test_prune_views_drops_buckets_before_the_cutoff(repo):
    paste = make_paste()
    await repo.add(paste, T0)
    await repo.add_views({paste.id: 1}, T0)
    await repo.add_views({paste.id: 2}, T0 + HOUR)

    assert await repo.prune_views(T0 + HOUR) == 1
    assert [n for _, n in await repo.list_trending(T0, T0 + HOUR, limit=10)] == [2]


# -- expiry and orphan contents ----------------------------------------------------------------


async def test_delete_expired_deletes_only_pastes_expired_by_now(repo):
    soon = make_paste(expires_at=T0 + timedelta(minutes=10))
    exactly_now = make_paste(expires_at=T0 + HOUR)
    later = make_paste(expires_at=T0 + 2 * HOUR)
    never = make_paste(expires_at=None)
    for paste in (soon, exactly_now, later, never):
        await repo.add(paste, T0)

    deleted = await repo.delete_expired(T0 + HOUR, limit=100)

    assert sorted(deleted) == sorted([soon.id, exactly_now.id])
    assert await repo.get(soon.id) is None
    assert await repo.get(later.id) == later
    assert await repo.get(never.id) == never


async def test_delete_expired_deletes_at_most_limit_oldest_first(repo):
    pastes = [make_paste(expires_at=T0 + timedelta(minutes=i)) for i in (3, 1, 2)]
    for paste in pastes:
        await repo.add(paste, T0)

    assert await repo.delete_expired(T0 + HOUR, limit=2) == [pastes[1].id, pastes[2].id]
    assert await repo.delete_expired(T0 + HOUR, limit=2) == [pastes[0].id]
    assert await repo.delete_expired(T0 + HOUR, limit=2) == []


async def test_list_orphan_contents_is_empty_while_every_content_is_referenced(repo):
    await repo.add(make_paste(), T0)

    assert await repo.list_orphan_contents(T0 + 24 * HOUR, limit=10) == []


async def test_list_orphan_contents_waits_for_the_grace_period(repo):
    paste = make_paste(files=(make_paste_file(text="lonely"),))
    await repo.add(paste, T0)
    await repo.delete(paste.id)
    digest = paste.files[0].content_hash

    assert await repo.list_orphan_contents(T0, limit=10) == []  # last referenced at T0, not before
    assert await repo.list_orphan_contents(T0 + timedelta(seconds=1), limit=10) == [digest]


async def test_list_orphan_contents_keeps_a_content_another_paste_still_references(repo):
    shared = make_paste_file(text="shared text")
    first, second = make_paste(files=(shared,)), make_paste(files=(shared,))
    await repo.add(first, T0)
    await repo.add(second, T0)

    await repo.delete(first.id)
    assert await repo.list_orphan_contents(T0 + HOUR, limit=10) == []

    await repo.delete(second.id)
    assert await repo.list_orphan_contents(T0 + HOUR, limit=10) == [shared.content_hash]


async def test_list_orphan_contents_restarts_the_grace_when_a_paste_references_it_again(repo):
    file = make_paste_file(text="again")
    first = make_paste(files=(file,))
    await repo.add(first, T0)
    await repo.delete(first.id)
    second = make_paste(files=(file,))
    await repo.add(second, T0 + 2 * HOUR)
    await repo.delete(second.id)

    assert await repo.list_orphan_contents(T0 + HOUR, limit=10) == []
    assert await repo.list_orphan_contents(T0 + 3 * HOUR, limit=10) == [file.content_hash]


async def test_list_orphan_contents_after_delete_expired(repo):
    paste = make_paste(expires_at=T0 + HOUR, files=(make_paste_file(text="ephemeral"),))
    await repo.add(paste, T0)
    await repo.delete_expired(T0 + HOUR, limit=10)

    assert await repo.list_orphan_contents(T0 + 2 * HOUR, limit=10) == [paste.files[0].content_hash]


async def test_reap_content_forgets_an_orphan_and_deletes_its_blobs_inside(repo):
    paste = make_paste(files=(make_paste_file(text="a"), make_paste_file(position=1, text="b")))
    await repo.add(paste, T0)
    await repo.delete(paste.id)
    orphans = await repo.list_orphan_contents(T0 + HOUR, limit=10)
    assert sorted(orphans) == sorted(f.content_hash for f in paste.files)
    deleted: list[str] = []

    async def delete_blobs(digest=orphans[0]):
        deleted.append(digest)

    assert await repo.reap_content(orphans[0], T0 + HOUR, delete_blobs)
    assert deleted == [orphans[0]]
    assert await repo.list_orphan_contents(T0 + HOUR, limit=10) == orphans[1:]


async def test_reap_content_refuses_a_content_referenced_again(repo):
    first = make_paste(files=(make_paste_file(text="again"),))
    await repo.add(first, T0)
    await repo.delete(first.id)
    [digest] = await repo.list_orphan_contents(T0 + HOUR, limit=10)
    await repo.add(make_paste(files=(make_paste_file(text="again"),)), T0 + HOUR)  # referenced again
    called = []

    async def delete_blobs():
        called.append(True)

    assert not await repo.reap_content(digest, T0 + 2 * HOUR, delete_blobs)
    assert called == []


async def test_list_orphan_contents_respects_the_limit(repo):
    for i in range(3):
        paste = make_paste(files=(make_paste_file(text=f"orphan {i}"),))
        await repo.add(paste, T0)
        await repo.delete(paste.id)

    assert len(await repo.list_orphan_contents(T0 + HOUR, limit=2)) == 2


# -- flags -------------------------------------------------------------------------------------


async def test_set_scan_verdict_and_set_hidden_update_the_paste(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    await repo.set_scan_verdict(paste.id, "aws-access-key-id on line 2")
    await repo.set_hidden(paste.id, True)

    assert await repo.get(paste.id) == replace(paste, scan_verdict="aws-access-key-id on line 2", hidden=True)
    await repo.set_hidden(paste.id, False)
    await repo.set_scan_verdict(paste.id, None)
    assert await repo.get(paste.id) == paste


# -- search ------------------------------------------------------------------------------------


async def test_search_returns_listed_pastes_holding_every_term(repo):
    both = make_paste(created_at=T0)
    newer_both = make_paste(created_at=T0 + timedelta(minutes=1))
    only_one = make_paste()
    for paste, words in [
        (both, {"redis", "timeout", "python"}),
        (newer_both, {"redis", "timeout"}),
        (only_one, {"redis"}),
    ]:
        await repo.add(paste, T0)
        await repo.index_terms(paste.id, words)

    assert [p.id for p in await repo.search(["redis", "timeout"], T0, limit=10)] == [newer_both.id, both.id]
    assert [p.id for p in await repo.search(["redis"], T0, limit=1)] == [newer_both.id]
    assert await repo.search(["redis", "absent"], T0, limit=10) == []


async def test_search_counts_a_repeated_term_once(repo):
    paste = make_paste()
    await repo.add(paste, T0)
    await repo.index_terms(paste.id, ["redis"])

    assert await repo.search(["redis", "redis"], T0, limit=10) == [paste]


async def test_search_excludes_pastes_that_are_not_listed(repo):
    listed, withheld = await add_discovery_set(repo)
    for paste in [listed, *withheld]:
        await repo.index_terms(paste.id, ["needle"])

    assert await repo.search(["needle"], T0 + HOUR, limit=10) == [listed]


async def test_search_returns_nothing_when_there_are_no_terms(repo):
    paste = make_paste()
    await repo.add(paste, T0)
    await repo.index_terms(paste.id, ["word"])

    assert await repo.search([], T0, limit=10) == []


async def test_index_terms_replaces_the_previous_terms(repo):
    paste = make_paste()
    await repo.add(paste, T0)
    await repo.index_terms(paste.id, ["old"])

    await repo.index_terms(paste.id, ["new", "new"])

    assert await repo.search(["old"], T0, limit=10) == []
    assert await repo.search(["new"], T0, limit=10) == [paste]


async def test_index_terms_stores_large_term_sets(repo):
    paste = make_paste()
    await repo.add(paste, T0)

    await repo.index_terms(paste.id, [f"term{i}" for i in range(1200)])

    assert await repo.search(["term0", "term1199"], T0, limit=10) == [paste]


async def test_delete_removes_the_paste_from_search_and_trending(repo):
    paste = make_paste()
    await repo.add(paste, T0)
    await repo.index_terms(paste.id, ["gone"])
    await repo.add_views({paste.id: 3}, T0)

    await repo.delete(paste.id)

    assert await repo.search(["gone"], T0, limit=10) == []
    assert await repo.list_trending(T0, T0, limit=10) == []


# -- reports -----------------------------------------------------------------------------------


async def test_report_add_returns_the_stored_report(reports):
    report = await reports.add("p1", 42, "spam", T0)

    assert report.id > 0
    assert (report.paste_id, report.reporter_id, report.reason, report.created_at) == ("p1", 42, "spam", T0)
    assert report.resolved_at is None
    assert await reports.list_open(10) == [report]


async def test_report_list_open_is_oldest_first_and_limited(reports):
    made = [await reports.add(f"p{i}", None, "secret scanner: jwt on line 1", T0) for i in range(3)]

    assert await reports.list_open(2) == made[:2]
    assert all(r.created_at.tzinfo is not None for r in await reports.list_open(10))


async def test_report_resolve_returns_true_once_and_closes_the_report(reports):
    first = await reports.add("p1", None, "spam", T0)
    second = await reports.add("p2", None, "spam", T0)

    assert await reports.resolve(first.id, "dismissed", T0 + HOUR) is True
    assert await reports.resolve(first.id, "dismissed", T0 + HOUR) is False
    assert await reports.resolve(9999, "dismissed", T0 + HOUR) is False
    assert await reports.list_open(10) == [second]


async def test_report_resolve_for_paste_closes_every_open_report_of_that_paste(reports):
    a1 = await reports.add("a", 1, "spam", T0)
    await reports.add("a", 2, "phishing", T0)
    other = await reports.add("b", 1, "spam", T0)
    await reports.resolve(a1.id, "dismissed", T0)

    assert await reports.resolve_for_paste("a", "hide", T0 + HOUR) == 1
    assert await reports.resolve_for_paste("a", "hide", T0 + HOUR) == 0
    assert await reports.list_open(10) == [other]
