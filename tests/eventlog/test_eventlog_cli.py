"""`scalebox eventlog ...` through Typer's CliRunner: topics, produce and tail, consumer groups and
offset resets against a real broker served in process on a free port (aiokafka on both sides of the
wire), and SASL users edited in the data directory with no broker at all."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from typer.testing import CliRunner, Result

from scalebox.eventlog.cli import app
from scalebox.eventlog.service.users import verify_password
from scalebox.eventlog.storage.catalog import UserFile
from tests.eventlog.harness import RunningBroker, running_broker
from tests.servers import HOST, free_port

Invoke = Callable[..., Result]
TIMEOUT_SECONDS = 20


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    with running_broker(tmp_path_factory.mktemp("eventlog-cli"), flush_messages=10_000) as running:
        yield running


@pytest.fixture
def invoke(broker: RunningBroker) -> Invoke:
    """Run `scalebox eventlog ARGS...` in process against the test broker."""
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, [*args, "--bootstrap", broker.bootstrap], input=stdin)

    return run


def rows(output: str) -> dict[str, list[str]]:
    """A table's rows by their first cell (cells are split on runs of two or more spaces)."""
    lines = [line for line in output.splitlines() if line.strip()]
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines)}


def consume_and_commit(bootstrap: str, topic: str, group_id: str, count: int) -> None:
    """A real consumer in the group reads `count` records, commits, and leaves."""

    async def main() -> None:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id="cli-test-consumer",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            for _ in range(count):
                await asyncio.wait_for(consumer.getone(), TIMEOUT_SECONDS)
            await consumer.commit()
        finally:
            await consumer.stop()

    asyncio.run(main())


# -- help and errors ---------------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    for command in ("serve", "topics", "groups", "tail", "produce", "users"):
        assert re.search(rf"^\W*{command}\b", top.output, re.MULTILINE), top.output
    for group, commands in (
        ("topics", ("create", "list", "describe", "delete")),
        ("groups", ("list", "describe", "reset-offsets")),
        ("users", ("add", "list", "remove")),
    ):
        listed = runner.invoke(app, [group, "--help"]).output
        for command in commands:
            assert re.search(rf"^\W*{command}\b", listed, re.MULTILINE), listed


def test_a_broker_that_is_not_running_is_a_one_line_error() -> None:
    result = CliRunner().invoke(app, ["topics", "list", "--bootstrap", f"{HOST}:{free_port()}"])

    assert result.exit_code == 69, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: no Kafka broker answered at 127.0.0.1:")
    assert "scalebox eventlog serve" in line


# -- topics ------------------------------------------------------------------------------------------


def test_topics_are_created_listed_described_and_deleted(invoke: Invoke) -> None:
    created = invoke(
        "topics", "create", "cli-orders", "--partitions", "3", "--config", "retention.ms=3600000"
    )
    again = invoke("topics", "create", "cli-orders")
    bad_config = invoke("topics", "create", "cli-bad", "--config", "retention.ms=soon")
    listed = invoke("topics", "list")
    described = invoke("topics", "describe", "cli-orders")

    assert created.exit_code == 0, created.output
    assert created.output == "created topic cli-orders with 3 partitions\n"
    assert again.exit_code == 73, again.output  # ConflictError: TOPIC_ALREADY_EXISTS
    assert "already exists" in again.output
    assert bad_config.exit_code == 65, bad_config.output  # InvalidError: INVALID_CONFIG
    assert listed.exit_code == 0, listed.output
    table = rows(listed.output)
    assert table["cli-orders"][1:5] == ["3", "0", "1 hour", "delete"]
    assert table["__consumer_offsets"][-1] == "internal"
    assert described.exit_code == 0, described.output
    partitions = rows(described.output)
    assert [partitions[str(p)][1:] for p in range(3)] == [["0", "0", "0"]] * 3
    assert partitions["retention.ms"][1:] == ["3600000", "topic"]
    assert partitions["segment.bytes"][2] == "default"

    deleted = invoke("topics", "delete", "cli-orders")
    assert deleted.exit_code == 0, deleted.output
    assert "cli-orders" not in rows(invoke("topics", "list").output)
    missing = invoke("topics", "describe", "cli-orders")
    assert missing.exit_code == 66, missing.output  # NotFoundError
    assert invoke("topics", "delete", "cli-orders").exit_code == 66
    assert "cli-orders" not in rows(invoke("topics", "list").output)  # describing did not re-create it


