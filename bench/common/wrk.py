"""wrk, the load generator: finding it and its version, the shape of a run, one run of a harness's wrk
script (which prints a line `WRK_JSON {...}` from its done()), and the median of runs over rounds."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

_MARK = "WRK_JSON "
_ERRORS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")

R = TypeVar("R")


@dataclass(frozen=True)
class Load:
    """The shape of every run: the same for both servers."""

    threads: int
    connections: int
    duration_s: int
    warmup_s: int
    timeout_s: int = 10


def find_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (the Debian package)")
    return path


def wrk_version(wrk: str) -> str:
    # `wrk -v` prints its version and usage, then exits 1.
    output = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False).stdout
    first = output.splitlines()[0] if output else "wrk"
    return " ".join(first.split()[:3])


def run_wrk(
    wrk: str,
    base_url: str,
    load: Load,
    *,
    duration_s: int,
    script: Path,
    script_args: Sequence[str],
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run wrk with `script` against `base_url` for `duration_s`, bounded by a hard timeout; returns the
    fields of the script's WRK_JSON line (counts, and latencies in microseconds)."""
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={duration_s}s",
        f"--timeout={load.timeout_s}s",
        f"--script={script}",
        base_url,
        "--",
        *script_args,
    ]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=duration_s + load.timeout_s + 30,
        check=False,
        env=env,
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(_MARK)), None)
    if completed.returncode != 0 or line is None:
        output = f"{completed.stdout}\n{completed.stderr}"
        raise RuntimeError(f"wrk failed ({completed.returncode}): {' '.join(command)}\n{output}")
    fields: dict[str, Any] = json.loads(line[len(_MARK) :])
    return fields


def count_errors(fields: dict[str, Any]) -> int:
    """Socket errors, timeouts and answers with an error status, from a WRK_JSON line's fields."""
    return sum(int(fields[key]) for key in _ERRORS)


class Measured(Protocol):
    """A run's result as far as the CPU figures go."""

    @property
    def cpu_s(self) -> float: ...

    @property
    def per_cpu_second(self) -> float: ...


def median_round(results: Sequence[R], rate: Callable[[R], float]) -> R:
    """Across rounds: the round with the median `rate` (the lower middle for an even count, which never
    overstates), so the latencies shown belong to the same run as the rate."""
    ranked = sorted(results, key=rate)
    return ranked[(len(ranked) - 1) // 2]


def median_per_cpu_second(results: Sequence[Measured]) -> float | None:
    rates = [result.per_cpu_second for result in results if result.cpu_s]
    return statistics.median(rates) if rates else None


def spread(rates: Sequence[float]) -> float:
    """Relative spread (max-min)/median of throughput across rounds; 0 for one round."""
    if len(rates) < 2:
        return 0.0
    middle = statistics.median(rates)
    return (max(rates) - min(rates)) / middle if middle else 0.0
