"""The RateLimiter port: sliding-window limits, counted in process or atomically in Redis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scalebox.core.errors import InvalidError


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one hit: allowed or not, what is left, and when to try again."""

    allowed: bool
    remaining: int
    retry_after_seconds: float


class RateLimiter(Protocol):
    """Counts hits per key over a sliding window. Implementations: MemoryRateLimiter, RedisRateLimiter.

    A hit that is refused is not counted, so a client that backs off by Retry-After gets through.
    """

    async def hit(self, key: str, limit: int, window_seconds: float) -> Decision:
        """Count one hit on `key` if fewer than `limit` fell in the last `window_seconds`.

        Raises InvalidError when limit < 1 or window_seconds <= 0 (see check_limit).
        """
        ...

    async def close(self) -> None: ...


def check_limit(limit: int, window_seconds: float) -> None:
    """Reject a limit no window could honour; every adapter calls it before counting."""
    if limit < 1:
        raise InvalidError(f"limit must be at least 1, not {limit}", field="limit")
    if not window_seconds > 0:
        raise InvalidError(f"window_seconds must be positive, not {window_seconds}", field="window_seconds")
