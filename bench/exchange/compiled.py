"""A mypyc-compiled copy of the engine's modules, built from the same source into a temporary
directory (src/ is not touched), and the stream run through it in a child process whose
PYTHONPATH puts that directory first.

The build is cached by the hash of the sources, mypy's and Python's versions (a second run with
unchanged code reuses it; --rebuild-compiled forces a new one). When mypyc refuses the source, the
harness reports mypyc's own messages instead of a row.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mypy.version
from measure import Latency, Outcome, Throughput, latency_from_json, throughput_from_json

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "src" / "scalebox"
MODULES = ("domain", "book", "engine", "risk", "market", "replace", "sessions", "auction")
NAME = "scalebox engine (mypyc-compiled, same source)"

_SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="scalebox-exchange-mypyc-bench",
    packages=[],
    ext_modules=mypycify({paths!r}, opt_level="3"),
)
"""


@dataclass(frozen=True)
class Build:
    directory: Path
    seconds: float  # 0 when reused
    reused: bool
    mypy: str


@dataclass(frozen=True)
class BuildFailedError(Exception):
    output: str


def mypy_version() -> str:
    return mypy.version.__version__


def _closure() -> list[Path]:
    """The engine's modules and every scalebox module they import, directly or not (paths relative to
    src/), with the packages' __init__.py files: what the build copies and mypy analyses."""
    found: set[Path] = set()
    pending = [Path("scalebox/exchange") / f"{module}.py" for module in MODULES]
    while pending:
        relative = pending.pop()
        if relative in found or not (SOURCE.parent / relative).exists():
            continue
        found.add(relative)
        for parent in relative.parents:
            if parent.name and (SOURCE.parent / parent / "__init__.py").exists():
                pending.append(parent / "__init__.py")
        tree = ast.parse((SOURCE.parent / relative).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "scalebox" or name.startswith("scalebox."):
                    as_path = Path(*name.split("."))
                    pending += [as_path.with_suffix(".py"), as_path / "__init__.py"]
    return sorted(found)


def _key(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(str(relative).encode())
        digest.update((SOURCE.parent / relative).read_bytes())
    digest.update(f"{mypy_version()} {platform.python_version()} {sys.executable}".encode())
    return digest.hexdigest()[:16]


def build(*, rebuild: bool = False) -> Build:
    """Compile the modules with mypyc (opt_level 3) unless a build of the same source exists. The
    modules they import (scalebox.exchange.errors, scalebox.core.errors, ...) are copied beside them
    uncompiled, so mypy can analyse them and the child process imports them from the copy."""
    files = _closure()
    directory = Path(tempfile.gettempdir()) / f"scalebox-bench-exchange-mypyc-{_key(files)}"
    marker = directory / "BUILT"
    if marker.exists() and not rebuild:
        return Build(directory, 0.0, True, mypy_version())
    shutil.rmtree(directory, ignore_errors=True)
    for relative in files:
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SOURCE.parent / relative, directory / relative)
    package = directory / "scalebox" / "exchange"
    paths = [f"scalebox/exchange/{module}.py" for module in MODULES]
    (directory / "setup.py").write_text(_SETUP.format(paths=paths))
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
    )
    seconds = time.monotonic() - started
    (directory / "build.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise BuildFailedError(_mypyc_errors(completed.stdout + completed.stderr))
    for module in MODULES:  # the .py copies must not shadow what failed to build
        if not list(package.glob(f"{module}.*.so")):
            raise BuildFailedError(f"no extension module built for {module}:\n{completed.stdout[-2000:]}")
    marker.write_text(f"{seconds:.1f}\n")
    return Build(directory, seconds, False, mypy_version())


def _mypyc_errors(output: str) -> str:
    """mypy's and mypyc's error lines, or the tail of the log when there are none."""
    lines = [line for line in output.splitlines() if ": error:" in line or "error" in line.lower()[:12]]
    return "\n".join(lines[:60]) if lines else output[-3000:]


class Worker:
    """ours.py as a child process on the compiled engine: it loads the stream once, then runs a
    pass whenever asked, so its passes can alternate with the other engines' passes."""

    def __init__(self, stream_path: Path, build_dir: Path, gc_mode: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(build_dir)}
        command = [
            sys.executable,
            str(Path(__file__).with_name("ours.py")),
            str(stream_path),
            "--gc",
            gc_mode,
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1
        )
        self.modules: dict[str, str] = json.loads(self._answer("MODULES"))
        not_compiled = [name for name, path in self.modules.items() if not path.endswith(".so")]
        if not_compiled:
            self.close()
            raise RuntimeError(f"the worker loaded these engine modules uncompiled: {not_compiled}")

    def _answer(self, prefix: str) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(prefix + " "):
                return line[len(prefix) + 1 :]
        raise RuntimeError(f"the compiled worker exited ({self.process.wait()}) before answering {prefix}")

    def _ask(self, request: str, prefix: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._answer(prefix))
        return answer

    def throughput(self) -> Throughput:
        return throughput_from_json(self._ask("throughput", "THROUGHPUT"))

    def latency(self) -> tuple[Latency, Outcome]:
        return latency_from_json(self._ask("latency", "LATENCY"))

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
