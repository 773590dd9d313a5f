"""The `scalebox` command line: sub-commands through Typer's CliRunner on a private data dir, and
`scalebox up` end to end as a real process tree (supervisor, console, pastebin)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner, Result

from scalebox.cli import PASTEBIN_BUCKET, UP_ACCESS_KEY, app
from scalebox.pastebin.service.pastes import TOPIC as PASTEBIN_EVENTS_TOPIC
from tests.objectstore.s3_server import s3_client
from tests.servers import (
    ServerProcess,
    free_port,
    is_gone,
    scalebox_argv,
    scalebox_env,
    start_server,
    wait_until,
)

UP_STOP_TIMEOUT_SECONDS = 20.0  # the supervisor gives children 10 s to stop before it kills them
UP_READY_TIMEOUT_SECONDS = 45.0


@pytest.fixture
def invoke(tmp_path: Path):
    """Run `scalebox ARGS...` in process with SCALEBOX_DATA_DIR pointing at a fresh directory."""
    runner = CliRunner()
    env = {"SCALEBOX_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return run


def test_help_lists_console_and_pastebin(invoke):
    result = invoke("--help")

    assert result.exit_code == 0, result.output
    assert re.search(r"^\W*console\b", result.output, re.MULTILINE), result.output
    assert re.search(r"^\W*pastebin\b", result.output, re.MULTILINE), result.output
    assert re.search(r"^\W*up\b", result.output, re.MULTILINE), result.output


def test_pastebin_help_lists_maintenance_commands(invoke):
    result = invoke("pastebin", "--help")

    assert result.exit_code == 0, result.output
    for command in ("serve", "migrate", "reap", "stats", "accounts"):
        assert re.search(rf"^\W*{command}\b", result.output, re.MULTILINE), result.output


def test_version_prints_the_package_version(invoke):
    from scalebox import __version__  # noqa: PLC0415

    result = invoke("version")

    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


def test_migrate_creates_database_in_data_dir(invoke, tmp_path: Path):
    result = invoke("pastebin", "migrate")

    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.stdout
    assert (tmp_path / "data" / "pastebin" / "pastebin.db").is_file()
    assert invoke("pastebin", "migrate").exit_code == 0  # a second run has nothing to do


def test_accounts_create_admin_then_list_shows_admin(invoke):
    created = invoke(
        "pastebin", "accounts", "create", "alice", "--password", "correct horse battery", "--admin"
    )
    plain = invoke("pastebin", "accounts", "create", "bob", "--password", "another long password")
    listed = invoke("pastebin", "accounts", "list")

    assert created.exit_code == 0, created.output
    assert re.search(r"created alice \(id \d+, admin\)", created.stdout), created.stdout
    assert plain.exit_code == 0, plain.output
    assert "admin" not in plain.stdout
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["id", "username", "admin", "banned"]
    cells = {row.split()[1]: row.split() for row in rows}
    assert cells["alice"][2] == "yes"
    assert cells["bob"][2] != "yes"  # bob's row goes straight from username to the created date


def test_accounts_create_refuses_duplicate_username_with_exit_code(invoke):
    invoke("pastebin", "accounts", "create", "carol", "--password", "correct horse battery")

    again = invoke("pastebin", "accounts", "create", "carol", "--password", "correct horse battery")

    assert again.exit_code not in (0, 1), again.output  # a DomainError maps to its sysexits code
    assert again.stderr.startswith("error: "), again.stderr
    assert "Traceback" not in again.output


def test_accounts_promote_unknown_user_fails_with_clear_message(invoke):
    result = invoke("pastebin", "accounts", "promote", "nobody")

    assert result.exit_code == 66  # NotFoundError: EX_NOINPUT
    assert "no account 'nobody'" in result.stderr


def test_reap_prints_counts(invoke):
    result = invoke("pastebin", "reap")

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"reaped 0 expired pastes and 0 orphan blobs\n", result.stdout), result.stdout


def test_stats_prints_paste_count(invoke):
    result = invoke("pastebin", "stats")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["figure", "value"]
    assert rows == ["pastes  0"]


def test_up_refuses_unknown_system_with_clear_message(invoke):
    result = invoke("up", "--only", "nope")

    assert result.exit_code == 2
    assert "unknown system(s): nope" in result.output
    assert "--only" in result.output


# -- `scalebox up` end to end -------------------------------------------------------------------------


def started_children(server: ServerProcess) -> dict[str, int]:
    """{name: pid} of the children the supervisor says it started (its "started NAME (pid N)" lines)."""
    return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", server.log_text())}


UpPorts = tuple[int, ...]


@pytest.fixture
def up_ports() -> UpPorts:
    """Console, pastebin, shortener, object store S3 API, object store console, Kafka, event log
    console, exchange web, exchange FIX, exchange feed replay."""
    return tuple(free_port() for _ in range(10))


@pytest.fixture
def scalebox_up(tmp_path: Path, up_ports: UpPorts) -> Iterator[ServerProcess]:
    """`python -m scalebox up` in its own session; the console on the first port answers GET /."""
    console_port, pastebin_port, shortener_port, s3_port, objectstore_port, kafka_port, eventlog_port = (
        up_ports[:7]
    )
    exchange_port, fix_port, replay_port = up_ports[7:]
    env = scalebox_env(
        tmp_path / "data",
        SCALEBOX_CONSOLE_PORT=str(console_port),
        SCALEBOX_PASTEBIN_PORT=str(pastebin_port),
        SCALEBOX_SHORTENER_PORT=str(shortener_port),
        SCALEBOX_OBJECTSTORE_PORT=str(s3_port),
        SCALEBOX_OBJECTSTORE_CONSOLE_PORT=str(objectstore_port),
        SCALEBOX_EVENTLOG_PORT=str(kafka_port),
        SCALEBOX_EVENTLOG_CONSOLE_PORT=str(eventlog_port),
        SCALEBOX_EXCHANGE_PORT=str(exchange_port),
        SCALEBOX_EXCHANGE_FIX_PORT=str(fix_port),
        SCALEBOX_EXCHANGE_REPLAY_PORT=str(replay_port),
        SCALEBOX_EXCHANGE_FEED_PORT=str(free_port()),
        SCALEBOX_CONSOLE_POLL_SECONDS="0.2",  # so the page turns "up" soon after the pastebin does
    )
    server = start_server(
        "scalebox up",
        scalebox_argv("up"),
        env=env,
        log_path=tmp_path / "up.log",
        port=console_port,
        health_path="/",
    )
    try:
        yield server
    finally:
        children = started_children(server)
        server.stop()
        for pid in children.values():  # each child leads its own process group
            if not is_gone(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_up_serves_console_and_every_system_then_stops_cleanly_on_sigint(
    scalebox_up: ServerProcess, up_ports: UpPorts, tmp_path: Path
):
    pastebin_url = f"http://127.0.0.1:{up_ports[1]}"
    shortener_url = f"http://127.0.0.1:{up_ports[2]}"
    with httpx.Client(timeout=5) as client:

        def console_shows_every_system_up() -> bool:
            systems = client.get(f"{scalebox_up.url}/api/systems").json()["systems"]
            return [(s["name"], s["health"]) for s in systems] == [
                ("pastebin", "up"),
                ("shortener", "up"),
                ("objectstore", "up"),
                ("eventlog", "up"),
                ("exchange", "up"),
            ]

        wait_until(
            console_shows_every_system_up,
            timeout_seconds=UP_READY_TIMEOUT_SECONDS,
            describe=scalebox_up.log_tail,
        )
        page = client.get(f"{scalebox_up.url}/")
        assert client.get(f"{shortener_url}/api/stats").json()["system"] == "shortener"
        assert client.get(f"http://127.0.0.1:{up_ports[7]}/api/stats").json()["system"] == "exchange"
        anonymous = client.get(f"http://127.0.0.1:{up_ports[3]}/")  # the S3 API, asked without a key
        assert anonymous.status_code == 403
        assert "<Code>AccessDenied</Code>" in anonymous.text
    assert 'data-system="pastebin"' in page.text
    assert 'data-system="shortener"' in page.text
    assert re.search(r'data-field="health">up<', page.text), page.text

    curl = shutil.which("curl")
    assert curl, "the `curl` binary is not installed"
    posted = subprocess.run(
        [curl, "-sS", "-F", "raw=<-", f"{pastebin_url}/curl"],
        input=b"pasted while everything runs under `scalebox up`\n",
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert posted.returncode == 0, posted.stderr
    raw_url = re.search(r"^Raw URL:\s+(\S+)$", posted.stdout.decode(), re.MULTILINE)
    assert raw_url, posted.stdout
    assert raw_url.group(1).startswith(f"{pastebin_url}/raw/")
    assert httpx.get(raw_url.group(1), timeout=5).text == "pasted while everything runs under `scalebox up`\n"
    assert (tmp_path / "data" / "pastebin" / "pastebin.db").is_file()
    # The pastebin keeps its blobs in the object store, reached over S3 with the key `up` made for it.
    secret = (tmp_path / "data" / "objectstore" / "up-root" / "secret_key").read_text().strip()
    s3 = s3_client(f"http://127.0.0.1:{up_ports[3]}", UP_ACCESS_KEY, secret)
    assert s3.list_objects_v2(Bucket=PASTEBIN_BUCKET)["KeyCount"] >= 1
    assert not (tmp_path / "data" / "pastebin" / "blobs").exists()

    children = started_children(scalebox_up)
    assert (tmp_path / "data" / "shortener" / "shortener.db").is_file()
    assert set(children) == {"console", "pastebin", "shortener", "objectstore", "eventlog", "exchange"}, (
        scalebox_up.log_tail()
    )
    # The products' events went through the event log over Kafka: the paste's event is on the broker.
    assert not (tmp_path / "data" / "pastebin" / "events.db").exists()
    topics = AdminClient({"bootstrap.servers": f"127.0.0.1:{up_ports[5]}"}).list_topics(timeout=20).topics
    assert PASTEBIN_EVENTS_TOPIC in topics, sorted(topics)
    scalebox_up.process.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
    try:
        code = scalebox_up.process.wait(timeout=UP_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"`scalebox up` did not exit within {UP_STOP_TIMEOUT_SECONDS:g}s\n{scalebox_up.log_tail()}"
        )

    assert code == 0, scalebox_up.log_tail()
    for name, pid in children.items():
        assert is_gone(pid), f"{name} (pid {pid}) outlived the supervisor\n{scalebox_up.log_tail()}"
    for port in up_ports:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert "received SIGINT; stopping" in scalebox_up.log_text()
