"""Account rules that do not depend on storage: usernames, key names and limits, sessions, paging."""

from __future__ import annotations

import itertools
import random
import string
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.auth import (
    TEST_PARAMS,
    AccountBannedError,
    AccountNotFoundError,
    AccountService,
    InvalidUsernameError,
    KeyIdTakenError,
    MemoryAccountRepository,
    Session,
    validate_username,
)
from scalebox.core.auth.accounts import should_record_key_use, validate_key_name
from scalebox.core.clock import FakeClock
from scalebox.core.errors import InvalidError, LimitExceededError

PASSWORD = "correct horse battery staple"
USERNAME_ALPHABET = string.ascii_letters + string.digits + "_.-"


class StuckRandom(random.Random):
    """A random source that always draws the first choice, to force key id collisions."""

    def choice(self, seq):
        return seq[0]

    def randrange(self, *args, **kwargs):
        return 0


def make_service(**overrides) -> AccountService:
    options = {
        "repo": MemoryAccountRepository(),
        "clock": FakeClock(),
        "rng": random.Random(42),
        "ids": itertools.count(1).__next__,
        "password_params": TEST_PARAMS,
    }
    return AccountService(**{**options, **overrides})


@pytest.mark.parametrize(
    "username", ["abc", "a" * 32, "Ada.Lovelace", "under_score", "dash-ed", "123", "..."]
)
def test_validate_username_accepts_allowed_names(username):
    assert validate_username(username) == username


@pytest.mark.parametrize(
    "username", ["", "ab", "a" * 33, "has space", "émile", "semi;colon", "new\nline", "abc\n", "at@sign"]
)
def test_validate_username_raises_invalid_when_name_breaks_rules(username):
    with pytest.raises(InvalidUsernameError) as caught:
        validate_username(username)

    assert caught.value.field == "username"


@given(st.one_of(st.text(), st.text(alphabet=USERNAME_ALPHABET + "é -\n")))
def test_validate_username_agrees_with_the_rule_when_text_is_arbitrary(text):
    allowed = 3 <= len(text) <= 32 and all(char in USERNAME_ALPHABET for char in text)
    if allowed:
        assert validate_username(text) == text
    else:
        with pytest.raises(InvalidUsernameError):
            validate_username(text)


async def test_register_raises_invalid_username_before_hashing():
    with pytest.raises(InvalidUsernameError):
        await make_service().register("no spaces please", PASSWORD)


async def test_register_raises_invalid_when_password_too_short():
    service = make_service()

    with pytest.raises(InvalidError) as caught:
        await service.register("alice", "short")

    assert caught.value.field == "password"
    assert await service.list_accounts() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there", "new\nline"])
def test_validate_key_name_raises_invalid_when_name_breaks_rules(name):
    with pytest.raises(InvalidError) as caught:
        validate_key_name(name)

    assert caught.value.field == "name"


async def test_issue_api_key_raises_limit_when_account_holds_the_maximum():
    service = make_service(api_keys_per_account_max=2)
    account = await service.register("alice", PASSWORD)
    first, _ = await service.issue_api_key(account.id, "one")
    await service.issue_api_key(account.id, "two")

    with pytest.raises(LimitExceededError):
        await service.issue_api_key(account.id, "three")

    await service.revoke_api_key(account.id, first.key_id)
    await service.issue_api_key(account.id, "three")  # revoked keys do not count


async def test_issue_api_key_raises_not_found_when_account_unknown():
    with pytest.raises(AccountNotFoundError):
        await make_service().issue_api_key(404, "laptop")


async def test_issue_api_key_raises_banned_when_account_banned():
    service = make_service()
    account = await service.register("alice", PASSWORD)
    await service.set_banned(account.id, True)

    with pytest.raises(AccountBannedError):
        await service.issue_api_key(account.id, "laptop")


async def test_issue_api_key_gives_up_when_key_ids_keep_colliding():
    service = make_service(rng=StuckRandom())
    account = await service.register("alice", PASSWORD)
    await service.issue_api_key(account.id, "first")

    with pytest.raises(KeyIdTakenError):
        await service.issue_api_key(account.id, "second")


@pytest.mark.parametrize("text", ["", "garbage", "Bearer xyz", "sbx_abcdefgh_" + "a" * 32])
async def test_account_for_api_key_returns_none_when_key_malformed_or_unknown(text):
    assert await make_service().account_for_api_key(text) is None


async def test_account_for_session_returns_account_while_not_banned():
    clock = FakeClock()
    service = make_service(clock=clock)
    account = await service.register("alice", PASSWORD)
    session = Session(account_id=account.id, issued_at=clock.now())

    assert await service.account_for_session(session) == account

    await service.set_banned(account.id, True)
    assert await service.account_for_session(session) is None


async def test_account_for_session_returns_none_when_account_unknown():
    session = Session(account_id=404, issued_at=FakeClock().now())

    assert await make_service().account_for_session(session) is None


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (501, 0), (10, -1)])
async def test_list_accounts_raises_invalid_when_page_out_of_bounds(limit, offset):
    with pytest.raises(InvalidError):
        await make_service().list_accounts(limit=limit, offset=offset)


def test_should_record_key_use_true_when_never_used():
    assert should_record_key_use(None, FakeClock().now())


@pytest.mark.parametrize(
    ("elapsed_seconds", "expected"), [(0, False), (59.999, False), (60, True), (3600, True)]
)
def test_should_record_key_use_after_a_minute(elapsed_seconds, expected):
    last = FakeClock().now()

    assert should_record_key_use(last, last + timedelta(seconds=elapsed_seconds)) is expected


async def test_find_looks_an_account_up_by_username_in_any_case():
    service = make_service()
    account = await service.register("Operator", "correct horse battery")
    assert await service.find("operator") == account
    assert await service.find("nobody") is None
