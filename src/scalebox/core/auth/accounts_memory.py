"""MemoryAccountRepository: the AccountRepository port over dicts, for unit tests and simulations.

It keeps the same promises as the SQL adapter (case-insensitive usernames, unique key ids,
soft revocation), which the contract suite checks against both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from scalebox.core.auth.accounts import (
    Account,
    AccountCredentials,
    ApiKey,
    ApiKeyCredentials,
    KeyIdTakenError,
    UsernameTakenError,
    normalize_username,
)


@dataclass(slots=True)
class _StoredKey:
    key: ApiKey
    key_hash: str
    revoked_at: datetime | None = None


class MemoryAccountRepository:
    """Accounts and keys in process memory; nothing survives the process."""

    def __init__(self) -> None:
        self._accounts: dict[int, AccountCredentials] = {}
        self._ids_by_username: dict[str, int] = {}
        self._keys: dict[str, _StoredKey] = {}

    async def add_account(self, account: Account, password_hash: str) -> None:
        username = normalize_username(account.username)
        if username in self._ids_by_username:
            raise UsernameTakenError(account.username)
        assert account.id not in self._accounts, f"duplicate account id {account.id}"
        self._accounts[account.id] = AccountCredentials(account, password_hash)
        self._ids_by_username[username] = account.id

    async def get_account(self, account_id: int) -> Account | None:
        stored = self._accounts.get(account_id)
        return None if stored is None else stored.account

    async def get_credentials(self, username: str) -> AccountCredentials | None:
        account_id = self._ids_by_username.get(normalize_username(username))
        return None if account_id is None else self._accounts[account_id]

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        stored = self._accounts.get(account_id)
        if stored is not None:
            self._accounts[account_id] = replace(stored, password_hash=password_hash)

    async def update_flags(
        self, account_id: int, *, is_admin: bool | None = None, is_banned: bool | None = None
    ) -> Account | None:
        stored = self._accounts.get(account_id)
        if stored is None:
            return None
        account = stored.account
        if is_admin is not None:
            account = replace(account, is_admin=is_admin)
        if is_banned is not None:
            account = replace(account, is_banned=is_banned)
        self._accounts[account_id] = replace(stored, account=account)
        return account

    async def list_accounts(self, limit: int, offset: int) -> list[Account]:
        ordered = sorted(self._accounts)
        return [self._accounts[account_id].account for account_id in ordered[offset : offset + limit]]

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        if key.key_id in self._keys:
            raise KeyIdTakenError(key.key_id)
        assert key.account_id in self._accounts, f"no account {key.account_id}"
        self._keys[key.key_id] = _StoredKey(key, key_hash)

    async def get_api_key_credentials(self, key_id: str) -> ApiKeyCredentials | None:
        stored = self._keys.get(key_id)
        if stored is None:
            return None
        account = self._accounts[stored.key.account_id].account
        return ApiKeyCredentials(stored.key, stored.key_hash, stored.revoked_at, account)

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        live = [s.key for s in self._keys.values() if s.key.account_id == account_id and s.revoked_at is None]
        return sorted(live, key=lambda key: (key.created_at, key.key_id))

    async def revoke_api_key(self, account_id: int, key_id: str, revoked_at: datetime) -> bool:
        stored = self._keys.get(key_id)
        if stored is None or stored.key.account_id != account_id or stored.revoked_at is not None:
            return False
        stored.revoked_at = revoked_at
        return True

    async def touch_api_key(self, key_id: str, used_at: datetime) -> None:
        stored = self._keys.get(key_id)
        if stored is None:
            return
        last = stored.key.last_used_at
        if last is None or last < used_at:
            stored.key = replace(stored.key, last_used_at=used_at)
