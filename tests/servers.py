"""Real server processes for integration tests: start one on loopback, wait until it is healthy,
stop it (SIGTERM, then SIGKILL), and keep everything it printed in a file for failure reports.

A server started on port 0 lets the kernel pick a free port; the port is read back from the line
uvicorn logs once it listens ("Uvicorn running on http://127.0.0.1:PORT"), so no port can be raced.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 45.0  # importing the app takes seconds on a loaded CI machine
STOP_TIMEOUT_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.05
LOG_TAIL_CHARS = 6000

_LISTENING = re.compile(r"Uvicorn running on http://[^\s:]+:(\d+)")

# Settings every test server gets unless a test overrides them: quiet, and no rate limit that a
# fast test could trip (rate limiting has its own tests).
QUIET_ENV: dict[str, str] = {
    "SCALEBOX_LOG_LEVEL": "INFO",  # uvicorn's "running on" line is how a port-0 server's port is found
    "SCALEBOX_PASTEBIN_LOG_REQUESTS": "false",
    "SCALEBOX_PASTEBIN_CREATE_LIMIT_PER_MINUTE_ANONYMOUS": "100000",
    "SCALEBOX_PASTEBIN_CREATE_LIMIT_PER_MINUTE_ACCOUNT": "100000",
    "SCALEBOX_PASTEBIN_READ_LIMIT_PER_MINUTE": "100000",
    "PYTHONUNBUFFERED": "1",
}


class ServerStartError(AssertionError):
    """The server exited or never became healthy; the message carries its log."""


def wait_until(
    predicate: Callable[[], bool], *, timeout_seconds: float, describe: Callable[[], str] = lambda: ""
) -> None:
    """Poll `predicate` until it holds; AssertionError after `timeout_seconds` (never a bare sleep)."""
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_seconds:g}s\n{describe()}")
        time.sleep(POLL_INTERVAL_SECONDS)


def free_port() -> int:
    """A port free right now (for programs that must be told their port before they start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def scalebox_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a scalebox child: ours without any SCALEBOX_* a developer exported,
    a private data dir, quiet defaults, then `extra`."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("SCALEBOX_")}
    return {**base, **QUIET_ENV, "SCALEBOX_DATA_DIR": str(data_dir), **extra}


def scalebox_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "scalebox", *args]


@dataclass
class ServerProcess:
    """A running server: its process, its base URL (no trailing slash) and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self) -> str:
        text = self.log_text()
        clipped = text[-LOG_TAIL_CHARS:]
        return f"--- {self.name} log ({self.log_path}) ---\n{clipped}"

    def is_running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group now, as a crash would (no shutdown code runs)."""
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._stopped = True

    def stop(self, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_seconds`; returns its exit code."""
        if not self._stopped and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        # Anything it left in its group (it runs in its own session) goes too.
        _signal_group(self.process.pid, signal.SIGKILL)
        self._stopped = True
        return self.process.returncode


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    port: int = 0,
    health_path: str = "/healthz",
    timeout_seconds: float = START_TIMEOUT_SECONDS,
) -> ServerProcess:
    """Start `argv` in its own session with stdout and stderr in `log_path`, and return once
    GET `health_path` answers 200. With `port=0` the port is read from the server's log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,  # a process group of its own, so stop() reaches all of it
        )
    server = ServerProcess(name, process, log_path, port)
    try:
        _wait_healthy(server, health_path, timeout_seconds)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    port: int = 0,
    health_path: str = "/healthz",
) -> Iterator[ServerProcess]:
    """`start_server` as a context manager that always stops it."""
    server = start_server(name, argv, env=env, log_path=log_path, port=port, health_path=health_path)
    try:
        yield server
    finally:
        server.stop()


def start_pastebin(data_dir: Path, log_path: Path, **env: str) -> ServerProcess:
    """`scalebox pastebin serve` on a free loopback port, its data under `data_dir`."""
    argv = scalebox_argv("pastebin", "serve", "--host", HOST, "--port", "0")
    return start_server("pastebin", argv, env=scalebox_env(data_dir, **env), log_path=log_path)


def _wait_healthy(server: ServerProcess, health_path: str, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise ServerStartError(
                    f"{server.name} exited with code {server.process.returncode} before it was healthy\n"
                    f"{server.log_tail()}"
                )
            if not server.port:
                server.port = _port_from_log(server.log_text())
            if server.port:
                try:
                    response = client.get(f"{server.url}{health_path}")
                except httpx.HTTPError as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 200:
                        return
                    last_error = f"HTTP {response.status_code}: {response.text[:300]}"
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{server.name} was not healthy within {timeout_seconds:g}s ({last_error})\n"
                    f"{server.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)


def _port_from_log(text: str) -> int:
    match = _LISTENING.search(text)
    return int(match.group(1)) if match else 0


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def is_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie not yet reaped by its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
