"""Load generation with wrk and wrk.lua: one run (unpaced, or paced at a fixed rate), parsed into a Result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import wrk as wrk_runs
from bench.common.wrk import Load

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


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
    refreshed: int | None = None  # ours: cached links reloaded ahead of expiry during the run
    steal: float = 0.0  # share of the machine's CPU time the hypervisor took during the run

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
    env = {**os.environ, "BENCH_RATE": f"{rate:.3f}" if rate > 0 else "0", "BENCH_THREADS": str(load.threads)}
    fields = wrk_runs.run_wrk(
        wrk,
        base_url,
        load,
        duration_s=duration_s,
        script=WRK_SCRIPT,
        script_args=[str(paths_file), str(agents_file)],
        env=env,
    )
    return Result(
        requests=fields["requests"],
        sent=fields["sent"],
        late=fields["late"],
        duration_s=fields["duration_us"] / 1e6,
        errors=wrk_runs.count_errors(fields),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        max_ms=fields["max_us"] / 1000,
        target_rate=rate,
    )


def median_result(results: Sequence[Result]) -> Result:
    """Across rounds: the round with the median throughput."""
    return wrk_runs.median_round(results, lambda result: result.ok_per_second)


def median_latency_result(results: Sequence[Result]) -> Result:
    """Across paced rounds, whose throughput is the asked rate by design: the round with the median
    p99 (the upper middle for an even count, which never understates)."""
    return wrk_runs.median_round(results, lambda result: -result.p99_ms)


def spread(results: Sequence[Result]) -> float:
    """Relative spread (max-min)/median of throughput across rounds; 0 for one round."""
    return wrk_runs.spread([result.ok_per_second for result in results])
