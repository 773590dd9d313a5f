"""Load generation with wrk and wrk.lua: one run (unpaced, or paced at a fixed rate), parsed into a Result."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
_MARK = "WRK_JSON "


@dataclass(frozen=True)
class Load:
    """The shape of every run: the same for both servers."""

    threads: int = 2
    connections: int = 64
    duration_s: int = 15
    warmup_s: int = 3
    timeout_s: int = 10


@dataclass(frozen=True)
class Result:
    """One wrk run. Answers with a status of 400 or more, timeouts and socket errors are errors."""

    requests: int  # answered within the run
    sent: int  # requests written: the answered ones plus those in flight when wrk stopped
    late: int  # paced runs: requests sent more than 1 ms after their slot
    duration_s: float
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    target_rate: float = 0.0  # paced runs: the rate asked for
    drain_s: float = 0.0  # how long the server stayed busy after the run (background work)
    cpu_s: float = 0.0  # CPU time the server used from the run's start until it was idle again
    loads: int | None = None  # ours: links read from the database during the run (LRU refills)

    @property
    def ok(self) -> int:
        return self.requests - self.errors

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Answers per second of the server's CPU time, background work included."""
        return self.ok / self.cpu_s if self.cpu_s else 0.0


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
    paths_file: Path,
    agents_file: Path,
    rate: float = 0.0,
) -> Result:
    """Run wrk against `base_url` for `duration_s`, unpaced or (`rate` > 0) paced; bounded by a timeout."""
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={duration_s}s",
        f"--timeout={load.timeout_s}s",
        f"--script={WRK_SCRIPT}",
        base_url,
        "--",
        str(paths_file),
        str(agents_file),
    ]
    env = {**os.environ, "BENCH_RATE": f"{rate:.3f}" if rate > 0 else "0", "BENCH_THREADS": str(load.threads)}
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
    data = json.loads(line[len(_MARK) :])
    errors = sum(
        data[key] for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return Result(
        requests=data["requests"],
        sent=data["sent"],
        late=data["late"],
        duration_s=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        target_rate=rate,
    )


def median_result(results: list[Result]) -> Result:
    """Across rounds: the round with the median throughput (the lower middle for an even count, which
    never overstates), so the latencies shown belong to the same run as the rate."""
    ranked = sorted(results, key=lambda result: result.ok_per_second)
    return ranked[(len(ranked) - 1) // 2]


def median_per_cpu_second(results: list[Result]) -> float | None:
    rates = [result.per_cpu_second for result in results if result.cpu_s]
    return statistics.median(rates) if rates else None


def spread(results: list[Result]) -> float:
    """Relative spread (max-min)/median of throughput across rounds; 0 for one round."""
    rates = [result.ok_per_second for result in results]
    if len(rates) < 2:
        return 0.0
    middle = statistics.median(rates)
    return (max(rates) - min(rates)) / middle if middle else 0.0
