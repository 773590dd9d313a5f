"""The rate limit port and its adapters; `open_rate_limiter` picks one from a URL setting."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scalebox.core.clock import Clock
from scalebox.core.errors import InvalidError
from scalebox.core.ratelimit.memory import MemoryRateLimiter
from scalebox.core.ratelimit.port import Decision, RateLimiter, check_limit
from scalebox.core.ratelimit.redis import RedisRateLimiter

__all__ = [
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "check_limit",
    "open_rate_limiter",
]

_MAX_KEYS_DEFAULT = 100_000


def open_rate_limiter(url: str, *, clock: Clock) -> RateLimiter:
    """`memory://?max_keys=100000` or `redis://host:port/db?namespace=prefix:` (also rediss://).

    Other query parameters of a Redis URL go to redis-py as connection options.
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "memory" and not (parts.netloc or parts.path):
        options = dict(pairs)
        if options.keys() - {"max_keys"}:
            raise InvalidError(
                f"unknown option in rate limit URL {url!r}; memory:// takes max_keys", field="url"
            )
        return MemoryRateLimiter(clock, _parse_max_keys(options.get("max_keys")))
    if parts.scheme in {"redis", "rediss"}:
        namespace = dict(pairs).get("namespace", "")
        rest = urlencode([(name, value) for name, value in pairs if name != "namespace"])
        return RedisRateLimiter.from_url(urlunsplit(parts._replace(query=rest)), clock, namespace)
    raise InvalidError(f"unsupported rate limit URL {url!r}: use memory:// or redis://", field="url")


def _parse_max_keys(text: str | None) -> int:
    if text is None:
        return _MAX_KEYS_DEFAULT
    if not text.isdigit() or int(text) == 0:
        raise InvalidError(f"max_keys must be a positive integer, not {text!r}", field="max_keys")
    return int(text)
