"""Accounts, passwords, API keys, signed sessions and CSRF tokens, shared by every system."""

from scalebox.core.auth.accounts import (
    Account,
    AccountBannedError,
    AccountCredentials,
    AccountNotFoundError,
    AccountRepository,
    ApiKey,
    ApiKeyCredentials,
    BadCredentialsError,
    InvalidUsernameError,
    KeyIdTakenError,
    UsernameTakenError,
    validate_username,
)
from scalebox.core.auth.accounts_memory import MemoryAccountRepository
from scalebox.core.auth.accounts_sql import AccountTables, SqlAccountRepository, account_tables
from scalebox.core.auth.apikeys import (
    IssuedKey,
    generate_api_key,
    hash_api_key,
    parse_api_key,
    verify_api_key,
)
from scalebox.core.auth.passwords import (
    DEFAULT_PARAMS,
    TEST_PARAMS,
    Argon2Params,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from scalebox.core.auth.service import AccountService
from scalebox.core.auth.tokens import CsrfCodec, NamedSessionCodec, Session, SessionCodec

__all__ = [
    "DEFAULT_PARAMS",
    "TEST_PARAMS",
    "Account",
    "AccountBannedError",
    "AccountCredentials",
    "AccountNotFoundError",
    "AccountRepository",
    "AccountService",
    "AccountTables",
    "ApiKey",
    "ApiKeyCredentials",
    "Argon2Params",
    "BadCredentialsError",
    "CsrfCodec",
    "InvalidUsernameError",
    "IssuedKey",
    "KeyIdTakenError",
    "MemoryAccountRepository",
    "NamedSessionCodec",
    "Session",
    "SessionCodec",
    "SqlAccountRepository",
    "UsernameTakenError",
    "account_tables",
    "generate_api_key",
    "hash_api_key",
    "hash_password",
    "parse_api_key",
    "password_needs_rehash",
    "validate_username",
    "verify_api_key",
    "verify_password",
]
