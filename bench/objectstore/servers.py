"""The two servers under test: scalebox's object store and moto in server mode. Each runs in its own
process group on a free loopback port (bench.common.processes), is waited for until it answers, and
is stopped for sure (SIGTERM to the group, SIGKILL after a grace period)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import processes
from bench.common.processes import HOST, Server
from client import Endpoint

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
# A throwaway root key of a throwaway data directory. moto accepts any key and checks no signature.
ACCESS_KEY = "benchadmin"
SECRET_KEY = "bench-secret-not-secret-0123456789"
MOTO_KEY = "testing"
OURS_HEALTH = "/_health"
MOTO_HEALTH = "/moto-api/"  # moto's dashboard: answers 200 once the server is up


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = processes.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def start_ours(work_dir: Path, *, fsync: bool) -> Server:
    """`python -m scalebox objectstore serve` with a fresh data directory in `work_dir`: the default
    erasure set (4+2 over six drive folders), SQLite metadata, fsync as asked, log level WARNING."""
    port, console_port = _free_ports(2)
    env = {
        **os.environ,
        "SCALEBOX_DATA_DIR": str(work_dir / "scalebox-data"),
        "SCALEBOX_OBJECTSTORE_HOST": HOST,
        "SCALEBOX_OBJECTSTORE_PORT": str(port),
        "SCALEBOX_OBJECTSTORE_CONSOLE_PORT": str(console_port),
        "SCALEBOX_OBJECTSTORE_ROOT_ACCESS_KEY": ACCESS_KEY,
        "SCALEBOX_OBJECTSTORE_ROOT_SECRET_KEY": SECRET_KEY,
        "SCALEBOX_OBJECTSTORE_FSYNC": "true" if fsync else "false",
        "SCALEBOX_LOG_LEVEL": "WARNING",
    }
    command = [str(PYTHON), "-m", "scalebox", "objectstore", "serve"]
    return processes.spawn("scalebox", port, command, env, work_dir)


def start_moto(work_dir: Path) -> Server:
    """`python -m moto.server` as its docs start it (werkzeug's threaded server, one process). moto
    keeps objects in memory and spills any larger than about 5 MiB to temporary files, which TMPDIR
    puts in `work_dir` (same disk, removed with it; never fsynced)."""
    port = processes.free_port()
    spill = work_dir / "moto-tmp"
    spill.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(spill)}
    command = [str(PYTHON), "-m", "moto.server", "-H", HOST, "-p", str(port)]
    return processes.spawn("moto", port, command, env, work_dir)


def wait_ready(server: Server) -> None:
    processes.wait_ready(server, OURS_HEALTH if server.name == "scalebox" else MOTO_HEALTH)


def endpoint(server: Server) -> Endpoint:
    if server.name == "scalebox":
        return Endpoint(server.name, server.base_url, ACCESS_KEY, SECRET_KEY)
    return Endpoint(server.name, server.base_url, MOTO_KEY, MOTO_KEY)
