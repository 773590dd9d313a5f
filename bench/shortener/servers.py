"""The two servers under test: scalebox's shortener and nginx with a static map of the same redirects.

Each runs in its own process group on loopback (bench.common.processes), is waited for on GET /healthz,
and is stopped for sure (SIGTERM to the group, SIGKILL after a grace period).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import processes
from bench.common.processes import HOST, Server

REPO = Path(__file__).resolve().parents[2]
SCALEBOX = REPO / ".venv" / "bin" / "scalebox"
ACCOUNT = "bench"
PASSWORD = "bench-password-not-secret"  # a throwaway account in a throwaway data directory

# The headers our redirect sends for a 302 of a link that is not crawlable (shortener/http/hot.py),
# so both servers answer with the same header set. nginx also sends its small "302 Found" HTML body.
_NGINX_CONFIG = """\
worker_processes {workers};
pid {work_dir}/nginx.pid;
error_log {work_dir}/nginx-error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;  # uvicorn never closes a keep-alive connection after N requests
    keepalive_timeout 75s;
    client_body_temp_path {work_dir}/nginx-body;
    proxy_temp_path {work_dir}/nginx-proxy;
    fastcgi_temp_path {work_dir}/nginx-fastcgi;
    uwsgi_temp_path {work_dir}/nginx-uwsgi;
    scgi_temp_path {work_dir}/nginx-scgi;

    map_hash_max_size {hash_max_size};
    map_hash_bucket_size {hash_bucket_size};
    map $uri $target {{
        default "";
        include {map_file};
    }}

    server {{
        listen {host}:{port};

        location = /healthz {{
            return 200 "ok\\n";
        }}

        location / {{
            if ($target) {{
                add_header cache-control "private, max-age=0, no-store";
                add_header referrer-policy "unsafe-url";
                add_header x-robots-tag "noindex";
                return 302 $target;
            }}
            return 404;
        }}
    }}
}}
"""


def find_nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        raise SystemExit("nginx is not installed: apt-get install nginx-light (the Debian package)")
    return path


def nginx_version(nginx: str) -> str:
    # `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
    completed = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=10, check=False)
    text = (completed.stderr or completed.stdout).strip()
    return text.split(":", 1)[1].strip() if ":" in text else text


# ---------------------------------------------------------------------------------------------
# scalebox


def ours_env(work_dir: Path) -> dict[str, str]:
    """The environment of every scalebox command of the run: one throwaway data directory."""
    return {
        **os.environ,
        "SCALEBOX_DATA_DIR": str(work_dir / "scalebox-data"),
        "SCALEBOX_SHORTENER_CREATE_LIMIT_PER_MINUTE_ACCOUNT": "0",
        "SCALEBOX_SHORTENER_LOG_LEVEL": "WARNING",
        "SCALEBOX_SHORTENER_HOST": HOST,
    }


def _scalebox(work_dir: Path, *args: str, timeout_s: float = 120.0) -> str:
    command = [str(SCALEBOX), "shortener", *args]
    completed = subprocess.run(
        command,
        env=ours_env(work_dir),
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if completed.returncode != 0:
        shown = " ".join(command[1:3] + [a if a != PASSWORD else "***" for a in command[3:]])
        raise RuntimeError(
            f"`scalebox {shown}` failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )
    return completed.stdout


def make_api_key(work_dir: Path) -> str:
    """An account and an API key for seeding, through the CLI (it opens the database itself)."""
    (work_dir / "scalebox-data").mkdir(parents=True, exist_ok=True)
    _scalebox(work_dir, "accounts", "create", ACCOUNT, "--password", PASSWORD)
    output = _scalebox(work_dir, "accounts", "api-key", ACCOUNT).strip()
    if not output:
        raise RuntimeError("`scalebox shortener accounts api-key` printed no key")
    return output.splitlines()[-1].strip()


def stored_visits_cli(work_dir: Path) -> int | None:
    """The "visits" row of `scalebox shortener stats` (the analytics store, read by a second process)."""
    try:
        output = _scalebox(work_dir, "stats", timeout_s=60)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"`scalebox shortener stats` failed: {exc}", flush=True)
        return None
    for line in output.splitlines():
        cells = [cell for cell in re.split(r"[\s|│┃]+", line) if cell]
        if len(cells) >= 2 and cells[0] == "visits" and cells[1].replace(",", "").isdigit():
            return int(cells[1].replace(",", ""))
    print(f"no visits row in `scalebox shortener stats`:\n{output}", flush=True)
    return None


def start_ours(work_dir: Path, *, separate_worker: bool, serving_processes: int = 1) -> Server:
    """`scalebox shortener serve`; with `separate_worker` it runs no analytics consumer itself."""
    port = processes.free_port()
    command = [
        str(SCALEBOX),
        "shortener",
        "serve",
        "--port",
        str(port),
        "--processes",
        str(serving_processes),
    ]
    env = ours_env(work_dir)
    if separate_worker:
        env["SCALEBOX_SHORTENER_WORKERS"] = "false"
    return processes.spawn("scalebox", port, command, env, work_dir)


def worker_priority(text: str) -> str:
    """`idle` or `nice:N` (N from 1 to 19), as --worker-priority takes it."""
    if text == "idle":
        return text
    kind, _, niceness = text.partition(":")
    if kind != "nice" or not niceness.isdigit() or not 1 <= int(niceness) <= 19:
        raise argparse.ArgumentTypeError(f"{text!r}: `idle` or `nice:N` with N from 1 to 19")
    return text


def priority_command(priority: str) -> list[str]:
    """The command prefix that starts a process at `priority` (see worker_priority)."""
    if priority == "idle":
        return ["chrt", "--idle", "0"]  # SCHED_IDLE: runs only when no other task wants the CPU
    return ["nice", "-n", niceness(priority)]


def niceness(priority: str) -> str:
    """The nice value `priority` stands for: N for `nice:N`, the lowest (19) for `idle`."""
    return "19" if priority == "idle" else priority.partition(":")[2]


def lower_autogroup(pid: int, priority: str) -> None:
    """Give the scheduling group of `pid`'s session the niceness `priority` stands for.

    Where the kernel groups tasks by session (CONFIG_SCHED_AUTOGROUP, on in this machine's kernel and
    most distributions'), groups share the CPU equally and a task's nice or SCHED_IDLE only ranks it
    within its group. Each process here leads a session of its own, so without this the worker's
    group weighs as much as the server's: perf sched showed the server waiting 1-4 ms on its
    runqueue while the SCHED_IDLE worker ran. No-op where the kernel has no autogroups.
    """
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(niceness(priority))


def start_worker(work_dir: Path, priority: str, cgroup: Path | None = None) -> Server:
    """`scalebox shortener worker` (the analytics consumer alone) at a lower CPU priority: background
    work that yields the CPU to the redirects and catches up when they leave some. In `cgroup` (see
    make_idle_cgroup) when one is given, else with its session's group at the same niceness."""
    command = [*priority_command(priority), str(SCALEBOX), "shortener", "worker"]
    worker = processes.spawn("analytics-worker", 0, command, ours_env(work_dir), work_dir)
    if cgroup is not None:
        # Before it starts a thread or a process: those stay in the cgroup their creator is in.
        (cgroup / "cgroup.procs").write_text(str(worker.process.pid))
    else:
        lower_autogroup(worker.process.pid, priority)
    deadline = time.monotonic() + 90.0
    while "shortener worker running" not in worker.log_tail():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the analytics worker did not start:\n{worker.log_tail()}")
        time.sleep(0.2)
    return worker


def make_idle_cgroup(name: str) -> Path | None:
    """A new cgroup whose tasks the scheduler runs only when nothing outside it wants the CPU
    (`cpu.idle` = 1, Linux 5.15 and later), at the top of the cpu controller's hierarchy, or None
    where this machine allows none (not root, no cpu controller, an older kernel).

    The strongest form of "yield the CPU": a task outside it that wakes takes the core from the
    cgroup's at its wakeup, not at the end of a slice. A nice-19 autogroup still ran the worker out
    its slice while the server waited (perf sched: the server waited over 1 ms 53-82 times in 4 s
    at half rate with the worker at nice 19, 3-11 times with it in this cgroup). Deployments get
    the same from systemd's `CPUWeight=idle`.
    """
    for hierarchy in _cpu_hierarchies():
        cgroup = hierarchy / name
        try:
            cgroup.mkdir()
        except OSError:
            continue
        try:
            (cgroup / "cpu.idle").write_text("1")
        except OSError:
            cgroup.rmdir()
            continue
        return cgroup
    return None


def _cpu_hierarchies() -> list[Path]:
    """Where the cpu controller can make groups: a cgroup v1 hierarchy mounted with `cpu`, or the
    cgroup v2 root when it hands `cpu` to its children."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount, kind, options, *_ = line.split()
        if kind == "cgroup" and "cpu" in options.split(","):
            found.append(Path(mount))
        elif kind == "cgroup2":
            with contextlib.suppress(OSError):
                if "cpu" in (Path(mount) / "cgroup.subtree_control").read_text().split():
                    found.append(Path(mount))
    return found


def remove_cgroup(cgroup: Path, timeout_s: float = 30.0) -> None:
    """Remove `cgroup` once its processes are gone (the worker's event-log writer leaves a moment
    after the worker does, when it reads the end of its input)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            cgroup.rmdir()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                print(f"could not remove {cgroup}: {exc}", flush=True)
                return
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# nginx


def write_nginx_config(
    work_dir: Path, links: Sequence[tuple[str, str]], workers: int, port: int
) -> tuple[Path, Path]:
    """nginx.conf and map.conf (`/<code> <long URL>;` a line) for `links` of (code, long URL)."""
    map_file = work_dir / "map.conf"
    map_file.write_text("".join(f"/{code} {_nginx_string(url)};\n" for code, url in links))
    # Room enough for nginx to find a hash it calls optimal (no "could not build optimal" warning):
    # at least 4 slots per key and buckets of 128 bytes (a 7-character key takes 24 bytes in one).
    hash_max_size = 1 << max(11, (4 * len(links)).bit_length())
    longest = max((len(code) + 1 for code, _ in links), default=8)
    hash_bucket_size = max(128, 1 << (4 * (longest + 16)).bit_length())
    config = work_dir / "nginx.conf"
    config.write_text(
        _NGINX_CONFIG.format(
            workers=workers,
            work_dir=work_dir,
            hash_max_size=hash_max_size,
            hash_bucket_size=hash_bucket_size,
            map_file=map_file,
            host=HOST,
            port=port,
        )
    )
    return config, map_file


def _nginx_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_nginx(nginx: str, work_dir: Path, links: Sequence[tuple[str, str]], workers: int) -> Server:
    port = processes.free_port()
    config, _ = write_nginx_config(work_dir, links, workers, port)
    checked = subprocess.run(
        [nginx, "-t", "-q", "-p", str(work_dir), "-c", str(config), "-e", str(work_dir / "nginx-t.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    log = (
        (work_dir / "nginx-t.log").read_text(errors="replace") if (work_dir / "nginx-t.log").exists() else ""
    )
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{checked.stdout}{checked.stderr}{log}")
    if "could not build" in log + checked.stderr:
        raise RuntimeError(f"nginx could not build an optimal map hash:\n{log}{checked.stderr}")
    command = [
        nginx,
        "-p",
        str(work_dir),
        "-c",
        str(config),
        "-e",
        str(work_dir / "nginx-error.log"),
        "-g",
        "daemon off;",
    ]
    return processes.spawn("nginx", port, command, dict(os.environ), work_dir)


# ---------------------------------------------------------------------------------------------
# both


def wait_ready(server: Server) -> None:
    """Poll GET /healthz (both servers have it) until it answers 200."""
    processes.wait_ready(server, "/healthz")
