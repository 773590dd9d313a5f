"""The two servers under test: starting them (each one process, in its own process group, on
loopback), waiting until they answer, seeding pastes through their API, and stopping them for sure."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sample import paste_body

HOST = "127.0.0.1"
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


@dataclass
class Server:
    """One running server under test."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


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
    port = free_port()
    command = [sys.executable, "-m", "scalebox", "pastebin", "serve", "--port", str(port)]
    return _spawn("scalebox", port, command, env, work_dir)


def start_pinnwand(work_dir: Path, python: Path) -> Server:
    config = work_dir / "pinnwand.toml"
    config.write_text(_PINNWAND_CONFIG.format(db=work_dir / "pinnwand.db"))
    port = free_port()
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
    return _spawn("pinnwand", port, command, dict(os.environ), work_dir)


def _spawn(name: str, port: int, command: list[str], env: dict[str, str], work_dir: Path) -> Server:
    log_path = work_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills it and any children
        )
    return Server(name, port, process, log_path)


def wait_ready(server: Server, timeout_s: float = 90.0) -> None:
    """Poll GET /api/v1/expiry (both servers have it) until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/api/v1/expiry", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer within {timeout_s:.0f} s:\n{server.log_tail()}")


def stop(server: Server, grace_s: float = 10.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after `grace_s`; safe to call twice."""
    if server.process.poll() is None:
        _signal_group(server.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=grace_s)
    _signal_group(server.process.pid, signal.SIGKILL)  # stragglers in the group, if any
    if server.process.poll() is None:
        server.process.wait(timeout=grace_s)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(
    server: Server, busy_max: float = 0.05, window_s: float = 0.5, timeout_s: float = 300.0
) -> float:
    """Wait until the server uses under `busy_max` of a core over `window_s`; returns the seconds waited.

    scalebox highlights, scans and indexes new pastes in background workers after answering, so a
    create run leaves it busy for a while; the next measurement must not share the CPU with that.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    before = cpu_seconds(server.process.pid)
    while time.monotonic() < deadline:
        time.sleep(window_s)
        after = cpu_seconds(server.process.pid)
        if after - before < busy_max * window_s:
            return max(0.0, time.monotonic() - started - window_s)  # busy until this window began
        before = after
    raise RuntimeError(f"{server.name} was still busy after {timeout_s:.0f} s")
