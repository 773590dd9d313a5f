"""Accounts and API keys: domain types, their errors and rules, and the AccountRepository port.

Pure: no database, no framework. Storage adapters live in accounts_sql.py and accounts_memory.py;
use cases live in service.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from scalebox.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnauthorizedError,
)

USERNAME_CHARS_MIN = 3
USERNAME_CHARS_MAX = 32
KEY_NAME_CHARS_MAX = 64
KEY_USE_RECORD_INTERVAL_SECONDS = 60  # last_used_at is coarse, so a busy key costs no write per request
_USERNAME = re.compile(rf"[A-Za-z0-9_.-]{{{USERNAME_CHARS_MIN},{USERNAME_CHARS_MAX}}}")


@dataclass(frozen=True, slots=True)
class Account:
    """A person or bot that can log in; `username` keeps the case it was registered with."""

    id: int
    username: str
    created_at: datetime
    is_admin: bool = False
    is_banned: bool = False


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What may be shown about a key after issue: never its secret, nor its hash."""

    key_id: str
    account_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """An account with its password hash, as storage returns it for login."""

    account: Account
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKeyCredentials:
    """A stored key with its hash and owner, as storage returns it for one request's lookup."""

    key: ApiKey
    key_hash: str = field(repr=False)
    revoked_at: datetime | None
    account: Account


class UsernameTakenError(ConflictError):
    """Another account already has this username (compared case-insensitively)."""

    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken")
        self.username = username


class InvalidUsernameError(InvalidError):
    """Usernames are 3-32 characters of letters, digits, '_', '.' and '-'."""

    code = "invalid_username"

    def __init__(self, username: str) -> None:
        super().__init__(self.__class__.__doc__ or "", field="username")
        self.username = username


class BadCredentialsError(UnauthorizedError):
    """Unknown username or wrong password (deliberately not saying which)."""

    code = "bad_credentials"


class AccountBannedError(ForbiddenError):
    """This account has been banned."""

    code = "account_banned"

    def __init__(self, account_id: int) -> None:
        super().__init__()
        self.account_id = account_id


class AccountNotFoundError(NotFoundError):
    """No account has this id."""

    code = "account_not_found"

    def __init__(self, account_id: int) -> None:
        super().__init__(f"no account with id {account_id}")
        self.account_id = account_id


class KeyIdTakenError(ConflictError):
    """A freshly generated API key id collided with a stored one; the service draws another."""

    code = "key_id_taken"


def is_valid_username(username: str) -> bool:
    return _USERNAME.fullmatch(username) is not None


def validate_username(username: str) -> str:
    """Return `username` unchanged if it follows the rules, else raise InvalidUsernameError."""
    if not is_valid_username(username):
        raise InvalidUsernameError(username)
    return username


def validate_key_name(name: str) -> str:
    """The key's label without surrounding blanks; 1-64 characters, else InvalidError."""
    name = name.strip()
    if not name or len(name) > KEY_NAME_CHARS_MAX or not name.isprintable():
        raise InvalidError(f"key name must be 1-{KEY_NAME_CHARS_MAX} printable characters", field="name")
    return name


def should_record_key_use(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a use at `now` is worth a write, given when the key was last recorded as used."""
    if last_used_at is None:
        return True
    return now - last_used_at >= timedelta(seconds=KEY_USE_RECORD_INTERVAL_SECONDS)


def normalize_username(username: str) -> str:
    """The form uniqueness is judged on; usernames are ASCII, so lower() is the whole story."""
    return username.lower()


class AccountRepository(Protocol):
    """Persistence for accounts and API keys: SqlAccountRepository, MemoryAccountRepository."""

    async def add_account(self, account: Account, password_hash: str) -> None:
        """Store a new account; raises UsernameTakenError on a case-insensitive clash."""

    async def get_account(self, account_id: int) -> Account | None: ...

    async def get_credentials(self, username: str) -> AccountCredentials | None:
        """Look up by username, case-insensitively."""

    async def set_password_hash(self, account_id: int, password_hash: str) -> None: ...

    async def update_flags(
        self, account_id: int, *, is_admin: bool | None = None, is_banned: bool | None = None
    ) -> Account | None:
        """Change the flags given (None leaves one as it is); None if there is no such account."""

    async def list_accounts(self, limit: int, offset: int) -> list[Account]:
        """Accounts in id order, which is creation order for Snowflake ids."""

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a new key; raises KeyIdTakenError if its id is already used."""

    async def get_api_key_credentials(self, key_id: str) -> ApiKeyCredentials | None:
        """The key with its hash, revocation time and owner, revoked or not."""

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        """The account's keys that are not revoked, oldest first."""

    async def revoke_api_key(self, account_id: int, key_id: str, revoked_at: datetime) -> bool:
        """Revoke a live key of this account; False if there is none to revoke."""

    async def touch_api_key(self, key_id: str, used_at: datetime) -> None:
        """Record a use; never moves last_used_at backwards."""
