"""The AccountRepository contract, driven through AccountService, over memory, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from scalebox.core.auth import (
    TEST_PARAMS,
    AccountBannedError,
    AccountNotFoundError,
    AccountRepository,
    AccountService,
    Argon2Params,
    BadCredentialsError,
    MemoryAccountRepository,
    SqlAccountRepository,
    UsernameTakenError,
    account_tables,
    generate_api_key,
    verify_password,
)
from scalebox.core.auth.accounts import ApiKey
from scalebox.core.clock import FakeClock

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return "sqlite+aiosqlite:///" + str(tmp_path / "a.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def repo(database_url: str | None) -> AsyncIterator[AccountRepository]:
    if database_url is None:
        yield MemoryAccountRepository()
        return
    metadata = MetaData()
    tables = account_tables(metadata, "test")
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield SqlAccountRepository(engine, tables)
    finally:
        await engine.dispose()


def make_service(repo: AccountRepository, clock: FakeClock | None = None, **overrides) -> AccountService:
    options = {"rng": random.Random(42), "ids": itertools.count(1).__next__, "password_params": TEST_PARAMS}
    return AccountService(repo, clock or FakeClock(), **{**options, **overrides})


async def test_register_returns_account_stamped_by_the_clock(repo):
    clock = FakeClock()
    account = await make_service(repo, clock).register("Ada.L-ovelace_1", PASSWORD)

    assert account.username == "Ada.L-ovelace_1"
    assert account.created_at == clock.now()
    assert not account.is_admin
    assert not account.is_banned
    assert await repo.get_account(account.id) == account


async def test_register_raises_taken_when_username_differs_only_in_case(repo):
    service = make_service(repo)
    await service.register("alice", PASSWORD)

    with pytest.raises(UsernameTakenError):
        await service.register("ALICE", PASSWORD)


async def test_add_account_raises_taken_when_username_clashes_in_storage(repo):
    # The service checks first; this is the race it cannot see, decided by the unique index.
    service = make_service(repo)
    first = await service.register("alice", PASSWORD)
    clash = type(first)(id=first.id + 1, username="Alice", created_at=first.created_at)

    with pytest.raises(UsernameTakenError):
        await repo.add_account(clash, "hash")


async def test_get_returns_none_when_account_unknown(repo):
    assert await make_service(repo).get(404) is None


async def test_authenticate_returns_account_when_password_right(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)

    assert await service.authenticate("alice", PASSWORD) == account
    assert await service.authenticate("Alice", PASSWORD) == account


async def test_authenticate_raises_bad_credentials_when_password_wrong(repo):
    service = make_service(repo)
    await service.register("alice", PASSWORD)

    with pytest.raises(BadCredentialsError):
        await service.authenticate("alice", PASSWORD + "!")


@pytest.mark.parametrize("username", ["bob", "no such user", "", "x" * 10_000])
async def test_authenticate_raises_bad_credentials_when_username_unknown(repo, username):
    service = make_service(repo)
    await service.register("alice", PASSWORD)

    with pytest.raises(BadCredentialsError):
        await service.authenticate(username, PASSWORD)


async def test_authenticate_raises_banned_when_account_banned(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)
    await service.set_banned(account.id, True)

    with pytest.raises(AccountBannedError):
        await service.authenticate("alice", PASSWORD)
    with pytest.raises(BadCredentialsError):  # a wrong password learns nothing about the ban
        await service.authenticate("alice", "wrong password")


async def test_authenticate_rehashes_when_params_changed(repo):
    await make_service(repo).register("alice", PASSWORD)
    stronger = Argon2Params(time_cost=2, memory_cost_kib=16, parallelism=1)

    await make_service(repo, password_params=stronger).authenticate("alice", PASSWORD)

    credentials = await repo.get_credentials("alice")
    assert credentials is not None
    assert "$m=16,t=2,p=1$" in credentials.password_hash
    assert verify_password(credentials.password_hash, PASSWORD)


async def test_set_admin_and_set_banned_are_stored(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)

    assert (await service.set_admin(account.id, True)).is_admin
    assert (await service.set_banned(account.id, True)).is_banned
    stored = await service.get(account.id)
    assert stored is not None
    assert stored.is_admin
    assert stored.is_banned
    assert not (await service.set_banned(account.id, False)).is_banned


async def test_set_flags_raise_not_found_when_account_unknown(repo):
    service = make_service(repo)

    with pytest.raises(AccountNotFoundError):
        await service.set_banned(404, True)
    with pytest.raises(AccountNotFoundError):
        await service.set_admin(404, True)


async def test_list_accounts_pages_in_creation_order(repo):
    service = make_service(repo)
    names = [f"user{n}" for n in range(5)]
    for name in names:
        await service.register(name, PASSWORD)

    first = await service.list_accounts(limit=3, offset=0)
    rest = await service.list_accounts(limit=3, offset=3)

    assert [account.username for account in first + rest] == names


async def test_account_for_api_key_returns_owner_when_key_issued(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)
    key, plaintext = await service.issue_api_key(account.id, "  laptop  ")

    assert key.name == "laptop"
    assert key.account_id == account.id
    assert key.last_used_at is None
    assert plaintext.startswith(f"sbx_{key.key_id}_")
    assert await service.account_for_api_key(plaintext) == account


async def test_account_for_api_key_returns_none_when_secret_wrong(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)
    _, plaintext = await service.issue_api_key(account.id, "laptop")
    forged = plaintext[:-1] + ("x" if plaintext[-1] != "x" else "y")

    assert await service.account_for_api_key(forged) is None
    assert await service.account_for_api_key("sbx_00000000_" + "0" * 32) is None


async def test_account_for_api_key_returns_none_after_revoke(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)
    key, plaintext = await service.issue_api_key(account.id, "laptop")

    assert await service.revoke_api_key(account.id, key.key_id)
    assert not await service.revoke_api_key(account.id, key.key_id)
    assert await service.account_for_api_key(plaintext) is None


async def test_revoke_api_key_false_when_key_belongs_to_another_account(repo):
    service = make_service(repo)
    alice = await service.register("alice", PASSWORD)
    mallory = await service.register("mallory", PASSWORD)
    key, plaintext = await service.issue_api_key(alice.id, "laptop")

    assert not await service.revoke_api_key(mallory.id, key.key_id)
    assert await service.account_for_api_key(plaintext) == alice


async def test_account_for_api_key_returns_none_while_owner_banned(repo):
    service = make_service(repo)
    account = await service.register("alice", PASSWORD)
    _, plaintext = await service.issue_api_key(account.id, "laptop")

    await service.set_banned(account.id, True)
    assert await service.account_for_api_key(plaintext) is None

    await service.set_banned(account.id, False)
    assert await service.account_for_api_key(plaintext) is not None


async def test_account_for_api_key_records_use_at_most_once_a_minute(repo):
    clock = FakeClock()
    service = make_service(repo, clock)
    account = await service.register("alice", PASSWORD)
    _, plaintext = await service.issue_api_key(account.id, "laptop")
    first_use = clock.now()

    await service.account_for_api_key(plaintext)
    clock.advance(seconds=59)
    await service.account_for_api_key(plaintext)
    assert [key.last_used_at for key in await service.list_api_keys(account.id)] == [first_use]

    clock.advance(seconds=1)
    await service.account_for_api_key(plaintext)
    assert [key.last_used_at for key in await service.list_api_keys(account.id)] == [clock.now()]


async def test_touch_api_key_never_moves_last_used_backwards(repo):
    clock = FakeClock()
    service = make_service(repo, clock)
    account = await service.register("alice", PASSWORD)
    key, _ = await service.issue_api_key(account.id, "laptop")

    await repo.touch_api_key(key.key_id, clock.now() + timedelta(minutes=5))
    await repo.touch_api_key(key.key_id, clock.now())

    assert [k.last_used_at for k in await service.list_api_keys(account.id)] == [
        clock.now() + timedelta(minutes=5)
    ]


async def test_list_api_keys_returns_live_keys_oldest_first(repo):
    clock = FakeClock()
    service = make_service(repo, clock)
    alice = await service.register("alice", PASSWORD)
    bob = await service.register("bob", PASSWORD)
    first, _ = await service.issue_api_key(alice.id, "first")
    clock.advance(seconds=1)
    revoked, _ = await service.issue_api_key(alice.id, "revoked")
    clock.advance(seconds=1)
    third, _ = await service.issue_api_key(alice.id, "third")
    await service.issue_api_key(bob.id, "bob's")
    await service.revoke_api_key(alice.id, revoked.key_id)

    assert await service.list_api_keys(alice.id) == [first, third]


async def test_issue_api_key_draws_again_when_key_id_collides(repo):
    service = make_service(repo, rng=random.Random(9))
    account = await service.register("alice", PASSWORD)
    # Occupy the id the service's next draw will produce.
    probe = random.Random()
    probe.setstate(service._rng.getstate())
    taken = generate_api_key(probe)
    await repo.add_api_key(ApiKey(taken.key_id, account.id, "squatter", FakeClock().now()), taken.key_hash)

    key, plaintext = await service.issue_api_key(account.id, "laptop")

    assert key.key_id != taken.key_id
    assert await service.account_for_api_key(plaintext) == account
    assert await service.account_for_api_key(taken.plaintext) == account


async def test_timestamps_come_back_as_the_same_instant_in_utc(repo):
    india = timezone(timedelta(hours=5, minutes=30))
    clock = FakeClock(current=datetime(2025, 3, 4, 5, 6, 7, 891_011, tzinfo=india))
    service = make_service(repo, clock)
    account = await service.register("alice", PASSWORD)
    _, plaintext = await service.issue_api_key(account.id, "laptop")
    await service.account_for_api_key(plaintext)

    stored = await service.get(account.id)
    [listed] = await service.list_api_keys(account.id)

    assert stored is not None
    assert stored.created_at == clock.now()
    assert stored.created_at.tzinfo is UTC
    assert listed.created_at == listed.last_used_at == clock.now()
    assert listed.created_at.tzinfo is UTC
