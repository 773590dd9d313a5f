"""Optional profiling of a scalebox server with py-spy while a harness measures it, and a plain-text
summary of where the samples fell (by function and by package). py-spy is no dependency of scalebox:
the harnesses take any py-spy binary (--py-spy), from a throwaway venv or installed by hand."""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")
# The by-package view names these (first match wins); the rest fall back to their top folder. A harness
# adds its own libraries between the web stack and the standard library (see summarise()).
_STACK = (
    "scalebox",
    "uvicorn",
    "httptools",
    "uvloop",
    "starlette",
    "fastapi",
    "pydantic",
    "sqlalchemy",
    "aiosqlite",
    "sqlite3",
    "pygments",
    "jinja2",
    "markupsafe",
    "structlog",
    "prometheus_client",
)
_STDLIB = (
    "asyncio",
    "json",
    "logging",
    "concurrent",
    "threading",
)


# Frames every sample passes through (interpreter start-up, CLI, the event loop): no information.
_PLUMBING = (
    "<frozen runpy>",
    "click/",
    "typer/",
    "runners.py",
    "base_events.py",
    "events.py",
    "threading.py",
    "__main__.py",
    "cli.py",
    "core/web/server.py",
    "uvicorn/server.py",
    "uvicorn/main.py",
    "_compat.py",
    "main.py",
    "click/core.py",
    "TyperGroup.",
    "Typer.__call__",
    "Command.",
    "Context.invoke",
    "_main (",
    "Server.run (",
    "Server.serve (",
    "serve (",
)


def start(py_spy: Path, pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy record on `pid` until finish(): collapsed stacks into `output`.

    Only samples of the thread holding the GIL count: that is where Python spends CPU. Threads blocked
    in sqlite, fsync or a queue release the GIL, and a non-blocking sampler cannot always tell them
    from busy ones; their C-level time shows in the CPU-second figures instead.
    """
    command = [
        str(py_spy),
        "record",
        f"--pid={pid}",
        "--rate=200",
        "--gil",
        "--format=raw",
        "--nonblocking",  # do not pause the server to sample it: lower overhead, rare torn stacks
        f"--output={output}",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Stop recording: py-spy writes its output on SIGINT."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def summarise(collapsed: Path, extra_packages: tuple[str, ...] = (), top: int = 20) -> str:
    """Self and inclusive shares of the samples, by function and by package; `extra_packages` are the
    harness's own libraries for the by-package view."""
    known = (*_STACK, *extra_packages, *_STDLIB)
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for label in set(frames):
            if not any(part in label for part in _PLUMBING):
                inclusive[label] += count
        packages[_package(stack.split(";")[-1], known)] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples"]
    lines += ["", "self time (leaf frame):", *_rows(self_counts, total, top)]
    lines += ["", "inclusive time:", *_rows(inclusive, total, top)]
    lines += ["", "self time by package:", *_rows(packages, total, top)]
    return "\n".join(lines)


def _rows(counts: Counter[str], total: int, top: int) -> list[str]:
    return [f"  {100 * count / total:5.1f}%  {label}" for label, count in counts.most_common(top)]


def _label(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({_short(match['file'])})"


def _short(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    if "/src/" in path:
        return path.split("/src/", 1)[1]
    return path.rsplit("/lib/python3", 1)[-1].split("/", 1)[-1]


def _package(frame: str, known: tuple[str, ...]) -> str:
    match = _FRAME.match(frame.strip())
    path = _short(match["file"]) if match else frame
    for package in known:
        if path.startswith((f"{package}/", f"{package}.")) or f"/{package}/" in path:
            return package
    return path.split("/", 1)[0] or path
