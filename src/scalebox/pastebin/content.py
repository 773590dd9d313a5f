"""How paste content is stored: zstd-compressed, and sealed with AES-256-GCM when a password is set.

A sealed blob is `SEAL1 | salt(16) | nonce(12) | AES-GCM(zstd(text))`, with the key derived from the
password by scrypt. The password itself is never stored; a wrong one fails the GCM tag check.
"""

from __future__ import annotations

import hashlib
import random

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scalebox.pastebin.errors import PasswordRequiredError

_MAGIC = b"SEAL1"
_SALT_BYTES = 16
_NONCE_BYTES = 12
# scrypt cost: about 30 ms and 16 MiB per derivation, which makes offline guessing expensive while a
# reader barely notices.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_ZSTD_LEVEL = 3
_DECOMPRESSED_BYTES_MAX = 64 * 1024 * 1024

_compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
_decompressor = zstandard.ZstdDecompressor()


def compress(text: str) -> bytes:
    return _compressor.compress(text.encode("utf-8"))


def decompress(data: bytes) -> str:
    return _decompressor.decompress(data, max_output_size=_DECOMPRESSED_BYTES_MAX).decode("utf-8")


def _derive_key(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=1, dklen=32)


def seal(text: str, password: str, rng: random.Random) -> bytes:
    salt = rng.randbytes(_SALT_BYTES)
    nonce = rng.randbytes(_NONCE_BYTES)
    ciphertext = AESGCM(_derive_key(password, salt)).encrypt(nonce, compress(text), _MAGIC)
    return _MAGIC + salt + nonce + ciphertext


def unseal(blob: bytes, password: str | None) -> str:
    """The text of a sealed blob; PasswordRequiredError when the password is missing or wrong."""
    if password is None:
        raise PasswordRequiredError("this paste is protected by a password")
    if not blob.startswith(_MAGIC):
        raise ValueError("not a sealed blob")
    header = len(_MAGIC)
    salt = blob[header : header + _SALT_BYTES]
    nonce = blob[header + _SALT_BYTES : header + _SALT_BYTES + _NONCE_BYTES]
    ciphertext = blob[header + _SALT_BYTES + _NONCE_BYTES :]
    try:
        compressed = AESGCM(_derive_key(password, salt)).decrypt(nonce, ciphertext, _MAGIC)
    except InvalidTag:
        raise PasswordRequiredError("wrong password") from None
    return decompress(compressed)
