"""The cache port and its adapters; `open_cache` picks one from a URL setting."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scalebox.core.cache.memory import MemoryCache
from scalebox.core.cache.port import Cache
from scalebox.core.cache.redis import RedisCache
from scalebox.core.clock import Clock
from scalebox.core.errors import InvalidError

__all__ = ["Cache", "MemoryCache", "RedisCache", "open_cache"]

_MAX_ENTRIES_DEFAULT = 10_000


def open_cache(url: str, *, clock: Clock) -> Cache:
    """`memory://?max_entries=10000` or `redis://host:port/db?namespace=prefix:` (also rediss://).

    Other query parameters of a Redis URL go to redis-py as connection options.
    """
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "memory" and not (parts.netloc or parts.path):
        options = dict(pairs)
        if options.keys() - {"max_entries"}:
            raise InvalidError(
                f"unknown option in cache URL {url!r}; memory:// takes max_entries", field="url"
            )
        return MemoryCache(_parse_max_entries(options.get("max_entries")), clock)
    if parts.scheme in {"redis", "rediss"}:
        namespace = dict(pairs).get("namespace", "")
        rest = urlencode([(name, value) for name, value in pairs if name != "namespace"])
        return RedisCache.from_url(urlunsplit(parts._replace(query=rest)), namespace)
    raise InvalidError(f"unsupported cache URL {url!r}: use memory:// or redis://", field="url")


def _parse_max_entries(text: str | None) -> int:
    if text is None:
        return _MAX_ENTRIES_DEFAULT
    if not text.isdigit() or int(text) == 0:
        raise InvalidError(f"max_entries must be a positive integer, not {text!r}", field="max_entries")
    return int(text)
