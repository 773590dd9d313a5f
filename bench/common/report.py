"""What every benchmark report says besides its tables: the machine, its load, the versions and the
source revision under test; and writing a harness's section of docs/benchmarks.md between its markers,
so the rest of that file is left alone."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores (nproc), {model}{memory}, Linux {platform.release()}"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def our_versions(names: tuple[str, ...]) -> str:
    """The installed versions of the distributions `names`, in that order (missing ones left out)."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found) + f"; Python {platform.python_version()}"


def source_revision(repo: Path) -> str:
    """The commit the scalebox under test was built from, and whether src/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"commit {commit}" + (" with uncommitted changes in src/" if dirty else "")


def write_section(docs: Path, section: str, *, begin: str, end: str, add: Callable[[str, str], str]) -> None:
    """Replace what lies between `begin` and `end` (the markers included) in `docs` with `section`,
    which starts and ends with them; where the markers are missing, `add(text, section)` places it."""
    text = docs.read_text() if docs.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        docs.write_text(pattern.sub(lambda _match: section, text))
    else:
        docs.write_text(add(text, section))


@dataclass(frozen=True)
class Before:
    """Noted before the servers start: the machine's load then, and the source revision they will run."""

    load: str
    revision: str


@dataclass(frozen=True)
class Environment:
    """Where and with what a run measured: what every section says besides the harness's own setup."""

    date: str
    command: str
    machine: str
    load_before: str
    load_after: str
    ours: str  # versions of scalebox and the libraries it serves with, and Python's
    revision: str
    wrk: str

    def render_header(self, machine_note: str = "") -> list[str]:
        """A section's first lines: when and with what command it was measured, then the machine item
        (`machine_note` ends it)."""
        note = f" {machine_note}" if machine_note else ""
        return [
            f"Measured {self.date} with `{self.command}`.",
            "",
            f"- Machine: {self.machine}; load average {self.load_before} before, "
            f"{self.load_after} after.{note}",
        ]


def render_rounds(rounds: int, rate: str) -> str:
    """How many rounds ran and which one the tables show; `rate` names what the ± spread is of."""
    if rounds > 1:
        return f"{rounds} rounds, the median round shown (± is half the max-min spread of {rate})"
    return "1 round"


def note_before(repo: Path) -> Before:
    return Before(load=load_average(), revision=source_revision(repo))


def describe_environment(
    before: Before, *, script: str, argv: list[str], distributions: tuple[str, ...], wrk: str
) -> Environment:
    """The environment of a run that just ended: `script` (from the repo root) ran with `argv`, and
    `wrk` is wrk's version."""
    return Environment(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=shlex.join([".venv/bin/python", script, *argv]),
        machine=machine(),
        load_before=before.load,
        load_after=load_average(),
        ours=our_versions(distributions),
        revision=before.revision,
        wrk=wrk,
    )
