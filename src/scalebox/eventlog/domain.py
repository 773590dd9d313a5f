"""Pure rules of the event log: topic names, topic configs (Kafka's names and defaults), limits.

Configs are kept as Kafka spells them (`retention.ms`, `cleanup.policy`, ...) so DescribeConfigs,
IncrementalAlterConfigs and the CLI speak the same language as every Kafka tool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Literal

from scalebox.eventlog.errors import InvalidConfigError, InvalidTopicError

TOPIC_NAME_MAX = 249
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")
INTERNAL_TOPIC_PREFIX = "__"
OFFSETS_TOPIC = "__consumer_offsets"

MiB = 1024 * 1024
GiB = 1024 * MiB
DAY_MS = 24 * 3600 * 1000

CleanupPolicy = Literal["delete", "compact", "compact,delete"]


def validate_topic_name(name: str) -> str:
    """Kafka's rule: 1 to 249 characters from [a-zA-Z0-9._-], not "." or ".."."""
    if not name or len(name) > TOPIC_NAME_MAX:
        raise InvalidTopicError(f"topic name must be 1 to {TOPIC_NAME_MAX} characters, got {len(name)}")
    if name in {".", ".."}:
        raise InvalidTopicError(f"topic name cannot be {name!r}")
    if not _TOPIC_NAME.fullmatch(name):
        raise InvalidTopicError(
            f"topic name {name!r} is illegal: it may contain only ASCII letters, digits, '.', '_' and '-'"
        )
    return name


def is_internal(name: str) -> bool:
    return name == OFFSETS_TOPIC


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """A topic's settings. Field names are Kafka's with dots as underscores; -1 means "no limit"."""

    cleanup_policy: CleanupPolicy = "delete"
    retention_ms: int = 7 * DAY_MS
    retention_bytes: int = -1
    segment_bytes: int = GiB
    segment_ms: int = 7 * DAY_MS
    segment_index_bytes: int = 10 * MiB
    index_interval_bytes: int = 4096
    max_message_bytes: int = MiB + 12  # one record batch, as Kafka's default (1048588)
    delete_retention_ms: int = DAY_MS  # tombstones of compacted topics live this long
    min_compaction_lag_ms: int = 0
    min_cleanable_dirty_ratio: float = 0.5
    # Fsync policy: every N messages (1 = every batch) or every N ms; an acks=all answer waits for it.
    flush_messages: int = 1
    flush_ms: int = -1
    message_timestamp_type: Literal["CreateTime", "LogAppendTime"] = "CreateTime"

    @property
    def compacted(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def deletes(self) -> bool:
        return "delete" in self.cleanup_policy

    def to_kafka(self) -> dict[str, str]:
        """Every config as Kafka names and renders it."""
        return {_kafka_name(f.name): _render(getattr(self, f.name)) for f in fields(self)}

    def overridden(self, defaults: TopicConfig) -> dict[str, str]:
        """The configs that differ from `defaults` (what a topic stores and reports as its own)."""
        ours, theirs = self.to_kafka(), defaults.to_kafka()
        return {name: value for name, value in ours.items() if theirs[name] != value}

    def with_kafka(self, changes: Mapping[str, str | None], defaults: TopicConfig) -> TopicConfig:
        """A copy with Kafka-named changes applied; a None value resets that config to `defaults`."""
        updates: dict[str, object] = {}
        for name, value in changes.items():
            attribute = _attribute(name)
            updates[attribute] = getattr(defaults, attribute) if value is None else _parse(name, value)
        return _checked(replace(self, **updates))  # type: ignore[arg-type]

    @classmethod
    def from_kafka(cls, configs: Mapping[str, str], defaults: TopicConfig | None = None) -> TopicConfig:
        return (defaults or cls()).with_kafka(configs, defaults or cls())


def config_names() -> list[str]:
    return [_kafka_name(f.name) for f in fields(TopicConfig)]


def _kafka_name(attribute: str) -> str:
    return attribute.replace("_", ".")


def _attribute(name: str) -> str:
    attribute = name.replace(".", "_")
    if attribute not in _PARSERS:
        raise InvalidConfigError(f"unknown topic config {name!r}; known: {', '.join(config_names())}")
    return attribute


def _render(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _integer(low: int) -> Callable[[str, str], int]:
    def parse(name: str, value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise InvalidConfigError(f"{name} must be an integer, got {value!r}") from None
        if number < low:
            raise InvalidConfigError(f"{name} must be at least {low}, got {number}")
        return number

    return parse


def _ratio(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidConfigError(f"{name} must be a number, got {value!r}") from None
    if not 0 <= number <= 1:
        raise InvalidConfigError(f"{name} must be between 0 and 1, got {value}")
    return number


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, value: str) -> str:
        normalized = ",".join(sorted(part.strip() for part in value.split(","))) if "," in value else value
        if normalized not in allowed:
            raise InvalidConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return normalized

    return parse


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "cleanup_policy": _choice("delete", "compact", "compact,delete"),
    "retention_ms": _integer(-1),
    "retention_bytes": _integer(-1),
    "segment_bytes": _integer(14),
    "segment_ms": _integer(1),
    "segment_index_bytes": _integer(4),
    "index_interval_bytes": _integer(0),
    "max_message_bytes": _integer(0),
    "delete_retention_ms": _integer(0),
    "min_compaction_lag_ms": _integer(0),
    "min_cleanable_dirty_ratio": _ratio,
    "flush_messages": _integer(1),
    "flush_ms": _integer(-1),
    "message_timestamp_type": _choice("CreateTime", "LogAppendTime"),
}


def _parse(name: str, value: str) -> object:
    return _PARSERS[_attribute(name)](name, value)


def _checked(config: TopicConfig) -> TopicConfig:
    if config.retention_ms == 0:
        raise InvalidConfigError("retention.ms must be -1 (forever) or positive")
    return config
