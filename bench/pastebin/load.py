"""Load generation with wrk and wrk.lua: one fixed-concurrency run, parsed into a Result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.common import wrk as wrk_runs
from bench.common.wrk import Load

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class Result:
    """One wrk run. Requests answered with a non-2xx/3xx status count as errors, not throughput."""

    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    p99_ms: float
    drain_s: float = 0.0  # how long the server stayed busy after the run (background work)
    cpu_s: float = 0.0  # CPU time the server used from the run's start until it was idle again

    @property
    def ok_per_second(self) -> float:
        return (self.requests - self.errors) / self.duration_s if self.duration_s else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Answers per second of the server's CPU time, background work included: what a busy,
        shared machine changes least, since a starved server uses less CPU as well as serving less."""
        return (self.requests - self.errors) / self.cpu_s if self.cpu_s else 0.0

    @property
    def sustained_per_second(self) -> float:
        """Throughput counting the work the server did after answering, until it went idle."""
        elapsed = self.duration_s + self.drain_s
        return (self.requests - self.errors) / elapsed if elapsed else 0.0


def run_wrk(wrk: str, base_url: str, load: Load, duration_s: int, script_args: list[str]) -> Result:
    """Run wrk against `base_url` for `duration_s`; bounded by a hard timeout."""
    fields = wrk_runs.run_wrk(
        wrk, base_url, load, duration_s=duration_s, script=WRK_SCRIPT, script_args=script_args
    )
    return Result(
        requests=fields["requests"],
        duration_s=fields["duration_us"] / 1e6,
        errors=wrk_runs.count_errors(fields),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
    )


def rate_of(result: Result, sustained: bool) -> float:
    return result.sustained_per_second if sustained else result.ok_per_second


def median_result(results: list[Result], sustained: bool = False) -> Result:
    """Across rounds: the round with the median throughput (sustained or not)."""
    return wrk_runs.median_round(results, lambda result: rate_of(result, sustained))


def spread(results: list[Result], sustained: bool = False) -> float:
    """Relative spread (max-min)/median of throughput across rounds; 0 for one round."""
    return wrk_runs.spread([rate_of(result, sustained) for result in results])
