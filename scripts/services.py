"""Throwaway PostgreSQL and Redis for the tests: start both on free loopback ports, run a command, tear down.

Usage: `python scripts/services.py run -- pytest -n 2`. The command sees SCALEBOX_TEST_POSTGRES_URL and
SCALEBOX_TEST_REDIS_URL, and its exit code becomes ours. Stdlib only, so it runs before any install.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

POSTGRES_ROOT = Path("/usr/lib/postgresql")
POSTGRES_USER = "postgres"  # both the superuser initdb creates and the Debian package's system user
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 20.0
COMMAND_GRACE_SECONDS = 30.0
POSTGRES_SETTINGS = {
    "listen_addresses": HOST,
    # A throwaway server: losing it in a crash costs nothing, waiting for the disk costs minutes.
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
}
POSTGRES_URL_VARIABLE = "SCALEBOX_TEST_POSTGRES_URL"
REDIS_URL_VARIABLE = "SCALEBOX_TEST_REDIS_URL"


class ServiceError(Exception):
    """A server could not be found, started or reached."""


class TerminatedError(Exception):
    """SIGTERM arrived; raised so the stack unwinds through every teardown."""


@dataclass(frozen=True, slots=True)
class Account:
    """The account a server runs as; None means ours. PostgreSQL refuses to run as root."""

    user: str | None = None

    def chown(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, user=self.user, group=self.user)


def pick_free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on loopback, found by binding port 0; all are held until all are chosen."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def find_postgres_bindir(root: Path = POSTGRES_ROOT) -> Path | None:
    """The newest `<root>/<major>/bin` that holds initdb, else the directory of an initdb on PATH."""
    bindirs = [
        path for path in root.glob("*/bin") if path.parent.name.isdigit() and (path / "initdb").is_file()
    ]
    if bindirs:
        return max(bindirs, key=lambda path: int(path.parent.name))
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).resolve().parent


def parse_major_version(text: str) -> str:
    """The major version in a `--version` line: "postgres (PostgreSQL) 15.18" gives "15", "v=7.0.15" "7"."""
    match = re.search(r"(\d+)\.\d+", text)
    return match.group(1) if match else "?"


def postgres_command(bindir: Path, data_dir: Path, socket_dir: Path, port: int) -> list[str]:
    command = [str(bindir / "postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(socket_dir)]
    for name, value in POSTGRES_SETTINGS.items():
        command += ["-c", f"{name}={value}"]
    return command


def redis_command(executable: str, data_dir: Path, port: int) -> list[str]:
    # Nothing is persisted: no RDB snapshots (--save ""), no append-only file.
    options = ["--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(data_dir)]
    return [executable, "--port", str(port), *options]


def default_account() -> Account:
    if os.geteuid() != 0:
        return Account()
    try:
        pwd.getpwnam(POSTGRES_USER)
    except KeyError as exc:
        message = f"running as root needs the {POSTGRES_USER!r} system user (Debian's postgresql package)"
        raise ServiceError(message) from exc
    return Account(POSTGRES_USER)


def read_major_version(executable: Path | str) -> str:
    result = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=False)
    return parse_major_version(result.stdout)


def log_tail(log_path: Path, lines: int = 20) -> str:
    if not log_path.exists():
        return "(no log)"
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn(command: list[str], log_path: Path, cwd: Path, account: Account) -> subprocess.Popen[bytes]:
    """Start a server in its own session, so a Ctrl-C in the terminal reaches only us and the command.

    Privileges are dropped between fork and exec, so the pid we hold is the server itself and our
    signals reach it unchanged (runuser would sit in between and translate them).
    """
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            user=account.user,
            group=account.user,
            extra_groups=None if account.user is None else [],
        )


def wait_until_ready(
    name: str, process: subprocess.Popen[bytes], log_path: Path, probe: Callable[[], bool]
) -> None:
    """Poll `probe` until it answers; fail early if the server exits, and after READY_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not probe():
        if process.poll() is not None:
            raise ServiceError(f"{name} exited with code {process.returncode}:\n{log_tail(log_path)}")
        if time.monotonic() > deadline:
            raise ServiceError(f"{name} not ready after {READY_TIMEOUT_SECONDS:.0f}s:\n{log_tail(log_path)}")
        time.sleep(POLL_INTERVAL_SECONDS)  # the pause between two probes, not a guess at readiness


