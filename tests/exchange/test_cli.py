"""`scalebox exchange ...` through Typer's CliRunner on a real data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalebox.cli import app
from scalebox.exchange.app import open_exchange
from scalebox.exchange.service.directory import Directory
from tests.exchange.test_recovery import make_settings, random_orders

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCALEBOX_DATA_DIR", str(tmp_path))
    return tmp_path


def invoke(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, ["exchange", *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_members_add_asks_for_a_password_and_keeps_unchanged_fields(data_dir: Path) -> None:
    invoke(
        "members", "add", "carol", "--credit-limit", "5000", "--drop-copy", input="pass-word-1\npass-word-1\n"
    )
    invoke("members", "add", "carol", "--operator")  # no password asked for a change
    member = Directory.load(data_dir / "exchange" / "directory.json").members["carol"]
    assert member.participant.credit_limit_ticks == 5000
    assert member.drop_copy
    assert member.operator
    assert "carol" in invoke("members", "list")
    invoke("members", "remove", "carol")
    assert "carol" not in invoke("members", "list")


def test_members_add_refuses_a_bad_id(data_dir: Path) -> None:
    result = runner.invoke(app, ["exchange", "members", "add", "bad id!", "--password", "pass-word-1"])
    assert result.exit_code != 0
    assert "participant ids" in result.output


def test_instruments_add_needs_a_price_on_the_tick_grid(data_dir: Path) -> None:
    invoke("instruments", "add", "tsla", "--reference-price", "250.00")
    assert "TSLA" in invoke("instruments", "list")
    result = runner.invoke(app, ["exchange", "instruments", "add", "bad", "--reference-price", "250.005"])
    assert result.exit_code != 0
    assert "multiple of the tick size" in result.output


async def test_journal_status_verify_and_dump(data_dir: Path) -> None:
    async with open_exchange(make_settings(data_dir)) as exchange:
        await exchange.venue.submit_many(random_orders(30, seed=4))
        last = exchange.venue.last_sequence
    assert f"last sequence {last}" in invoke("journal", "verify")
    assert "journal segments" in invoke("journal", "status")
    lines = invoke("journal", "dump", "--after", "5", "--count", "3").splitlines()
    assert len(lines) == 3
    assert lines[0].startswith('{"sequence":6')


async def test_journal_verify_reports_a_damaged_record(data_dir: Path) -> None:
    async with open_exchange(make_settings(data_dir)) as exchange:
        await exchange.venue.submit_many(random_orders(10, seed=5))
    segment = sorted((data_dir / "exchange" / "journal").glob("*.journal"))[0]
    data = bytearray(segment.read_bytes())
    data[60] ^= 0xFF
    segment.write_bytes(bytes(data))
    result = runner.invoke(app, ["exchange", "journal", "verify"])
    assert result.exit_code != 0
    assert "journal corrupt" in result.output
