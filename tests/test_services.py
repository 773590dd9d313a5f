"""scripts/services.py: its pure helpers, and the PostgreSQL and Redis it started for this run."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from redis.asyncio import Redis

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "services.py"


def _load_services() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scalebox_scripts_services", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


services = _load_services()


def _make_initdb(root: Path, major: str) -> None:
    bindir = root / major / "bin"
    bindir.mkdir(parents=True)
    (bindir / "initdb").write_text("#!/bin/sh\n")


def test_pick_free_ports_distinct_and_bindable() -> None:
    ports = services.pick_free_ports(3)

    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_find_postgres_bindir_newest_major_numerically(tmp_path: Path) -> None:
    for major in ("9", "13", "15"):
        _make_initdb(tmp_path, major)
    (tmp_path / "17" / "bin").mkdir(parents=True)  # a client-only install: no initdb

    assert services.find_postgres_bindir(tmp_path) == tmp_path / "15" / "bin"


def test_find_postgres_bindir_none_when_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert services.find_postgres_bindir(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "15"),
        ("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", "7"),
        ("no version here", "?"),
    ],
)
def test_parse_major_version_from_version_line(line: str, major: str) -> None:
    assert services.parse_major_version(line) == major


def test_postgres_command_binds_loopback_without_fsync(tmp_path: Path) -> None:
    command = services.postgres_command(tmp_path / "bin", tmp_path / "data", tmp_path, 5433)

    assert command[:3] == [str(tmp_path / "bin" / "postgres"), "-D", str(tmp_path / "data")]
    assert "listen_addresses=127.0.0.1" in command
    assert "fsync=off" in command


@pytest.mark.postgres
async def test_postgres_answers_when_started(postgres_admin_url: str) -> None:
    connection = await asyncpg.connect(postgres_admin_url)
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()


@pytest.mark.redis
async def test_redis_answers_when_started(redis_url: str, redis_namespace: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        await client.set(f"{redis_namespace}ping", b"pong", ex=60)
        assert await client.get(f"{redis_namespace}ping") == b"pong"
    finally:
        await client.aclose()