def stop(process: subprocess.Popen[bytes], first_signal: signal.Signals) -> None:
    """Send `first_signal`, then SIGKILL if the server is still there after STOP_TIMEOUT_SECONDS."""
    if process.poll() is None:
        process.send_signal(first_signal)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pg_isready(bindir: Path, port: int) -> bool:
    command = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", POSTGRES_USER, "-t", "1"]
    return subprocess.run(command, check=False).returncode == 0


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def init_postgres(bindir: Path, data_dir: Path, log_path: Path, account: Account) -> None:
    """A new cluster whose superuser is `postgres`, trusted from loopback, in the C locale."""
    options = ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"]
    command = [str(bindir / "initdb"), f"--pgdata={data_dir}", f"--username={POSTGRES_USER}", *options]
    process = spawn(command, log_path, data_dir.parent, account)
    try:
        returncode = process.wait()
    finally:
        stop(process, signal.SIGTERM)  # only does anything if we were interrupted while waiting
    if returncode != 0:
        raise ServiceError(f"initdb failed with code {returncode}:\n{log_tail(log_path)}")


@contextmanager
def running_postgres(workdir: Path, port: int, account: Account) -> Iterator[str]:
    """A fresh cluster with trust auth for 127.0.0.1; yields its superuser URL."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise ServiceError("no PostgreSQL server (initdb) found: install Debian's postgresql package")
    home = workdir / "postgres"
    home.mkdir()
    account.chown(home)
    log_path = home / "postgres.log"
    init_postgres(bindir, home / "data", log_path, account)
    process = spawn(postgres_command(bindir, home / "data", home, port), log_path, home, account)
    try:
        wait_until_ready("postgres", process, log_path, lambda: pg_isready(bindir, port))
        print(f"postgres {read_major_version(bindir / 'postgres')} on {HOST}:{port}", flush=True)
        yield f"postgresql://{POSTGRES_USER}@{HOST}:{port}/postgres"
    finally:
        stop(process, signal.SIGINT)  # PostgreSQL's "fast" shutdown: roll back and disconnect clients


@contextmanager
def running_redis(workdir: Path, port: int) -> Iterator[str]:
    """An in-memory Redis (no RDB, no AOF); yields the URL of database 0."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServiceError("no redis-server found: install Debian's redis-server package")
    home = workdir / "redis"
    home.mkdir()
    log_path = home / "redis.log"
    process = spawn(redis_command(executable, home, port), log_path, home, Account())
    try:
        wait_until_ready("redis", process, log_path, lambda: redis_answers(port))
        print(f"redis {read_major_version(executable)} on {HOST}:{port}", flush=True)
        yield f"redis://{HOST}:{port}/0"
    finally:
        stop(process, signal.SIGTERM)


def end_command(process: subprocess.Popen[bytes], signum: signal.Signals, *, forward_now: bool) -> None:
    """Let the command finish after a signal, forwarding it unless the terminal already delivered it."""
    if not forward_now:
        try:
            process.wait(timeout=5)  # a terminal's Ctrl-C reaches the command's process group too
            return
        except subprocess.TimeoutExpired:
            pass
    process.send_signal(signum)
    try:
        process.wait(timeout=COMMAND_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_command(command: Sequence[str], env: dict[str, str]) -> int:
    try:
        process = subprocess.Popen(list(command), env=env)
    except FileNotFoundError:
        print(f"services: command not found: {command[0]}", file=sys.stderr)
        return 127
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        end_command(process, signal.SIGINT, forward_now=False)
        raise
    except TerminatedError:
        end_command(process, signal.SIGTERM, forward_now=True)
        raise
    return 128 - returncode if returncode < 0 else returncode  # killed by signal N: 128+N, as shells say


def block_signals() -> None:
    # Teardown must finish: a second Ctrl-C would otherwise leave a server running.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def run(command: Sequence[str]) -> int:
    """Start both servers, run `command` with their URLs in its environment, and always tear down."""
    account = default_account()
    stack = ExitStack()
    try:
        workdir = Path(tempfile.mkdtemp(prefix="scalebox-services-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        workdir.chmod(0o711)  # the postgres user must reach its own subdirectory when we are root
        postgres_port, redis_port = pick_free_ports(2)
        env = dict(os.environ)
        env[POSTGRES_URL_VARIABLE] = stack.enter_context(running_postgres(workdir, postgres_port, account))
        env[REDIS_URL_VARIABLE] = stack.enter_context(running_redis(workdir, redis_port))
        return run_command(command, env)
    finally:
        block_signals()
        stack.close()


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise TerminatedError(signum)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="action", required=True)
    run_parser = commands.add_parser("run", help="start the servers, run a command, stop the servers")
    run_parser.add_argument("command", nargs="+", help="the command, after `--`")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        return run(args.command)
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except TerminatedError:
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
