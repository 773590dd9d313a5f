"""Stored paste content: zstd compression and password sealing (AES-256-GCM with a scrypt key)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.pastebin import content
from scalebox.pastebin.errors import PasswordRequiredError

TEXT = "def main():\n    print('h\u00e9llo \U0001f600')\r\n" * 20


def test_compress_round_trips_text():
    assert content.decompress(content.compress(TEXT)) == TEXT


def test_compress_shrinks_repetitive_text():
    assert len(content.compress(TEXT)) < len(TEXT.encode()) / 2


@given(st.text())
def test_compress_round_trips_any_text(text):
    assert content.decompress(content.compress(text)) == text


def test_seal_round_trips_with_the_right_password():
    sealed = content.seal(TEXT, "hunter2", random.Random(1))

    assert content.unseal(sealed, "hunter2") == TEXT


def test_seal_does_not_hold_the_plaintext_or_the_password():
    sealed = content.seal(TEXT, "hunter2", random.Random(1))

    assert b"main" not in sealed
    assert b"hunter2" not in sealed
    assert content.compress(TEXT) not in sealed


def test_unseal_raises_password_required_when_password_is_wrong():
    sealed = content.seal(TEXT, "hunter2", random.Random(1))

    with pytest.raises(PasswordRequiredError, match="wrong password"):
        content.unseal(sealed, "hunter3")


def test_unseal_raises_password_required_when_password_is_missing():
    sealed = content.seal(TEXT, "hunter2", random.Random(1))

    with pytest.raises(PasswordRequiredError):
        content.unseal(sealed, None)


def test_unseal_raises_password_required_when_the_blob_was_tampered_with():
    sealed = bytearray(content.seal(TEXT, "hunter2", random.Random(1)))
    sealed[-1] ^= 0x01

    with pytest.raises(PasswordRequiredError):
        content.unseal(bytes(sealed), "hunter2")


def test_seal_differs_when_the_same_text_is_sealed_twice():
    rng = random.Random(1)

    first = content.seal(TEXT, "hunter2", rng)
    second = content.seal(TEXT, "hunter2", rng)

    assert first != second
    assert first[:5] == second[:5] == b"SEAL1"
    assert first[5:21] != second[5:21]  # the salt
    assert content.unseal(first, "hunter2") == content.unseal(second, "hunter2") == TEXT


def test_unseal_refuses_a_blob_that_is_not_sealed():
    with pytest.raises(ValueError, match="not a sealed blob"):
        content.unseal(content.compress(TEXT), "hunter2")
