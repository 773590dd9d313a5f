"""The two servers under test, scalebox's pastebin and pinnwand: starting them (each one process, in its
own process group on loopback, through bench.common.processes), waiting until they answer, and seeding
pastes through their API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import processes
from bench.common.processes import HOST, Server
from sample import paste_body

REPO = Path(__file__).resolve().parents[2]
PINNWAND_VERSION = "1.5.0"

# pinnwand's own CLI (`pinnwand --configuration-path cfg.toml http --port N`), unchanged except that
# tornado's listen() is pinned to loopback: pinnwand 1.5 has no bind-address option and would listen
# on every interface.
_PINNWAND_LAUNCHER = """
import sys
import tornado.web

_listen = tornado.web.Application.listen

def _loopback_listen(self, port, address="", **kwargs):
    return _listen(self, port, address="127.0.0.1", **kwargs)

tornado.web.Application.listen = _loopback_listen
sys.argv[0] = "pinnwand"
from pinnwand.command import main
main()
"""

# pinnwand's token buckets hold `capacity` tokens and refill `refill` per second, per IP and area;
# the defaults (read 100/2, create 2/1) would throttle a benchmark from one address at once.
_PINNWAND_CONFIG = """\
database_uri = "sqlite:///{db}"
paste_size = 524288
expiries = {{ "1day" = 86400, "1week" = 604800 }}

[ratelimit.read]
capacity = 1000000000
consume = 1
refill = 1000000000

[ratelimit.create]
capacity = 1000000000
consume = 1
refill = 1000000000

[ratelimit.delete]
capacity = 1000000000
consume = 1
refill = 1000000000
"""


def make_pinnwand_venv(where: Path) -> Path:
    """A throwaway virtualenv with pinnwand from PyPI; returns its python."""
    subprocess.run(["python3", "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"pinnwand=={PINNWAND_VERSION}",
        ],
        check=True,
        timeout=600,
    )
    return python


def start_scalebox(work_dir: Path) -> Server:
    data_dir = work_dir / "scalebox-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SCALEBOX_DATA_DIR": str(data_dir),
        "SCALEBOX_PASTEBIN_READ_LIMIT_PER_MINUTE": "0",
        "SCALEBOX_PASTEBIN_CREATE_LIMIT_PER_MINUTE_ANONYMOUS": "0",
        "SCALEBOX_PASTEBIN_LOG_REQUESTS": "false",
        "SCALEBOX_PASTEBIN_HOST": HOST,
    }
    port = processes.free_port()
    command = [sys.executable, "-m", "scalebox", "pastebin", "serve", "--port", str(port)]
    return processes.spawn("scalebox", port, command, env, work_dir)


def start_pinnwand(work_dir: Path, python: Path) -> Server:
    config = work_dir / "pinnwand.toml"
    config.write_text(_PINNWAND_CONFIG.format(db=work_dir / "pinnwand.db"))
    port = processes.free_port()
    command = [
        str(python),
        "-c",
        _PINNWAND_LAUNCHER,
        "--configuration-path",
        str(config),
        "http",
        "--port",
        str(port),
    ]
    return processes.spawn("pinnwand", port, command, dict(os.environ), work_dir)


def wait_ready(server: Server) -> None:
    """Poll GET /api/v1/expiry (both servers have it) until it answers 200."""
    processes.wait_ready(server, "/api/v1/expiry")


def create_paste(server: Server, content: str) -> str:
    """Create one paste through POST /api/v1/paste; returns its id (pinnwand's slug)."""
    request = urllib.request.Request(
        f"{server.base_url}/api/v1/paste",
        data=paste_body(content),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    link: str = answer["link"]
    return link.rstrip("/").rsplit("/", 1)[1]


def probe(server: Server, path: str) -> tuple[int, str]:
    """Status and content type of one GET, to check a read case works before loading it."""
    try:
        with urllib.request.urlopen(f"{server.base_url}{path}", timeout=30) as response:
            return response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", "")


def pinnwand_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, platform;"
        "print(json.dumps({n: m.version(n) for n in ('pinnwand', 'tornado', 'SQLAlchemy', 'Pygments')}"
        " | {'python': platform.python_version()}))"
    )
    output = subprocess.run([str(python), "-c", code], check=True, capture_output=True, timeout=60).stdout
    versions: dict[str, str] = json.loads(output)
    return versions


def wait_idle(server: Server) -> float:
    """Wait until the server is idle (see processes.wait_idle); returns the seconds waited. Counts the
    server's own process: each server under test is one."""
    return processes.wait_idle(server, processes.process_cpu_seconds)
