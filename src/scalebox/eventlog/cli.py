"""`scalebox eventlog ...`: serve, topics, consumer groups, tail, produce (over the Kafka protocol, to
a running broker), and SASL users (in the data directory, no broker needed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from scalebox.core.cli import echo_table, run_or_exit
from scalebox.core.logs import configure_logging
from scalebox.eventlog.display import compute_lag, render_duration_ms, render_timestamp_ms, show_bytes
from scalebox.eventlog.settings import EventLogSettings

if TYPE_CHECKING:
    from scalebox.eventlog.kafka_client import BrokerClient, ConsumedRecord, GroupInfo, ResetTarget, TopicInfo
    from scalebox.eventlog.storage.catalog import UserFile

T = TypeVar("T")
EX_UNAVAILABLE = 69  # sysexits.h: no broker answered at the bootstrap address
TAIL_CHARS_MAX = 2000  # of a value on one line of `tail`

app = typer.Typer(
    help="Event log: a Kafka-protocol broker (aiokafka, kafka-python, confluent-kafka, kcat).",
    no_args_is_help=True,
)
topics = typer.Typer(help="Topics: create, list, describe, delete.", no_args_is_help=True)
groups = typer.Typer(help="Consumer groups: list, describe, reset offsets.", no_args_is_help=True)
users = typer.Typer(help="SASL users (PLAIN and SCRAM-SHA-256): add, list, remove.", no_args_is_help=True)
app.add_typer(topics, name="topics")
app.add_typer(groups, name="groups")
app.add_typer(users, name="users")

HostOption = Annotated[
    str | None, typer.Option(help="Address to bind [env SCALEBOX_EVENTLOG_HOST, default 127.0.0.1].")
]
PortOption = Annotated[
    int | None, typer.Option(help="Kafka listener port [env SCALEBOX_EVENTLOG_PORT, default 9092].")
]
DataOption = Annotated[
    Path | None, typer.Option(help="Data directory [env SCALEBOX_DATA_DIR, default ./data].")
]
BootstrapOption = Annotated[
    str | None,
    typer.Option(
        help="host:port of the broker [default from SCALEBOX_EVENTLOG_HOST and SCALEBOX_EVENTLOG_PORT]."
    ),
]


def _settings(**overrides: object) -> EventLogSettings:
    return EventLogSettings.from_env(overrides=overrides)


def _bootstrap(given: str | None) -> str:
    if given:
        return given
    settings = _settings()
    host = settings.public_host
    return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{settings.port}"


def _with_broker(bootstrap: str | None, body: Callable[[BrokerClient], Awaitable[T]]) -> T:
    """Run `body` with a client connected to the broker; a broker that does not answer is a one-line
    error (EX_UNAVAILABLE), a Kafka error code one with its exit code."""
    from scalebox.eventlog.kafka_client import BrokerClient, BrokerUnreachableError

    # aiokafka logs every failed connection attempt; the one line below says it better.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    address = _bootstrap(bootstrap)

    async def main() -> T:
        async with BrokerClient(address) as client:
            return await body(client)

    try:
        return run_or_exit(lambda: asyncio.run(main()))
    except BrokerUnreachableError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EX_UNAVAILABLE) from exc


@app.command()
def serve(host: HostOption = None, port: PortOption = None, data_dir: DataOption = None) -> None:
    """Run the Kafka listener, the console and the background work (retention, compaction, groups)."""
    from scalebox.eventlog.app import run

    settings = _settings(host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    console = (
        f", console on http://{settings.host}:{settings.console_port}" if settings.console_port >= 0 else ""
    )
    where = f"{settings.host}:{settings.port}{console}"
    typer.echo(f"eventlog Kafka listener on {where}  (data under {settings.system_dir})", err=True)
    run_or_exit(lambda: run(settings))


# -- topics ----------------------------------------------------------------------------------------


@topics.command("create")
def create_topic(
    name: str,
    partitions: Annotated[int, typer.Option(min=1, help="Number of partitions.")] = 1,
    config: Annotated[
        list[str] | None,
        typer.Option(help="A topic config as name=value (repeatable), e.g. retention.ms=3600000."),
    ] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Create a topic."""
    configs = dict(_config_pair(item) for item in config or ())
    _with_broker(bootstrap, lambda client: client.create_topic(name, partitions, configs))
    typer.echo(f"created topic {name} with {partitions} partition{'s' if partitions != 1 else ''}")


