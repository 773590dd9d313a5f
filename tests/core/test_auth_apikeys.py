"""API keys: their format, parsing of anything a client may send, hashing and verification."""

from __future__ import annotations

import hashlib
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.auth.apikeys import generate_api_key, hash_api_key, parse_api_key, verify_api_key

KEY_FORMAT = re.compile(r"sbx_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}")


def test_generate_api_key_follows_the_documented_format():
    issued = generate_api_key(random.Random(7))

    assert KEY_FORMAT.fullmatch(issued.plaintext)
    assert issued.plaintext.split("_")[1] == issued.key_id


def test_generate_api_key_stores_sha256_hex_of_the_whole_key():
    issued = generate_api_key(random.Random(7))

    assert issued.key_hash == hashlib.sha256(issued.plaintext.encode()).hexdigest()
    assert issued.key_hash == hash_api_key(issued.plaintext)


def test_generate_api_key_is_reproducible_when_rng_is_seeded():
    assert generate_api_key(random.Random(3)) == generate_api_key(random.Random(3))
    assert generate_api_key(random.Random(3)) != generate_api_key(random.Random(4))


def test_issued_key_repr_hides_the_plaintext():
    issued = generate_api_key(random.Random(7))

    assert issued.plaintext not in repr(issued)
    assert issued.key_id in repr(issued)


@given(st.integers(min_value=0, max_value=2**64))
def test_parse_api_key_returns_key_id_when_key_is_generated(seed):
    issued = generate_api_key(random.Random(seed))

    assert parse_api_key(issued.plaintext) == issued.key_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sbx",
        "sbx__",
        "sbx_abcdefgh_",
        "sbx_abcdefgh_" + "a" * 31,  # secret too short
        "sbx_abcdefg_" + "a" * 32,  # key id too short
        "sbx_abcdefghi_" + "a" * 32,  # key id too long
        "SBX_abcdefgh_" + "a" * 32,
        "xyz_abcdefgh_" + "a" * 32,
        "sbx_abcd-fgh_" + "a" * 32,
        "sbx_abcdefgh_" + "a" * 31 + "!",
        "sbx_abcdefgh_" + "a" * 32 + "_extra",
        "sbx_abcdéfgh_" + "a" * 32,
        " sbx_abcdefgh_" + "a" * 32,
        "sbx_abcdefgh_" + "a" * 32 + "\n",
        "sbx_abcdefgh_" + "a" * 10_000,
        "Bearer sbx_abcdefgh_" + "a" * 32,
    ],
)
def test_parse_api_key_returns_none_when_text_is_malformed(text):
    assert parse_api_key(text) is None


def test_parse_api_key_accepts_longer_secrets():
    assert parse_api_key("sbx_abcdefgh_" + "a" * 64) == "abcdefgh"


@given(st.text())
def test_parse_api_key_never_raises_when_text_is_arbitrary(text):
    key_id = parse_api_key(text)

    assert key_id is None or (len(key_id) == 8 and text.startswith(f"sbx_{key_id}_"))


def test_verify_api_key_accepts_the_issued_key():
    issued = generate_api_key(random.Random(1))

    assert verify_api_key(issued.plaintext, issued.key_hash)


def test_verify_api_key_rejects_a_key_with_another_secret():
    issued = generate_api_key(random.Random(1))
    forged = issued.plaintext[:-1] + ("b" if issued.plaintext[-1] != "b" else "c")

    assert parse_api_key(forged) == issued.key_id
    assert not verify_api_key(forged, issued.key_hash)


@pytest.mark.parametrize("stored_hash", ["", "00", "z" * 64, "é" * 64, "\udcff"])
def test_verify_api_key_false_when_stored_hash_is_malformed(stored_hash):
    assert not verify_api_key(generate_api_key(random.Random(1)).plaintext, stored_hash)


@given(st.text(), st.text())
def test_verify_api_key_never_raises_when_inputs_are_arbitrary(plaintext, stored_hash):
    assert verify_api_key(plaintext, stored_hash) == (hash_api_key(plaintext) == stored_hash)