# -- produce and tail --------------------------------------------------------------------------------


def test_produced_messages_come_back_through_tail(invoke: Invoke) -> None:
    assert invoke("topics", "create", "cli-events").exit_code == 0
    produced = invoke("produce", "cli-events", "--key", "user-1", "first", "second")
    piped = invoke("produce", "cli-events", stdin="third\nline with\ttab\n")
    tailed = invoke("tail", "cli-events", "--from-beginning")
    last = invoke("tail", "cli-events", "-n", "2")

    assert produced.exit_code == 0, produced.output
    assert produced.output == "produced 2 messages to cli-events (partition 0 offsets 0-1)\n"
    assert piped.output == "produced 2 messages to cli-events (partition 0 offsets 2-3)\n"
    assert tailed.exit_code == 0, tailed.output
    lines = tailed.output.splitlines()
    assert [re.sub(r" \d{4}-\d\d-\d\d [\d:.]+ UTC", "", line) for line in lines] == [
        "[0:0] user-1: first",
        "[0:1] user-1: second",
        "[0:2] third",
        "[0:3] line with\\ttab",
    ]
    assert [line.split("]")[1] for line in last.output.splitlines()] == [" third", " line with\\ttab"]


def test_tail_shows_binary_values_as_hex_and_refuses_unknown_partitions(
    invoke: Invoke, broker: RunningBroker
) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("cli-binary", b"\x00\xff\x1b[2J", key=b"\x01", partition=1)
        finally:
            await producer.stop()

    assert invoke("topics", "create", "cli-binary", "--partitions", "2").exit_code == 0
    asyncio.run(send())

    tailed = invoke("tail", "cli-binary", "--partition", "1")
    other = invoke("tail", "cli-binary", "--partition", "0")
    missing = invoke("tail", "cli-binary", "--partition", "5")

    assert tailed.exit_code == 0, tailed.output
    assert re.fullmatch(r"\[1:0 [^\]]+\] 0x01: 0x00ff1b5b324a\n", tailed.output)
    assert other.exit_code == 0
    assert other.output == ""
    assert missing.exit_code == 66, missing.output


# -- groups ------------------------------------------------------------------------------------------


def test_groups_describe_shows_committed_offsets_end_offsets_and_lag(
    invoke: Invoke, broker: RunningBroker
) -> None:
    assert invoke("topics", "create", "cli-lag", "--partitions", "1").exit_code == 0
    assert invoke("produce", "cli-lag", *[f"m{n}" for n in range(5)]).exit_code == 0
    consume_and_commit(broker.bootstrap, "cli-lag", "cli-readers", 3)
    assert invoke("produce", "cli-lag", "m5").exit_code == 0

    described = invoke("groups", "describe", "cli-readers")
    listed = invoke("groups", "list")

    assert described.exit_code == 0, described.output
    first, *table = described.output.splitlines()
    assert first.startswith("group cli-readers: Empty, protocol consumer")
    assert rows("\n".join(table))["cli-lag"][1:] == ["0", "3", "6", "3", "-"]
    assert rows(listed.output)["cli-readers"][1:] == ["Empty", "consumer", "0", "3"]
    assert invoke("groups", "describe", "nobody-here").exit_code == 66


