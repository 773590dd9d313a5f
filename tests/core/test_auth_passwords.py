"""Password hashing: round trips, rejection of wrong passwords and out-of-bounds lengths, rehash checks."""

from __future__ import annotations

import pytest

from scalebox.core.auth.passwords import (
    DEFAULT_PARAMS,
    PASSWORD_CHARS_MAX,
    PASSWORD_CHARS_MIN,
    TEST_PARAMS,
    Argon2Params,
    hash_password,
    password_needs_rehash,
    verify_password,
)
from scalebox.core.errors import InvalidError

PASSWORD = "correct horse battery staple"


def test_verify_password_accepts_the_hashed_password():
    password_hash = hash_password(PASSWORD, TEST_PARAMS)

    assert password_hash.startswith("$argon2id$")
    assert verify_password(password_hash, PASSWORD)


def test_verify_password_rejects_a_wrong_password():
    password_hash = hash_password(PASSWORD, TEST_PARAMS)

    assert not verify_password(password_hash, PASSWORD + "!")
    assert not verify_password(password_hash, PASSWORD.upper())


def test_hash_password_salts_each_hash():
    assert hash_password(PASSWORD, TEST_PARAMS) != hash_password(PASSWORD, TEST_PARAMS)


@pytest.mark.parametrize(
    "password", ["Grüße aus Köln", "пароль-пароль", "🔑🔑🔑🔑🔑🔑🔑🔑", "abc\udcffdefgh"]
)
def test_verify_password_round_trips_when_password_is_not_ascii(password):
    assert verify_password(hash_password(password, TEST_PARAMS), password)


@pytest.mark.parametrize("length", [PASSWORD_CHARS_MIN, PASSWORD_CHARS_MAX])
def test_hash_password_accepts_lengths_at_the_bounds(length):
    password = "p" * length

    assert verify_password(hash_password(password, TEST_PARAMS), password)


@pytest.mark.parametrize("length", [0, PASSWORD_CHARS_MIN - 1, PASSWORD_CHARS_MAX + 1])
def test_hash_password_raises_invalid_when_length_out_of_bounds(length):
    with pytest.raises(InvalidError) as caught:
        hash_password("p" * length, TEST_PARAMS)

    assert caught.value.field == "password"


def test_verify_password_false_when_password_over_the_limit():
    password_hash = hash_password("p" * PASSWORD_CHARS_MAX, TEST_PARAMS)

    assert not verify_password(password_hash, "p" * (PASSWORD_CHARS_MAX + 1))


@pytest.mark.parametrize(
    "stored", ["", "plaintext", "$argon2id$v=19$m=8,t=1,p=1$garbage", "$2b$12$bcrypt", "ä$argon2"]
)
def test_verify_password_false_when_hash_is_malformed(stored):
    assert not verify_password(stored, PASSWORD)


def test_password_needs_rehash_false_when_params_match():
    assert not password_needs_rehash(hash_password(PASSWORD, TEST_PARAMS), TEST_PARAMS)


def test_password_needs_rehash_true_when_params_differ():
    stronger = Argon2Params(time_cost=2, memory_cost_kib=16, parallelism=1)

    assert password_needs_rehash(hash_password(PASSWORD, TEST_PARAMS), stronger)


def test_password_needs_rehash_true_when_hash_is_malformed():
    assert password_needs_rehash("not a hash", TEST_PARAMS)


def test_hash_password_uses_documented_params_by_default():
    # The one slow (about 35 ms) hash in the suite: it pins the production parameters.
    password_hash = hash_password(PASSWORD)

    assert "$m=19456,t=2,p=1$" in password_hash
    assert not password_needs_rehash(password_hash, DEFAULT_PARAMS)
    assert verify_password(password_hash, PASSWORD)