def _config_pair(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals or not name.strip():
        raise typer.BadParameter(f"expected name=value, got {item!r}", param_hint="--config")
    return name.strip(), value.strip()


@topics.command("list")
def list_topics(bootstrap: BootstrapOption = None) -> None:
    """Every topic: partitions, messages held, retention and cleanup policy."""
    found: list[TopicInfo] = _with_broker(bootstrap, lambda client: client.list_topics())
    echo_table(
        [
            (
                topic.name,
                str(len(topic.partitions)),
                str(topic.messages),
                _retention(topic),
                topic.configs.get("cleanup.policy", ("-", False))[0],
                "internal" if topic.internal else "",
            )
            for topic in found
        ],
        ("topic", "partitions", "messages", "retention", "cleanup policy", ""),
    )


def _retention(topic: TopicInfo) -> str:
    value = topic.configs.get("retention.ms", ("", False))[0]
    return render_duration_ms(int(value)) if value.lstrip("-").isdigit() else "-"


@topics.command("describe")
def describe_topic(name: str, bootstrap: BootstrapOption = None) -> None:
    """A topic's partitions (start and end offsets) and its configs."""
    [topic] = _with_broker(bootstrap, lambda client: client.list_topics([name]))
    typer.echo(
        f"topic {topic.name}{' (internal)' if topic.internal else ''}: {len(topic.partitions)} partitions"
    )
    echo_table(
        [(str(p.partition), str(p.start), str(p.end), str(p.end - p.start)) for p in topic.partitions],
        ("partition", "start offset", "end offset", "messages"),
    )
    typer.echo("")
    echo_table(
        [
            (config, value, "topic" if overridden else "default")
            for config, (value, overridden) in sorted(topic.configs.items())
        ],
        ("config", "value", "source"),
    )


@topics.command("delete")
def delete_topic(name: str, bootstrap: BootstrapOption = None) -> None:
    """Delete a topic and every record in it."""
    _with_broker(bootstrap, lambda client: client.delete_topic(name))
    typer.echo(f"deleted topic {name}")


# -- groups ----------------------------------------------------------------------------------------


@groups.command("list")
def list_groups(bootstrap: BootstrapOption = None) -> None:
    """Every consumer group: state, protocol, members and total lag."""
    found: list[GroupInfo] = _with_broker(bootstrap, lambda client: client.list_groups())
    echo_table(
        [
            (
                group.group_id,
                group.state,
                group.protocol_type or "-",
                str(len(group.members)),
                str(sum(_lag(group, tp) or 0 for tp in group.committed)),
            )
            for group in found
        ],
        ("group", "state", "protocol", "members", "lag"),
    )


def _lag(group: GroupInfo, tp: tuple[str, int]) -> int | None:
    return compute_lag(group.ends.get(tp), group.committed.get(tp))


@groups.command("describe")
def describe_group(
    group_id: Annotated[str, typer.Argument(metavar="GROUP")], bootstrap: BootstrapOption = None
) -> None:
    """A group's members and, per partition, its committed offset, the end offset and the lag."""
    group: GroupInfo = _with_broker(bootstrap, lambda client: client.describe_group(group_id))
    protocol = f"{group.protocol_type} ({group.protocol})" if group.protocol else group.protocol_type or "-"
    typer.echo(f"group {group.group_id}: {group.state}, protocol {protocol}, {len(group.members)} member(s)")
    partitions = sorted(set(group.committed) | set(group.ends))
    echo_table(
        [
            (
                topic,
                str(partition),
                _or_dash(group.committed.get((topic, partition))),
                _or_dash(group.ends.get((topic, partition))),
                _or_dash(_lag(group, (topic, partition))),
                _member(group, topic, partition),
            )
            for topic, partition in partitions
        ],
        ("topic", "partition", "committed", "end offset", "lag", "consumer"),
    )


def _member(group: GroupInfo, topic: str, partition: int) -> str:
    owner = group.owner(topic, partition)
    return f"{owner.client_id}@{owner.client_host.lstrip('/')}" if owner else "-"


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


@groups.command("reset-offsets")
def reset_offsets(
    group_id: Annotated[str, typer.Argument(metavar="GROUP")],
    *,
    topic: Annotated[str, typer.Option(help="The topic whose partitions to reset (all of them).")],
    to_earliest: Annotated[bool, typer.Option(help="To each partition's first offset.")] = False,
    to_latest: Annotated[
        bool, typer.Option(help="To each partition's end: skip everything not yet read.")
    ] = False,
    to_offset: Annotated[
        int | None, typer.Option(min=0, help="To this offset (kept within each partition).")
    ] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Move a group's committed offsets; the group must be empty (its consumers stopped)."""
    flags: tuple[tuple[Literal["earliest", "latest", "offset"], bool], ...] = (
        ("earliest", to_earliest),
        ("latest", to_latest),
        ("offset", to_offset is not None),
    )
    chosen = [kind for kind, given in flags if given]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --to-earliest, --to-latest and --to-offset N")
    target: ResetTarget = (chosen[0], to_offset or 0)
    changes = _with_broker(bootstrap, lambda client: client.reset_offsets(group_id, topic, target))
    echo_table(
        [(c.topic, str(c.partition), _or_dash(c.before), str(c.after)) for c in changes],
        ("topic", "partition", "before", "after"),
    )


# -- records ---------------------------------------------------------------------------------------


@app.command()
def tail(
    topic: str,
    *,
    partition: Annotated[int | None, typer.Option(min=0, help="Only this partition.")] = None,
    from_beginning: Annotated[
        bool, typer.Option(help="Every record still held, not only the last ones.")
    ] = False,
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="Records per partition to show.")] = 10,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new records (Ctrl-C stops).")
    ] = False,
    bootstrap: BootstrapOption = None,
) -> None:
    """Print a topic's newest records as `[partition:offset] key: value` (hex when not UTF-8)."""

    async def body(client: BrokerClient) -> None:
        records = client.tail(
            topic, partition=partition, from_beginning=from_beginning, count=lines, follow=follow
        )
        async for record in records:
            typer.echo(render_line(record))

    try:
        _with_broker(bootstrap, body)
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)


