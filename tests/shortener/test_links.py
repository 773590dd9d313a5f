"""LinkService and SqlLinkRepository over real SQLite and PostgreSQL: create, idempotency, slugs, edit,
delete, listing, tags, the blocklist, and the cache tiers (LRU, Redis, invalidation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scalebox.core import db
from scalebox.core.cache import open_cache
from scalebox.core.clock import FakeClock
from scalebox.core.errors import ForbiddenError, InvalidError
from scalebox.core.events import MemoryEventBus
from scalebox.core.ratelimit import MemoryRateLimiter
from scalebox.shortener.domain import CodeCipher, Link, fold
from scalebox.shortener.errors import (
    BlockedDomainError,
    CreateLimitError,
    InvalidSlugError,
    InvalidUrlError,
    LinkNotFoundError,
    SlugTakenError,
    TagConflictError,
    TagNotFoundError,
)
from scalebox.shortener.ports import LinkQuery
from scalebox.shortener.service.links import Actor, Blocklist, Limits, LinkService, LinkSpec
from scalebox.shortener.service.redirects import LINKS_TOPIC, CacheSettings, LinkSource
from scalebox.shortener.storage import MIGRATIONS, VERSION_TABLE
from scalebox.shortener.storage.sql import SqlLinkRepository

ALICE = Actor(1, ip="10.0.0.1")
BOB = Actor(2, ip="10.0.0.2")
ADMIN = Actor(99, is_admin=True)
ANON = Actor(ip="10.0.0.9")


class Harness:
    def __init__(self, repo: SqlLinkRepository, clock: FakeClock, redis_url: str | None = None) -> None:
        self.repo = repo
        self.clock = clock
        self.events = MemoryEventBus(clock)
        self.shared = open_cache(redis_url, clock=clock) if redis_url else None
        self.source = LinkSource(
            repo.get,
            clock,
            CacheSettings(1000, 300.0, 2.0),
            load_many=self.load_many,
            shared=self.shared,
            events=self.events,
        )
        self.batches: list[int] = []
        self.during_load: Callable[[], Awaitable[object]] | None = None
        ids = iter(range(1, 10**9))
        self.service = LinkService(
            repo=repo,
            source=self.source,
            cipher=CodeCipher(b"s" * 32),
            new_id=lambda: next(ids),
            clock=clock,
            limiter=MemoryRateLimiter(clock),
            limits=Limits(
                create_per_minute_anonymous=3,
                create_per_minute_account=1000,
                bulk_links_max=5,
                code_block_size=10,
            ),
            blocklist=Blocklist(),
            own_hosts=["s.example"],
        )

    async def load_many(self, codes: Sequence[str]) -> dict[str, Link]:
        """The repository's `get_many`, counting batches; `during_load` runs after the read, as an edit
        committed while the refresh's query was in flight would."""
        self.batches.append(len(codes))
        found = await self.repo.get_many(codes)
        if self.during_load is not None:
            await self.during_load()
        return found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'links.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    engine = db.open_engine(database_url)
    await db.upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
    yield Harness(SqlLinkRepository(engine), FakeClock())
    await engine.dispose()


async def test_create_mints_a_seven_character_code_and_reads_back(harness: Harness) -> None:
    link, created = await harness.service.create(
        ALICE, LinkSpec("https://example.com/a", title="A", tags=("x", "Y"))
    )
    assert created
    assert len(link.code) == 7
    assert link.owner_id == 1
    stored = await harness.service.get(ALICE, link.code)
    assert stored.long_url == "https://example.com/a"
    assert stored.title == "A"
    assert stored.tags == ("x", "Y")
    assert await harness.service.get(ALICE, link.code.swapcase()) == stored  # codes are case-insensitive


async def test_codes_come_from_reserved_blocks(harness: Harness) -> None:
    codes = set()
    for index in range(25):  # three blocks of ten
        link, _ = await harness.service.create(ALICE, LinkSpec(f"https://example.com/{index}"))
        codes.add(link.code)
    assert len(codes) == 25
    assert await harness.repo.reserve_numbers(10) == 30


