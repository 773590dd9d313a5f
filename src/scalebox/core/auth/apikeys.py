"""API keys: `sbx_<key id>_<secret>`, shown once at issue and stored only as a SHA-256 digest.

The key id is public and indexes the stored row; the secret never leaves the response that issued it.
A plain SHA-256 (not argon2) is right here because the secret is 190 random bits, not a human
password: there is nothing to brute-force, and the check runs on every API request.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass, field

from scalebox.core.ids import is_base62, random_base62

API_KEY_PREFIX = "sbx"
KEY_ID_CHARS = 8
SECRET_CHARS = 32  # base62: about 190 bits
SECRET_CHARS_MAX = 128  # parse accepts longer secrets, so the length can grow without breaking keys
API_KEY_CHARS_MAX = len(API_KEY_PREFIX) + 1 + KEY_ID_CHARS + 1 + SECRET_CHARS_MAX


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly minted key: show `plaintext` to its owner once, store `key_id` and `key_hash`."""

    plaintext: str = field(repr=False)  # kept out of reprs so it never lands in a log line
    key_id: str
    key_hash: str


def generate_api_key(rng: random.Random) -> IssuedKey:
    """Mint a key; pass random.SystemRandom() outside tests, since the secret must be unguessable."""
    key_id = random_base62(KEY_ID_CHARS, rng)
    secret = random_base62(SECRET_CHARS, rng)
    plaintext = f"{API_KEY_PREFIX}_{key_id}_{secret}"
    return IssuedKey(plaintext=plaintext, key_id=key_id, key_hash=hash_api_key(plaintext))


def parse_api_key(text: str) -> str | None:
    """The key id of a well-formed key, or None for anything else; never raises."""
    if len(text) > API_KEY_CHARS_MAX:
        return None
    parts = text.split("_")
    if len(parts) != 3:
        return None
    prefix, key_id, secret = parts
    if prefix != API_KEY_PREFIX or len(key_id) != KEY_ID_CHARS or len(secret) < SECRET_CHARS:
        return None
    if not (is_base62(key_id) and is_base62(secret)):
        return None
    return key_id


def hash_api_key(plaintext: str) -> str:
    """The stored form of a key: lowercase hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def verify_api_key(plaintext: str, stored_hash: str) -> bool:
    """True if `plaintext` hashes to `stored_hash`; compares in constant time."""
    expected = stored_hash.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(hash_api_key(plaintext).encode("ascii"), expected)
