"""The two FIX servers under test, each in its own process group, driven from 127.0.0.1 only.

- QuickFIX's `ordermatch` example (Debian `libquickfix-doc`, gzipped next to its sources, with the
  runtime library from `libquickfix17`): unpacked into the work directory and run as an acceptor
  on FIX.4.2 (its application handles orders on FIX 4.2 sessions only), one session per client
  SenderCompID, the FIX42 data dictionary from the `quickfix` source distribution on PyPI (fetched
  with pip at bench time, cached in the temp directory, never committed), its screen log off and
  its FileStore in the work directory. QuickFIX 1.15 binds every interface whatever the config says;
  only the loopback client talks to it.
- scalebox's exchange as its app serves it (`scalebox exchange serve`: journal fsynced before every
  acknowledgement, snapshots, the FIX 4.4 gateway), on a fresh data directory whose members are the
  client's SenderCompIDs with a throwaway password; the per-session order rate limit is raised so
  that it does not cap the benchmark.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import processes
from bench.common.processes import HOST, Server

from scalebox.exchange.service.directory import Directory
from scalebox.exchange.settings import ExchangeSettings

REPO = Path(__file__).resolve().parents[2]
SCALEBOX = REPO / ".venv" / "bin" / "scalebox"
EXAMPLES = Path("/usr/share/doc/libquickfix-doc/examples")
ORDERMATCH_ARCHIVE = EXAMPLES / "ordermatch" / ".libs" / "ordermatch.gz"
ORDERMATCH_COMP_ID = "ORDERMATCH"
OUR_COMP_ID = "SCALEBOX"  # ExchangeSettings.fix_sender_comp_id
PASSWORD = "bench-password-not-secret"  # members of a throwaway data directory
SPEC_CACHE = Path(tempfile.gettempdir()) / "scalebox-bench-quickfix-spec"

_ORDERMATCH_CONFIG = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={port}
SocketAcceptAddress={host}
SocketNodelay=Y
SenderCompID={comp_id}
FileStorePath={work_dir}/ordermatch-store
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={dictionary}
ResetOnLogon=Y
HeartBtInt=30
ScreenLogShowIncoming=N
ScreenLogShowOutgoing=N
ScreenLogShowEvents=N
"""


class GatewayMissingError(RuntimeError):
    """scalebox's exchange did not start listening for FIX."""


def find_ordermatch() -> Path:
    if not ORDERMATCH_ARCHIVE.exists():
        raise SystemExit(
            "QuickFIX's ordermatch example is not installed: apt-get install -y libquickfix-doc libquickfix17"
        )
    return ORDERMATCH_ARCHIVE


def quickfix_version() -> str:
    completed = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libquickfix17"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or "unknown"


def fix42_dictionary() -> Path:
    """spec/FIX42.xml from the `quickfix` sdist on PyPI (pip download), cached across runs."""
    target = SPEC_CACHE / "FIX42.xml"
    if target.exists():
        return target
    SPEC_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "quickfix",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "-d",
                download,
            ],
            check=True,
            timeout=600,
        )
        archive = next(Path(download).glob("quickfix-*.tar.gz"))
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/spec/FIX42.xml"))
            extracted = tar.extractfile(member)
            assert extracted is not None
            target.with_suffix(".tmp").write_bytes(extracted.read())
        (SPEC_CACHE / "SOURCE").write_text(archive.name + "\n")
    target.with_suffix(".tmp").replace(target)
    return target


def dictionary_source() -> str:
    source = SPEC_CACHE / "SOURCE"
    return source.read_text().strip() if source.exists() else "quickfix sdist"


def _spawn_with_stdin(
    name: str, port: int, command: list[str], env: dict[str, str], work_dir: Path
) -> Server:
    """Like processes.spawn, but stdin is a pipe kept open: ordermatch reads commands from stdin in a
    loop, and at end of file that loop spins at 100% CPU."""
    log_path = work_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, port, process, log_path)


def wait_listening(server: Server, timeout_s: float = 60.0) -> bool:
    """Poll a TCP connect to the server's port; False when it never listened (the process lives)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), timeout=1):
            return True
        time.sleep(0.2)
    return False


def start_ordermatch(work_dir: Path, senders: list[str]) -> Server:
    binary = work_dir / "ordermatch"
    with gzip.open(find_ordermatch()) as packed:
        binary.write_bytes(packed.read())
    binary.chmod(0o755)
    port = processes.free_port()
    config = _ORDERMATCH_CONFIG.format(
        port=port, host=HOST, comp_id=ORDERMATCH_COMP_ID, work_dir=work_dir, dictionary=fix42_dictionary()
    )
    for sender in senders:
        config += f"\n[SESSION]\nBeginString=FIX.4.2\nTargetCompID={sender}\n"
    (work_dir / "ordermatch.cfg").write_text(config)
    server = _spawn_with_stdin(
        "ordermatch", port, [str(binary), "ordermatch.cfg"], dict(os.environ), work_dir
    )
    if not wait_listening(server):
        raise RuntimeError(f"ordermatch did not listen on {port}:\n{server.log_tail()}")
    return server


# -- ours ------------------------------------------------------------------------------------------------


def _our_members(data_dir: Path, senders: list[str]) -> None:
    settings = ExchangeSettings(data_dir=data_dir)
    directory = Directory.load(settings.directory_path)
    for sender in senders:
        directory.set_member(sender, PASSWORD)
    directory.save()


def start_ours(work_dir: Path, senders: list[str]) -> tuple[Server, str]:
    """`scalebox exchange serve`, listening for FIX; GatewayMissingError when it does not."""
    return _start_ours(work_dir / "app", senders), "app"


def _start_ours(work_dir: Path, senders: list[str]) -> Server:
    work_dir.mkdir(parents=True)
    data_dir = work_dir / "scalebox-data"
    _our_members(data_dir, senders)
    port = processes.free_port()
    env = {
        **os.environ,
        "SCALEBOX_DATA_DIR": str(data_dir),
        "SCALEBOX_LOG_LEVEL": "WARNING",
        "SCALEBOX_SECRET_KEY": "bench-secret-not-secret",
        "SCALEBOX_EXCHANGE_HOST": HOST,
        "SCALEBOX_EXCHANGE_FIX_PORT": str(port),
        "SCALEBOX_EXCHANGE_PORT": str(processes.free_port()),
        "SCALEBOX_EXCHANGE_FEED_PORT": str(processes.free_port()),
        "SCALEBOX_EXCHANGE_REPLAY_PORT": str(processes.free_port()),
        "SCALEBOX_EXCHANGE_FIX_MESSAGES_PER_SECOND": "10000000",  # the limit must not cap the benchmark
    }
    command = [str(SCALEBOX), "exchange", "serve"]
    server = processes.spawn("scalebox", port, command, env, work_dir)
    try:
        listening = wait_listening(server, timeout_s=90.0)
    except RuntimeError:
        processes.stop(server)
        raise
    if not listening:
        processes.stop(server)
        raise GatewayMissingError(f"it did not listen for FIX on {port}:\n{server.log_tail(10)}")
    return server


def remove(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)