async def test_create_is_idempotent_for_the_same_owner_url_and_options(harness: Harness) -> None:
    first, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a", tags=("t",)))
    again, created = await harness.service.create(ALICE, LinkSpec("https://EXAMPLE.com/a", tags=("T",)))
    assert not created
    assert again.id == first.id
    other_options, created = await harness.service.create(
        ALICE, LinkSpec("https://example.com/a", title="new")
    )
    assert created
    assert other_options.id != first.id
    found, created = await harness.service.create(
        ALICE, LinkSpec("https://example.com/a", find_if_exists=True)
    )
    assert not created
    assert found.id == other_options.id
    forced, created = await harness.service.create(
        ALICE, LinkSpec("https://example.com/a", tags=("t",), find_if_exists=False)
    )
    assert created
    assert forced.id not in (first.id, other_options.id)
    bobs, created = await harness.service.create(BOB, LinkSpec("https://example.com/a", tags=("t",)))
    assert created
    assert bobs.owner_id == 2


async def test_custom_slugs_are_unique_case_insensitively(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a", custom_slug="Launch"))
    assert link.code == "Launch"
    assert link.custom
    with pytest.raises(SlugTakenError):
        await harness.service.create(BOB, LinkSpec("https://example.com/b", custom_slug="lAUNCH"))
    with pytest.raises(InvalidSlugError):
        await harness.service.create(ALICE, LinkSpec("https://example.com/b", custom_slug="api"))


async def test_a_minted_code_taken_by_a_slug_is_skipped(harness: Harness) -> None:
    cipher = CodeCipher(b"s" * 32)
    await harness.service.create(
        ALICE, LinkSpec("https://example.com/slug", custom_slug=cipher.code_for(0).lower())
    )
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/minted"))
    assert link.code == cipher.code_for(1)


async def test_bad_targets_and_blocked_domains_are_refused(harness: Harness) -> None:
    with pytest.raises(InvalidUrlError):
        await harness.service.create(ALICE, LinkSpec("javascript:alert(1)"))
    with pytest.raises(InvalidUrlError, match="itself"):
        await harness.service.create(ALICE, LinkSpec("https://s.example/loop"))
    await harness.service.block_domain(ADMIN, "evil.example", "phishing")
    with pytest.raises(BlockedDomainError):
        await harness.service.create(ALICE, LinkSpec("https://login.evil.example/"))
    with pytest.raises(ForbiddenError):
        await harness.service.block_domain(ALICE, "other.example")


async def test_blocking_a_domain_disables_existing_links_and_evicts_them(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://www.bad.example/x"))
    assert harness.source.cached(fold(link.code)) == (True, link)
    assert await harness.service.block_domain(ADMIN, "bad.example") == 1
    assert harness.source.cached(fold(link.code)) == (False, None)
    stored = await harness.service.get(ALICE, link.code)
    assert stored.disabled
    assert stored.disabled_reason == "blocked domain"
    with pytest.raises(BlockedDomainError):
        await harness.service.edit(ALICE, link.code, {"disabled": False})
    assert await harness.service.unblock_domain(ADMIN, "bad.example")
    assert not (await harness.service.edit(ALICE, link.code, {"disabled": False})).disabled


async def test_blocklist_file_is_merged_and_reloaded(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "blocklist.txt"
    path.write_text("# phishing\nfile.example\nnot a domain\n")
    harness.service.blocklist.file = path
    link, _ = await harness.service.create(ALICE, LinkSpec("https://file.example.org/ok"))
    target, _ = await harness.service.create(ALICE, LinkSpec("https://cdn.file.example/x"))
    # The link above was created before the file was read: the rescan disables it.
    assert await harness.service.rescan() == 1
    assert (await harness.service.get(ALICE, target.code)).disabled
    assert not (await harness.service.get(ALICE, link.code)).disabled


async def test_owners_see_only_their_links(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    with pytest.raises(LinkNotFoundError):
        await harness.service.get(BOB, link.code)
    with pytest.raises(LinkNotFoundError):
        await harness.service.edit(BOB, link.code, {"title": "mine now"})
    with pytest.raises(LinkNotFoundError):
        await harness.service.delete(BOB, link.code)
    assert (await harness.service.get(ADMIN, link.code)).id == link.id
    page, total = await harness.service.page(BOB, LinkQuery(owner_id=None))
    assert (page, total) == ([], 0)


async def test_anonymous_links_cannot_be_edited_and_are_rate_limited(harness: Harness) -> None:
    for index in range(3):
        await harness.service.create(ANON, LinkSpec(f"https://example.com/{index}"))
    with pytest.raises(CreateLimitError) as caught:
        await harness.service.create(ANON, LinkSpec("https://example.com/over"))
    assert caught.value.retry_after_seconds is not None
    harness.clock.advance(seconds=61)
    link, _ = await harness.service.create(ANON, LinkSpec("https://example.com/later"))
    with pytest.raises(ForbiddenError):
        await harness.service.edit(ANON, link.code, {"title": "x"})


async def test_edit_changes_fields_validates_and_invalidates(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a", tags=("old",)))
    assert harness.source.cached(fold(link.code))[0]
    edited = await harness.service.edit(
        ALICE,
        link.code,
        {
            "long_url": "https://example.org/b",
            "title": "T",
            "tags": ["new", "x"],
            "max_visits": 5,
            "redirect_type": 308,
        },
    )
    assert (edited.long_url, edited.target_host, edited.title, edited.tags) == (
        "https://example.org/b",
        "example.org",
        "T",
        ("new", "x"),
    )
    assert (edited.max_visits, edited.redirect_type) == (5, 308)
    assert harness.source.cached(fold(link.code)) == (False, None)
    assert [event.key for event in await harness.events.poll(LINKS_TOPIC, "g")] == [fold(link.code).encode()]
    assert await harness.service.get(ALICE, link.code) == edited
    cleared = await harness.service.edit(ALICE, link.code, {"title": None, "max_visits": None, "tags": None})
    assert (cleared.title, cleared.max_visits, cleared.tags) == (None, None, ())
    for bad in (
        {"redirect_type": 303},
        {"max_visits": 0},
        {"valid_since": harness.clock.now(), "valid_until": harness.clock.now()},
        {"colour": "red"},
    ):
        with pytest.raises(InvalidError):
            await harness.service.edit(ALICE, link.code, bad)


async def test_delete_removes_and_evicts(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a", tags=("t",)))
    await harness.service.delete(ALICE, link.code)
    with pytest.raises(LinkNotFoundError):
        await harness.service.get(ALICE, link.code)
    assert await harness.source.find(fold(link.code)) is None
    assert await harness.service.tags(ALICE) == []


async def test_bulk_create_reports_bad_rows_in_place(harness: Harness) -> None:
    results = await harness.service.create_many(
        ALICE,
        [
            LinkSpec("https://example.com/1"),
            LinkSpec("javascript:x"),
            LinkSpec("https://example.com/3", custom_slug="bulk-3"),
        ],
    )
    assert [type(result).__name__ for result in results] == ["Link", "InvalidUrlError", "Link"]
    with pytest.raises(InvalidError, match="at most 5"):
        await harness.service.create_many(ALICE, [LinkSpec(f"https://example.com/{i}") for i in range(6)])


async def test_listing_filters_orders_and_pages(harness: Harness) -> None:
    for index, (url, title, tags) in enumerate(
        [
            ("https://example.com/apple", "Fruit", ("food", "red")),
            ("https://example.com/brick", "Wall", ("red",)),
            ("https://example.com/cloud", "Sky 100%", ("food",)),
            ("https://example.com/dune", None, ()),
        ]
    ):
        await harness.service.create(ALICE, LinkSpec(url, title=title, tags=tags))
        harness.clock.advance(seconds=60 * (index + 1))
    await harness.service.create(BOB, LinkSpec("https://example.com/apple-bob", tags=("food",)))
    page, total = await harness.service.page(ALICE, LinkQuery(owner_id=None, limit=2))
    assert total == 4
    assert [link.long_url[-5:] for link in page] == ["/dune", "cloud"]
    page, _ = await harness.service.page(ALICE, LinkQuery(owner_id=None, limit=2, offset=2))
    assert [link.long_url[-5:] for link in page] == ["brick", "apple"]
    by_search, _ = await harness.service.page(ALICE, LinkQuery(owner_id=None, search="APP"))
    assert [link.title for link in by_search] == ["Fruit"]
    by_percent, _ = await harness.service.page(ALICE, LinkQuery(owner_id=None, search="100%"))
    assert [link.title for link in by_percent] == ["Sky 100%"]
    _any_tag, total = await harness.service.page(ALICE, LinkQuery(owner_id=None, tags=("FOOD", "red")))
    assert total == 3
    all_tags, total = await harness.service.page(
        ALICE, LinkQuery(owner_id=None, tags=("food", "red"), tags_mode="all")
    )
    assert total == 1
    assert all_tags[0].title == "Fruit"
    by_url, _ = await harness.service.page(
        ALICE, LinkQuery(owner_id=None, order_by="longUrl", descending=False)
    )
    assert [link.long_url[-5:] for link in by_url] == ["apple", "brick", "cloud", "/dune"]
    with pytest.raises(InvalidError):
        await harness.service.page(ALICE, LinkQuery(owner_id=None, limit=0))


async def test_listing_excludes_expired_links_when_asked(harness: Harness) -> None:
    now = harness.clock.now()
    await harness.service.create(
        ALICE, LinkSpec("https://example.com/old", valid_until=now + timedelta(seconds=10))
    )
    await harness.service.create(ALICE, LinkSpec("https://example.com/new"))
    harness.clock.advance(seconds=11)
    _, total = await harness.service.page(ALICE, LinkQuery(owner_id=None, exclude_past_valid_until=True))
    assert total == 1


async def test_tags_count_rename_and_delete(harness: Harness) -> None:
    await harness.service.create(ALICE, LinkSpec("https://example.com/1", tags=("news", "tech")))
    await harness.service.create(ALICE, LinkSpec("https://example.com/2", tags=("news",)))
    await harness.service.create(BOB, LinkSpec("https://example.com/3", tags=("news",)))
    assert [(tag.tag, tag.links) for tag in await harness.service.tags(ALICE)] == [("news", 2), ("tech", 1)]
    with pytest.raises(TagConflictError):
        await harness.service.rename_tag(ALICE, "news", "Tech")
    await harness.service.rename_tag(ALICE, "news", "world")
    assert [tag.tag for tag in await harness.service.tags(ALICE)] == ["tech", "world"]
    assert [tag.tag for tag in await harness.service.tags(BOB)] == ["news"]  # Bob's tag untouched
    with pytest.raises(TagNotFoundError):
        await harness.service.rename_tag(ALICE, "missing", "x")
    assert await harness.service.delete_tags(ALICE, ["TECH"]) == 1
    assert [tag.tag for tag in await harness.service.tags(ALICE)] == ["world"]


async def test_rules_are_stored_and_read_back(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    rules = [
        {
            "longUrl": "https://ios.example/",
            "conditions": [{"type": "device", "matchValue": "ios", "matchKey": None}],
        },
        {
            "longUrl": "https://q.example/",
            "conditions": [{"type": "query-param", "matchKey": "a", "matchValue": "b"}],
        },
    ]
    updated = await harness.service.set_rules(ALICE, link.code, rules)
    assert [rule.long_url for rule in updated.rules] == ["https://ios.example/", "https://q.example/"]
    assert (await harness.service.get(ALICE, link.code)).rules == updated.rules


async def test_the_source_caches_misses_briefly_and_clamps_to_validity(harness: Harness) -> None:
    assert await harness.source.find("nothing") is None
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    harness.source.lru.evict(fold(link.code))
    loads = harness.source.loads
    assert await harness.source.find(fold(link.code)) == link
    assert await harness.source.find(fold(link.code)) == link
    assert harness.source.loads == loads + 1
    assert await harness.source.find("nothing") is None  # negative entry, no load
    harness.clock.advance(seconds=3)
    assert await harness.source.find("nothing") is None
    assert harness.source.loads == loads + 2


async def test_concurrent_misses_share_one_load(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    harness.source.lru.evict(fold(link.code))
    loads = harness.source.loads
    results = await asyncio.gather(*(harness.source.find(fold(link.code)) for _ in range(20)))
    assert all(result == link for result in results)
    assert harness.source.loads == loads + 1


async def test_get_many_reads_links_with_their_tags_and_skips_unknown_codes(harness: Harness) -> None:
    tagged, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a", tags=("b", "A")))
    plain, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/b"))
    found = await harness.repo.get_many([fold(tagged.code), fold(plain.code), "nothing"])
    assert found == {fold(link.code): await harness.repo.get(fold(link.code)) for link in (tagged, plain)}
    assert found[fold(tagged.code)].tags == ("A", "b")
    assert await harness.repo.get_many([]) == {}


async def test_a_link_read_late_in_its_cached_life_is_refreshed_ahead_of_expiry(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    other, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/b"))
    for cached in (link, other):
        harness.source.lru.evict(fold(cached.code))
        assert await harness.source.find(fold(cached.code)) == cached
    loads = harness.source.loads
    harness.clock.advance(seconds=100)  # copies live 240-300 s; a read after three quarters marks one due
    assert harness.source.cached(fold(link.code)) == (True, link)
    assert not harness.source.lru.due
    harness.clock.advance(seconds=130)
    first = harness.source.cached(fold(link.code))[1]
    assert list(harness.source.lru.due) == [fold(link.code)]  # `other` was not read: it just expires
    assert await harness.source.refresh_due() == 1
    assert harness.batches == [1]
    harness.clock.advance(seconds=100)  # past the first copy's deadline, well inside the refreshed one's
    found, again = harness.source.cached(fold(link.code))
    assert found
    assert again is first  # unchanged: the same object, so answers built from it stay valid
    assert harness.source.cached(fold(other.code)) == (False, None)
    assert harness.source.loads == loads
    assert harness.source.refreshed == 1


async def test_a_refresh_reads_the_stored_link_many_codes_to_a_query(harness: Harness) -> None:
    created = [
        (await harness.service.create(ALICE, LinkSpec(f"https://example.com/{i}")))[0] for i in range(12)
    ]
    for link in created:
        harness.source.lru.evict(fold(link.code))
        await harness.source.find(fold(link.code))
    # Changed in the database without an eviction, as visit counts change under a cached copy.
    changed = created[0].with_changes(title="changed")
    await harness.repo.update(changed)
    harness.clock.advance(seconds=230)
    for link in created:
        harness.source.cached(fold(link.code))
    refreshed = [await harness.source.refresh_due(batch_max=5) for _ in range(4)]
    assert refreshed == [5, 5, 2, 0]  # one query a call, none when nothing is due
    assert harness.batches == [5, 5, 2]
    harness.clock.advance(seconds=100)
    assert harness.source.cached(fold(changed.code)) == (True, changed)


async def test_a_refresh_never_brings_back_a_copy_an_edit_evicted(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    harness.source.lru.evict(fold(link.code))
    await harness.source.find(fold(link.code))
    harness.clock.advance(seconds=230)
    harness.source.cached(fold(link.code))

    async def edit() -> None:
        await harness.service.edit(ALICE, link.code, {"title": "edited"})

    harness.during_load = edit  # the refresh read the link before the edit committed and evicted it
    assert await harness.source.refresh_due() == 0
    assert harness.source.cached(fold(link.code)) == (False, None)
    assert (await harness.source.find(fold(link.code))).title == "edited"  # type: ignore[union-attr]


async def test_copies_that_end_at_a_validity_change_and_unknown_codes_are_not_refreshed(
    harness: Harness,
) -> None:
    ending, _ = await harness.service.create(
        ALICE, LinkSpec("https://example.com/a", valid_until=harness.clock.now() + timedelta(seconds=235))
    )
    harness.source.lru.evict(fold(ending.code))
    await harness.source.find(fold(ending.code))  # cached 235 s, not the 240-300 s of an open-ended link
    assert await harness.source.find("nothing") is None
    harness.clock.advance(seconds=1.5)
    harness.source.cached("nothing")
    harness.clock.advance(seconds=228.5)  # past three quarters of any full lifetime
    assert harness.source.cached(fold(ending.code)) == (True, ending)
    assert not harness.source.lru.due
    harness.clock.advance(seconds=6)
    assert harness.source.cached(fold(ending.code)) == (False, None)  # its status changes now


async def test_a_link_deleted_elsewhere_is_dropped_by_its_refresh(harness: Harness) -> None:
    link, _ = await harness.service.create(ALICE, LinkSpec("https://example.com/a"))
    harness.source.lru.evict(fold(link.code))
    await harness.source.find(fold(link.code))
    await harness.repo.delete(link.id)  # another process; its eviction event has not arrived yet
    harness.clock.advance(seconds=230)
    harness.source.cached(fold(link.code))
    assert await harness.source.refresh_due() == 0
    assert harness.source.lru.entry(fold(link.code)) is None


async def test_redis_tier_serves_another_process_and_is_invalidated(
    tmp_path: Path, redis_url: str, redis_namespace: str
) -> None:
    engine = db.open_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await db.upgrade(engine, MIGRATIONS, version_table=VERSION_TABLE)
    url = f"{redis_url}?namespace={redis_namespace}"
    one, two = (
        Harness(SqlLinkRepository(engine), FakeClock(), url),
        Harness(SqlLinkRepository(engine), FakeClock(), url),
    )
    try:
        link, _ = await one.service.create(ALICE, LinkSpec("https://example.com/a"))
        assert await two.source.find(fold(link.code)) == link
        assert (two.source.shared_hits, two.source.loads) == (1, 0)
        await one.service.edit(ALICE, link.code, {"title": "changed"})
        two.source.evict_local(fold(link.code))  # what the shortener.links consumer does in process two
        assert (await two.source.find(fold(link.code))).title == "changed"  # type: ignore[union-attr]
    finally:
        for harness in (one, two):
            assert harness.shared is not None
            await harness.shared.close()
        await engine.dispose()


async def test_import_keeps_dates_accepts_short_codes_and_counts_once(harness: Harness) -> None:
    created = datetime(2015, 3, 1, 12, 0, tzinfo=UTC)
    specs = [
        LinkSpec("https://example.com/1", custom_slug="1", created_at=created),
        LinkSpec("https://example.com/2", custom_slug="ab"),
        LinkSpec("javascript:x", custom_slug="bad"),
        *(LinkSpec(f"https://example.com/many/{i}") for i in range(20)),
    ]
    results = await harness.service.import_links(ALICE, specs)
    first = results[0]
    assert isinstance(first, Link)
    assert (first.code, first.created_at) == ("1", created)
    assert isinstance(results[1], Link)
    assert isinstance(results[2], InvalidUrlError)
    assert sum(isinstance(result, Link) for result in results) == 22
    with pytest.raises(ForbiddenError):
        await harness.service.import_links(ANON, specs[:1])
    for _ in range(9):  # ten imports a minute, each one hit whatever its size
        await harness.service.import_links(ALICE, [])
    with pytest.raises(CreateLimitError):
        await harness.service.import_links(ALICE, [])
