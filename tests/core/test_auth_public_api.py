"""scalebox.core.auth exposes exactly its public API through __init__ (httpx style)."""

from __future__ import annotations

from scalebox.core import auth

EXPECTED = {
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
    "Session",
    "NamedSessionCodec",
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
}


def test_all_lists_the_public_api():
    assert set(auth.__all__) == EXPECTED
    assert len(auth.__all__) == len(EXPECTED)


def test_all_names_resolve_when_imported():
    for name in auth.__all__:
        assert getattr(auth, name) is not None, name


def test_public_names_are_documented():
    for name in auth.__all__:
        value = getattr(auth, name)
        if callable(value):
            assert value.__doc__, f"{name} has no docstring"
