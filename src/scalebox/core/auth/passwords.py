"""Password hashing: argon2id through argon2-cffi, with the length rules every system shares.

Only the encoded hash is ever stored; it carries its own salt and parameters, so verifying needs no
configuration and hashes made under older parameters keep working until they are rehashed at login.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError

from scalebox.core.errors import InvalidError

PASSWORD_CHARS_MIN = 8
PASSWORD_CHARS_MAX = 1024  # argon2 would take more, but an unbounded input is a free CPU burner


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Cost parameters for new hashes; existing hashes verify under whatever they were made with."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int


# The OWASP Password Storage Cheat Sheet's first argon2id configuration (m=19 MiB, t=2, p=1):
# about 35 ms on a 2-core laptop, against about 180 ms for argon2-cffi's RFC 9106 "low memory"
# profile (64 MiB, t=3, p=4), which would make every login a noticeable stall on a small machine.
DEFAULT_PARAMS = Argon2Params(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)

# The cheapest parameters argon2 accepts: for tests only, where thousands of hashes must stay fast.
TEST_PARAMS = Argon2Params(time_cost=1, memory_cost_kib=8, parallelism=1)


def hash_password(password: str, params: Argon2Params = DEFAULT_PARAMS) -> str:
    """Hash a new password; raises InvalidError if it is shorter or longer than the limits."""
    if len(password) < PASSWORD_CHARS_MIN:
        raise InvalidError(f"password must be at least {PASSWORD_CHARS_MIN} characters", field="password")
    if len(password) > PASSWORD_CHARS_MAX:
        raise InvalidError(f"password must be at most {PASSWORD_CHARS_MAX} characters", field="password")
    return _hasher(params).hash(_encode(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True if `password` matches; False on a mismatch, a malformed hash or an over-long password."""
    if len(password) > PASSWORD_CHARS_MAX:
        return False  # never accepted by hash_password, so it cannot match; skip the work
    try:
        return _hasher(DEFAULT_PARAMS).verify(password_hash, _encode(password))
    except (VerificationError, ValueError):  # ValueError: InvalidHashError or a non-ASCII hash
        return False


def password_needs_rehash(password_hash: str, params: Argon2Params = DEFAULT_PARAMS) -> bool:
    """True if `password_hash` was made with other parameters (or is not a hash we can read)."""
    try:
        return _hasher(params).check_needs_rehash(password_hash)
    except ValueError:  # InvalidHashError or a non-ASCII hash
        return True


def _hasher(params: Argon2Params) -> PasswordHasher:
    # Cheap to build: it only validates and stores the parameters.
    return PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost_kib,
        parallelism=params.parallelism,
        type=Type.ID,
    )


def _encode(password: str) -> bytes:
    # "surrogatepass" so a lone surrogate (possible in decoded JSON) hashes instead of crashing.
    return password.encode("utf-8", "surrogatepass")
