"""SqlAccountRepository: the AccountRepository port over SQLAlchemy 2 Core (async), and its tables.

Each system calls `account_tables(metadata, prefix)` on its own MetaData, so its accounts live in its
own database under its own names (`pastebin_accounts`, `pastebin_api_keys`) and its own migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    MetaData,
    RowMapping,
    String,
    Table,
    exc,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from scalebox.core.auth.accounts import (
    KEY_NAME_CHARS_MAX,
    USERNAME_CHARS_MAX,
    Account,
    AccountCredentials,
    ApiKey,
    ApiKeyCredentials,
    KeyIdTakenError,
    UsernameTakenError,
    normalize_username,
)


@dataclass(frozen=True, slots=True)
class AccountTables:
    """The two tables one system's accounts live in."""

    accounts: Table
    api_keys: Table


def account_tables(metadata: MetaData, prefix: str) -> AccountTables:
    """Define `<prefix>_accounts` and `<prefix>_api_keys` on `metadata`."""
    accounts = Table(
        f"{prefix}_accounts",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("username", String(USERNAME_CHARS_MAX), nullable=False),
        Column("username_lower", String(USERNAME_CHARS_MAX), nullable=False, unique=True),
        Column("password_hash", String(255), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("is_admin", Boolean, nullable=False, default=False),
        Column("is_banned", Boolean, nullable=False, default=False),
    )
    api_keys = Table(
        f"{prefix}_api_keys",
        metadata,
        Column("key_id", String(16), primary_key=True),
        Column(
            "account_id",
            BigInteger,
            ForeignKey(accounts.c.id, ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("key_hash", String(64), nullable=False),
        Column("name", String(KEY_NAME_CHARS_MAX), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("last_used_at", DateTime(timezone=True), nullable=True),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
    )
    return AccountTables(accounts=accounts, api_keys=api_keys)


class SqlAccountRepository:
    """Accounts and API keys in SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine, tables: AccountTables) -> None:
        self._engine = engine
        self._accounts = tables.accounts
        self._keys = tables.api_keys

    async def add_account(self, account: Account, password_hash: str) -> None:
        values = {
            "id": account.id,
            "username": account.username,
            "username_lower": normalize_username(account.username),
            "password_hash": password_hash,
            "created_at": _to_db(account.created_at),
            "is_admin": account.is_admin,
            "is_banned": account.is_banned,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(self._accounts).values(values))
        except exc.IntegrityError as error:
            # The failed transaction is gone; ask again to tell a username clash from anything else.
            if await self.get_credentials(account.username) is not None:
                raise UsernameTakenError(account.username) from error
            raise

    async def get_account(self, account_id: int) -> Account | None:
        query = select(self._accounts).where(self._accounts.c.id == account_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _account(row)

    async def get_credentials(self, username: str) -> AccountCredentials | None:
        query = select(self._accounts).where(self._accounts.c.username_lower == normalize_username(username))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else AccountCredentials(_account(row), row["password_hash"])

    async def set_password_hash(self, account_id: int, password_hash: str) -> None:
        statement = (
            update(self._accounts)
            .where(self._accounts.c.id == account_id)
            .values(password_hash=password_hash)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def update_flags(
        self, account_id: int, *, is_admin: bool | None = None, is_banned: bool | None = None
    ) -> Account | None:
        changes = {
            name: value
            for name, value in (("is_admin", is_admin), ("is_banned", is_banned))
            if value is not None
        }
        where = self._accounts.c.id == account_id
        async with self._engine.begin() as conn:
            if changes:
                await conn.execute(update(self._accounts).where(where).values(changes))
            row = (await conn.execute(select(self._accounts).where(where))).mappings().first()
        return None if row is None else _account(row)

    async def list_accounts(self, limit: int, offset: int) -> list[Account]:
        query = select(self._accounts).order_by(self._accounts.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_account(row) for row in rows]

    async def add_api_key(self, key: ApiKey, key_hash: str) -> None:
        values = {
            "key_id": key.key_id,
            "account_id": key.account_id,
            "key_hash": key_hash,
            "name": key.name,
            "created_at": _to_db(key.created_at),
            "last_used_at": None if key.last_used_at is None else _to_db(key.last_used_at),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(self._keys).values(values))
        except exc.IntegrityError as error:
            if await self.get_api_key_credentials(key.key_id) is not None:
                raise KeyIdTakenError(key.key_id) from error
            raise

    async def get_api_key_credentials(self, key_id: str) -> ApiKeyCredentials | None:
        keys, accounts = self._keys, self._accounts
        query = (
            select(
                keys,
                accounts.c.username,
                accounts.c.created_at.label("account_created_at"),
                accounts.c.is_admin,
                accounts.c.is_banned,
            )
            .join(accounts, keys.c.account_id == accounts.c.id)
            .where(keys.c.key_id == key_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        owner = Account(
            id=row["account_id"],
            username=row["username"],
            created_at=_from_db(row["account_created_at"]),
            is_admin=row["is_admin"],
            is_banned=row["is_banned"],
        )
        return ApiKeyCredentials(_api_key(row), row["key_hash"], _from_db_or_none(row["revoked_at"]), owner)

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        query = (
            select(self._keys)
            .where(self._keys.c.account_id == account_id, self._keys.c.revoked_at.is_(None))
            .order_by(self._keys.c.created_at, self._keys.c.key_id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_api_key(row) for row in rows]

    async def revoke_api_key(self, account_id: int, key_id: str, revoked_at: datetime) -> bool:
        keys = self._keys
        statement = (
            update(keys)
            .where(keys.c.key_id == key_id, keys.c.account_id == account_id, keys.c.revoked_at.is_(None))
            .values(revoked_at=_to_db(revoked_at))
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return result.rowcount == 1

    async def touch_api_key(self, key_id: str, used_at: datetime) -> None:
        keys, when = self._keys, _to_db(used_at)
        statement = (
            update(keys)
            .where(keys.c.key_id == key_id, or_(keys.c.last_used_at.is_(None), keys.c.last_used_at < when))
            .values(last_used_at=when)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        created_at=_from_db(row["created_at"]),
        is_admin=row["is_admin"],
        is_banned=row["is_banned"],
    )


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        account_id=row["account_id"],
        name=row["name"],
        created_at=_from_db(row["created_at"]),
        last_used_at=_from_db_or_none(row["last_used_at"]),
    )


def _to_db(moment: datetime) -> datetime:
    # SQLite drops the offset when it stores a DateTime, so everything is written as UTC.
    assert moment.tzinfo is not None, "timestamps must be tz-aware"
    return moment.astimezone(UTC)


def _from_db(value: Any) -> datetime:
    assert isinstance(value, datetime), value
    # SQLite hands back naive datetimes (stored as UTC above); PostgreSQL hands back aware ones.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_db_or_none(value: Any) -> datetime | None:
    return None if value is None else _from_db(value)