def test_offsets_reset_only_while_the_group_is_empty(invoke: Invoke, broker: RunningBroker) -> None:
    assert invoke("topics", "create", "cli-reset", "--partitions", "2").exit_code == 0
    assert invoke("produce", "cli-reset", "--key", "a", "1", "2", "3").exit_code == 0
    consume_and_commit(broker.bootstrap, "cli-reset", "cli-resetters", 3)

    earliest = invoke("groups", "reset-offsets", "cli-resetters", "--topic", "cli-reset", "--to-earliest")
    assert earliest.exit_code == 0, earliest.output
    table = rows(earliest.output)
    assert [row[2:] for name, row in table.items() if name == "cli-reset"]  # a row per partition
    after = {line.split()[1]: line.split()[2:] for line in earliest.output.splitlines()[1:]}
    assert sorted(v[1] for v in after.values()) == ["0", "0"]
    described = rows(invoke("groups", "describe", "cli-resetters").output)
    assert described["cli-reset"][2] == "0"

    latest = invoke("groups", "reset-offsets", "cli-resetters", "--topic", "cli-reset", "--to-latest")
    assert latest.exit_code == 0, latest.output
    to_offset = invoke("groups", "reset-offsets", "cli-resetters", "--topic", "cli-reset", "--to-offset", "1")
    assert to_offset.exit_code == 0, to_offset.output
    neither = invoke("groups", "reset-offsets", "cli-resetters", "--topic", "cli-reset")
    assert neither.exit_code == 2

    with member_of(broker.bootstrap, "cli-reset", "cli-resetters"):
        busy = invoke("groups", "reset-offsets", "cli-resetters", "--topic", "cli-reset", "--to-earliest")
    assert busy.exit_code == 73, busy.output
    assert "stop its consumers first" in busy.output


class member_of:  # noqa: N801 - reads as a phrase: `with member_of(...)`
    """A consumer that stays in the group (on its own thread and loop) for the block."""

    def __init__(self, bootstrap: str, topic: str, group_id: str) -> None:
        self.bootstrap, self.topic, self.group_id = bootstrap, topic, group_id
        self.joined = threading.Event()
        self.leave = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False
        )
        await consumer.start()
        try:
            while not self.leave.is_set():
                await consumer.getmany(timeout_ms=100)
                if consumer.assignment():
                    self.joined.set()
        finally:
            await consumer.stop()

    def __enter__(self) -> member_of:
        self.thread.start()
        assert self.joined.wait(TIMEOUT_SECONDS), "the consumer never joined its group"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.leave.set()
        self.thread.join(TIMEOUT_SECONDS)


# -- users -------------------------------------------------------------------------------------------


def test_users_are_added_listed_and_removed_without_a_broker(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]

    added = runner.invoke(app, ["users", "add", "alice", *data], input="s3cret\ns3cret\n")
    piped = runner.invoke(app, ["users", "add", "bob", "--password-stdin", *data], input="hunter2\n")
    changed = runner.invoke(app, ["users", "add", "bob", "--password-stdin", *data], input="hunter3\n")
    mismatch = runner.invoke(app, ["users", "add", "carol", *data], input="one\ntwo\nthree\nthree\n")
    bad_name = runner.invoke(app, ["users", "add", "a=b", "--password-stdin", *data], input="pw\n")
    listed = runner.invoke(app, ["users", "list", *data])

    assert added.exit_code == 0, added.output
    assert "added user alice" in added.output
    assert "s3cret" not in added.output
    assert piped.output == "added user bob\n"
    assert changed.output == "changed the password of bob\n"
    assert mismatch.exit_code == 0, mismatch.output
    assert bad_name.exit_code == 65, bad_name.output
    assert list(rows(listed.output)) == ["user", "alice", "bob", "carol"]
    assert rows(listed.output)["alice"][1:] == ["SCRAM-SHA-256", "4096"]
    stored = UserFile(tmp_path / "eventlog" / "users.json").load()
    assert verify_password(stored, "bob", "hunter3")
    assert not verify_password(stored, "bob", "hunter2")
    assert verify_password(stored, "carol", "three")

    removed = runner.invoke(app, ["users", "remove", "alice", *data])
    again = runner.invoke(app, ["users", "remove", "alice", *data])
    assert removed.output == "removed user alice\n"
    assert again.exit_code == 66, again.output
    assert list(rows(runner.invoke(app, ["users", "list", *data]).output)) == ["user", "bob", "carol"]
