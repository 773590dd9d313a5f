"""Reading the adapter URLs of settings (`memory://?max_entries=N`, `redis://host/0?namespace=p:`),
shared by the ports that have a memory and a Redis adapter."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scalebox.core.errors import InvalidError


@dataclass(frozen=True, slots=True)
class AdapterUrl:
    """A parsed adapter URL: `memory` with its size option, or `redis` with a namespace."""

    scheme: str
    size: int = 0  # memory: the one size option's value
    redis_url: str = ""  # redis: the URL for redis-py, without our namespace option
    namespace: str = ""


def parse_adapter_url(url: str, *, kind: str, size_option: str, size_default: int) -> AdapterUrl:
    """`memory://?<size_option>=N` or `redis[s]://host:port/db?namespace=prefix:&<redis-py options>`."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "memory" and not (parts.netloc or parts.path):
        options = dict(pairs)
        if options.keys() - {size_option}:
            raise InvalidError(
                f"unknown option in {kind} URL {url!r}; memory:// takes {size_option}", field="url"
            )
        return AdapterUrl("memory", size=_positive_int(options.get(size_option), size_option, size_default))
    if parts.scheme in {"redis", "rediss"}:
        namespace = dict(pairs).get("namespace", "")
        rest = urlencode([(name, value) for name, value in pairs if name != "namespace"])
        return AdapterUrl("redis", redis_url=urlunsplit(parts._replace(query=rest)), namespace=namespace)
    raise InvalidError(f"unsupported {kind} URL {url!r}: use memory:// or redis://", field="url")


def _positive_int(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or int(text) == 0:
        raise InvalidError(f"{name} must be a positive integer, not {text!r}", field=name)
    return int(text)
