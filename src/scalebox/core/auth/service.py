"""AccountService: registration, login, API keys and moderation, over an AccountRepository.

Argon2 runs in a worker thread (argon2-cffi releases the GIL), so a login never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime

from scalebox.core.auth.accounts import (
    Account,
    AccountBannedError,
    AccountNotFoundError,
    AccountRepository,
    ApiKey,
    BadCredentialsError,
    KeyIdTakenError,
    UsernameTakenError,
    is_valid_username,
    should_record_key_use,
    validate_key_name,
    validate_username,
)
from scalebox.core.auth.apikeys import generate_api_key, parse_api_key, verify_api_key
from scalebox.core.auth.passwords import (
    DEFAULT_PARAMS,
    PASSWORD_CHARS_MIN,
    Argon2Params,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from scalebox.core.auth.tokens import Session
from scalebox.core.clock import Clock
from scalebox.core.errors import InvalidError, LimitExceededError
from scalebox.core.ids import random_base62

API_KEYS_PER_ACCOUNT_MAX = 100
ACCOUNTS_PAGE_MAX = 500
_KEY_ID_ATTEMPTS = 3  # 62**8 ids: a second collision in a row means something else is wrong


class AccountService:
    """The account use cases every system shares.

    `rng` must be random.SystemRandom() outside tests: it draws API key secrets. `ids` mints account
    ids (a SnowflakeGenerator's next_id in production).
    """

    def __init__(
        self,
        repo: AccountRepository,
        clock: Clock,
        rng: random.Random,
        ids: Callable[[], int],
        *,
        password_params: Argon2Params = DEFAULT_PARAMS,
        api_keys_per_account_max: int = API_KEYS_PER_ACCOUNT_MAX,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._rng = rng
        self._ids = ids
        self._params = password_params
        self._api_keys_max = api_keys_per_account_max
        # Checked against when the username is unknown, so a miss costs as much as a wrong password.
        self._dummy_hash = hash_password(random_base62(32, rng), password_params)

    async def register(self, username: str, password: str) -> Account:
        """Create an account; raises InvalidUsernameError, InvalidError or UsernameTakenError."""
        validate_username(username)
        if await self._repo.get_credentials(username) is not None:
            raise UsernameTakenError(username)  # early, to spare a hash; the insert still decides
        password_hash = await asyncio.to_thread(hash_password, password, self._params)
        account = Account(id=self._ids(), username=username, created_at=self._now())
        await self._repo.add_account(account, password_hash)
        return account

    async def authenticate(self, username: str, password: str) -> Account:
        """The account for these credentials; raises BadCredentialsError or AccountBannedError."""
        credentials = None
        if is_valid_username(username):  # skip the query for names that cannot exist
            credentials = await self._repo.get_credentials(username)
        password_hash = self._dummy_hash if credentials is None else credentials.password_hash
        matches = await asyncio.to_thread(verify_password, password_hash, password)
        if credentials is None or not matches:
            raise BadCredentialsError()
        account = credentials.account
        if account.is_banned:
            raise AccountBannedError(account.id)
        if password_needs_rehash(password_hash, self._params) and len(password) >= PASSWORD_CHARS_MIN:
            # The only moment we hold the plaintext: upgrade hashes made under older parameters.
            new_hash = await asyncio.to_thread(hash_password, password, self._params)
            await self._repo.set_password_hash(account.id, new_hash)
        return account

    async def account_for_session(self, session: Session) -> Account | None:
        """The live account behind a decoded session cookie; None once it is gone or banned."""
        account = await self._repo.get_account(session.account_id)
        return None if account is None or account.is_banned else account

    async def issue_api_key(self, account_id: int, name: str) -> tuple[ApiKey, str]:
        """A new key and its plaintext, which is shown once and never stored."""
        name = validate_key_name(name)
        account = await self._require(account_id)
        if account.is_banned:
            raise AccountBannedError(account_id)
        if len(await self._repo.list_api_keys(account_id)) >= self._api_keys_max:
            raise LimitExceededError(f"an account may hold at most {self._api_keys_max} API keys")
        for _ in range(_KEY_ID_ATTEMPTS - 1):
            with contextlib.suppress(KeyIdTakenError):
                return await self._add_api_key(account_id, name)
        return await self._add_api_key(account_id, name)

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        """The account's live keys, oldest first."""
        return await self._repo.list_api_keys(account_id)

    async def revoke_api_key(self, account_id: int, key_id: str) -> bool:
        """Revoke one of the account's keys; False if it has no such live key."""
        return await self._repo.revoke_api_key(account_id, key_id, self._now())

    async def account_for_api_key(self, plaintext: str) -> Account | None:
        """The account a presented key belongs to; None if malformed, unknown, revoked or banned."""
        key_id = parse_api_key(plaintext)
        if key_id is None:
            return None
        credentials = await self._repo.get_api_key_credentials(key_id)
        if credentials is None or not verify_api_key(plaintext, credentials.key_hash):
            return None
        if credentials.revoked_at is not None or credentials.account.is_banned:
            return None
        now = self._now()
        if should_record_key_use(credentials.key.last_used_at, now):
            await self._repo.touch_api_key(key_id, now)
        return credentials.account

    async def get(self, account_id: int) -> Account | None:
        """The account with this id, or None."""
        return await self._repo.get_account(account_id)

    async def find(self, username: str) -> Account | None:
        """The account with this username (any case), or None. For operators' tools, not logins."""
        credentials = await self._repo.get_credentials(username)
        return None if credentials is None else credentials.account

    async def set_banned(self, account_id: int, banned: bool) -> Account:
        """Ban or unban; raises AccountNotFoundError."""
        account = await self._repo.update_flags(account_id, is_banned=banned)
        if account is None:
            raise AccountNotFoundError(account_id)
        return account

    async def set_admin(self, account_id: int, admin: bool) -> Account:
        """Grant or take away admin rights; raises AccountNotFoundError."""
        account = await self._repo.update_flags(account_id, is_admin=admin)
        if account is None:
            raise AccountNotFoundError(account_id)
        return account

    async def list_accounts(self, limit: int = 50, offset: int = 0) -> list[Account]:
        """One page of accounts in creation order."""
        if not 1 <= limit <= ACCOUNTS_PAGE_MAX:
            raise InvalidError(f"limit must be within 1..{ACCOUNTS_PAGE_MAX}", field="limit")
        if offset < 0:
            raise InvalidError("offset must not be negative", field="offset")
        return await self._repo.list_accounts(limit, offset)

    async def _add_api_key(self, account_id: int, name: str) -> tuple[ApiKey, str]:
        issued = generate_api_key(self._rng)
        key = ApiKey(key_id=issued.key_id, account_id=account_id, name=name, created_at=self._now())
        await self._repo.add_api_key(key, issued.key_hash)
        return key, issued.plaintext

    def _now(self) -> datetime:
        # Stored and returned in UTC whatever zone the clock reads in, so every adapter agrees.
        return self._clock.now().astimezone(UTC)

    async def _require(self, account_id: int) -> Account:
        account = await self._repo.get_account(account_id)
        if account is None:
            raise AccountNotFoundError(account_id)
        return account
