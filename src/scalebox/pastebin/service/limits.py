"""Who is asking (Viewer), the limits the service enforces, and the rate-limit check shared by use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scalebox.core.errors import LimitExceededError
from scalebox.core.ratelimit import RateLimiter

Action = Literal["create", "read", "report", "sign-in"]
_REPORTS_PER_MINUTE = 10
_SIGN_INS_PER_MINUTE = 10  # each attempt costs an argon2 hash: bound guessing and CPU alike


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller: an account (or None for anonymous), its standing, and the client address."""

    account_id: int | None = None
    is_admin: bool = False
    banned: bool = False
    ip: str = "unknown"


@dataclass(frozen=True, slots=True)
class Limits:
    """Plain values the service enforces, taken from PastebinSettings at the edge."""

    size_bytes_max: int = 512 * 1024
    create_per_minute_anonymous: int = 20
    create_per_minute_account: int = 120
    read_per_minute: int = 3000
    secret_scan: Literal["off", "flag", "reject"] = "flag"
    meta_cache_seconds: float = 30.0
    content_cache_seconds: float = 3600.0


class RateLimitedError(LimitExceededError):
    """Too many requests from this client; try again after Retry-After seconds."""

    code = "rate_limited"


async def check_rate(limiter: RateLimiter, limits: Limits, action: Action, viewer: Viewer) -> None:
    """Count one `action` for the viewer (by account when signed in, else by IP); raise when over."""
    if action == "create":
        limit = limits.create_per_minute_account if viewer.account_id else limits.create_per_minute_anonymous
    elif action == "read":
        limit = limits.read_per_minute
    elif action == "sign-in":
        limit = _SIGN_INS_PER_MINUTE
    else:
        limit = _REPORTS_PER_MINUTE
    if limit <= 0:
        return  # a limit of 0 switches the check off (benchmarks, trusted deployments)
    who = f"a{viewer.account_id}" if viewer.account_id is not None else f"ip{viewer.ip}"
    decision = await limiter.hit(f"pastebin:{action}:{who}", limit, 60.0)
    if not decision.allowed:
        raise RateLimitedError(
            f"too many {action} requests; try again in {decision.retry_after_seconds:.0f} s",
            retry_after_seconds=decision.retry_after_seconds,
        )
