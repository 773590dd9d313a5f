"""The servers under test as processes: each started in its own process group on loopback, waited for
until it answers, measured in CPU seconds, waited for until idle, and stopped for sure (SIGTERM to the
group, SIGKILL after a grace period), also when the harness is interrupted."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"


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


def spawn(name: str, port: int, command: list[str], env: dict[str, str], work_dir: Path) -> Server:
    """Start `command` in `work_dir`, its output in `<name>.log` there."""
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


def wait_ready(server: Server, path: str, timeout_s: float = 90.0) -> None:
    """Poll GET `path` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}{path}", timeout=2) as response:
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
    _signal_group(server.process.pid, signal.SIGKILL)  # stragglers in the group (nginx workers), if any
    if server.process.poll() is None:
        server.process.wait(timeout=grace_s)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stolen_cpu_seconds() -> float:
    """CPU time the hypervisor has given to other guests while this machine's CPUs wanted to run
    (`steal` in /proc/stat, summed over the CPUs; 0 on bare metal). Over a run, its share of the
    run's CPU time says how much of a latency tail the host, not the server, may have caused."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu "):
            fields = line.split()
            return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0
    return 0.0


def group_cpu_seconds(leader_pid: int) -> float:
    """User plus system CPU time used so far by every live process of the group `leader_pid` leads
    and by its descendants (nginx's master and workers; a scalebox server's one process with all its
    threads, or the processes `serve --processes N` supervises, which lead groups of their own)."""
    clock_tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, int, int]] = {}  # pid -> (parent, group, CPU ticks)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        stats[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]))
    counted = {pid for pid, (_, group, _) in stats.items() if group == leader_pid}
    growing = True
    while growing:
        descendants = {pid for pid, (parent, _, _) in stats.items() if parent in counted} - counted
        counted |= descendants
        growing = bool(descendants)
    return sum(stats[pid][2] for pid in counted) / clock_tick


def wait_idle(
    server: Server,
    cpu_seconds: Callable[[int], float] = group_cpu_seconds,
    busy_max: float = 0.05,
    window_s: float = 0.5,
    timeout_s: float = 300.0,
) -> float:
    """Wait until the server uses under `busy_max` of a core over `window_s`; returns the seconds waited.

    scalebox finishes some work in the background after answering (the pastebin highlights, scans and
    indexes new pastes; the shortener stores the visits of a run), so a run can leave it busy for a
    while; the next measurement must not share the CPU with that. `cpu_seconds` reads the server's CPU
    time from its pid.
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


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the harness's finally block stops both servers."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def clean_up(started: Sequence[Server], work_dir: Path, *, keep: bool) -> None:
    """Stop every started server, last first, then remove `work_dir` unless `keep`."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    for each in reversed(started):
        stop(each)
    if keep:
        print(f"kept {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