def render_line(record: ConsumedRecord) -> str:
    """One record on one line: control characters escaped, so a value cannot rewrite the terminal."""
    value = _one_line(record.value, TAIL_CHARS_MAX)
    time = render_timestamp_ms(record.timestamp_ms)
    if record.key is None:
        return f"[{record.partition}:{record.offset} {time}] {value}"
    return f"[{record.partition}:{record.offset} {time}] {_one_line(record.key, 200)}: {value}"


def _one_line(data: bytes | None, chars_max: int) -> str:
    shown = show_bytes(data, chars_max)
    text = shown.text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if shown.kind == "hex":
        text = "0x" + text
    return text + ("…" if shown.truncated else "")


@app.command()
def produce(
    topic: str,
    values: Annotated[
        list[str] | None, typer.Argument(metavar="VALUE...", help="Messages; none: one per stdin line.")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Key of every message (it chooses the partition).")] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Produce messages (acks=all): the VALUE arguments, or each line of stdin."""
    stdin = typer.get_text_stream("stdin")
    if not values and stdin.isatty():
        typer.echo("reading messages from stdin, one a line (Ctrl-D ends)", err=True)
    given = values or [line.rstrip("\n") for line in stdin]
    if not given:
        raise typer.BadParameter("give at least one VALUE, or lines on stdin")
    key_bytes = key.encode() if key is not None else None
    payloads = [value.encode() for value in given]
    written = _with_broker(bootstrap, lambda client: client.produce(topic, key_bytes, payloads))
    by_partition: dict[int, list[int]] = {}
    for partition, offset in written:
        by_partition.setdefault(partition, []).append(offset)
    where = ", ".join(
        f"partition {p} offset{'s' if len(o) > 1 else ''} {_span(o)}" for p, o in sorted(by_partition.items())
    )
    typer.echo(f"produced {len(written)} message{'s' if len(written) != 1 else ''} to {topic} ({where})")


def _span(offsets: list[int]) -> str:
    return str(offsets[0]) if len(offsets) == 1 else f"{min(offsets)}-{max(offsets)}"


# -- users -----------------------------------------------------------------------------------------


def _users_file(data_dir: Path | None) -> UserFile:
    from scalebox.eventlog.storage.catalog import UserFile

    return UserFile(_settings(data_dir=data_dir).system_dir / "users.json")


@users.command("add")
def add_user(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from the first line of stdin.")
    ] = False,
    data_dir: DataOption = None,
) -> None:
    """Add a user (or change its password); the broker picks it up without a restart."""
    from scalebox.eventlog.service.users import set_user

    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    created = run_or_exit(lambda: set_user(_users_file(data_dir), name, password))
    typer.echo(f"{'added user' if created else 'changed the password of'} {name}")


@users.command("list")
def list_users(data_dir: DataOption = None) -> None:
    """The users (names and mechanisms; passwords are never stored)."""
    from scalebox.eventlog.service.users import list_users as listed

    echo_table(
        [
            (name, credential.mechanism, str(credential.iterations))
            for name, credential in listed(_users_file(data_dir))
        ],
        ("user", "mechanism", "iterations"),
    )


@users.command("remove")
def remove_user(name: str, data_dir: DataOption = None) -> None:
    """Remove a user; new connections can no longer authenticate as it."""
    from scalebox.eventlog.service.users import remove_user as removed

    run_or_exit(lambda: removed(_users_file(data_dir), name))
    typer.echo(f"removed user {name}")
