"""Identifiers: 64-bit time-ordered ids (Snowflake layout), base62, and unguessable random slugs.

Snowflake layout, most significant bit first:
    1 bit zero | 41 bits milliseconds since EPOCH | 10 bits node | 12 bits sequence
so ids sort by creation time, and each node mints up to 4096 ids per millisecond without coordination.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

from scalebox.core.clock import Clock

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {char: value for value, char in enumerate(ALPHABET)}
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
NODE_BITS = 10
SEQUENCE_BITS = 12
NODE_MAX = (1 << NODE_BITS) - 1
_SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1


def encode_base62(number: int) -> str:
    """Encode a non-negative integer; 0 encodes as "0"."""
    if number < 0:
        raise ValueError("base62 encodes non-negative integers only")
    if number == 0:
        return ALPHABET[0]
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def decode_base62(text: str) -> int:
    """Inverse of encode_base62; raises ValueError on characters outside the alphabet."""
    if not text:
        raise ValueError("empty base62 string")
    number = 0
    for char in text:
        try:
            number = number * 62 + _INDEX[char]
        except KeyError:
            raise ValueError(f"not a base62 character: {char!r}") from None
    return number


def is_base62(text: str) -> bool:
    return bool(text) and all(char in _INDEX for char in text)


def random_base62(length: int, rng: random.Random) -> str:
    """`length` random base62 characters; pass random.SystemRandom() where they must be unguessable."""
    assert length > 0
    # One draw over the whole range (one os.urandom call for SystemRandom), zero-padded: uniform.
    return encode_base62(rng.randrange(62**length)).rjust(length, ALPHABET[0])


class SnowflakeGenerator:
    """Mints 64-bit ids that increase with time on one node; thread-safe."""

    def __init__(self, clock: Clock, node: int = 0) -> None:
        if not 0 <= node <= NODE_MAX:
            raise ValueError(f"node must be within 0..{NODE_MAX}")
        self._clock = clock
        self._node = node
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()

    def next_id(self) -> int:
        with self._lock:
            now_ms = max(self._millis(), self._last_ms)  # never step back if the wall clock does
            if now_ms == self._last_ms:
                self._sequence = (self._sequence + 1) & _SEQUENCE_MASK
                if self._sequence == 0:  # 4096 ids this millisecond: borrow the next one
                    now_ms += 1
            else:
                self._sequence = 0
            self._last_ms = now_ms
            return (now_ms << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | self._sequence

    def _millis(self) -> int:
        return int((self._clock.now() - EPOCH).total_seconds() * 1000)


def snowflake_time(snowflake: int) -> datetime:
    """When an id was minted (to the millisecond)."""
    return EPOCH + timedelta(milliseconds=snowflake >> (NODE_BITS + SEQUENCE_BITS))
