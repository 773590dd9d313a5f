"""What both engine runners share: the shape of a result, percentiles, and a watch on Python's cyclic
garbage collector during a timed pass (how many collections of each generation, and their pauses)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from mix import KIND_NAMES


@dataclass
class GcStats:
    """Collections per generation during a pass and the time they took (ms)."""

    mode: str = "on"  # "on": default thresholds, the input frozen (gc.freeze); "off": gc.disable()
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    pause_ms: float = 0.0
    max_pause_ms: float = 0.0


@dataclass
class Throughput:
    operations: int
    seconds: float  # wall-clock time of the pass
    cpu_seconds: float  # this process's CPU time during the pass (time.process_time)
    gc: GcStats

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.operations / self.cpu_seconds if self.cpu_seconds else 0.0


@dataclass
class Latency:
    """Per-operation latency of a pass that timed every call on its own (microseconds)."""

    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float
    mean_us: float
    by_kind: dict[str, tuple[float, float, float]]  # kind name -> (p50, p99, p99.9)
    timer_overhead_ns: float  # median of back-to-back perf_counter_ns() calls, included in every figure
    gc: GcStats


@dataclass
class Outcome:
    """What an engine made of the stream: for the cross-check between engines."""

    trades: int
    volume: int
    notional: int  # sum of price x quantity over trades, in ticks x shares
    resting_orders: int
    resting_quantity: int
    cancel_rejects: int
    replace_rejects: int


@dataclass
class EngineResult:
    name: str
    throughputs: list[Throughput]
    latency: Latency
    outcome: Outcome
    note: str = ""

    @property
    def median(self) -> Throughput:
        ranked = sorted(self.throughputs, key=lambda t: t.per_second)
        return ranked[(len(ranked) - 1) // 2]  # the lower middle: never overstates


def throughput_to_json(result: Throughput) -> dict[str, Any]:
    return asdict(result)


def throughput_from_json(data: dict[str, Any]) -> Throughput:
    return Throughput(data["operations"], data["seconds"], data["cpu_seconds"], GcStats(**data["gc"]))


def latency_to_json(latency: Latency, outcome: Outcome) -> dict[str, Any]:
    return {"latency": asdict(latency), "outcome": asdict(outcome)}


def latency_from_json(data: dict[str, Any]) -> tuple[Latency, Outcome]:
    latency = dict(data["latency"])
    latency["gc"] = GcStats(**latency["gc"])
    latency["by_kind"] = {k: tuple(v) for k, v in latency["by_kind"].items()}
    return Latency(**latency), Outcome(**data["outcome"])


@contextmanager
def watch_gc(mode: str) -> Iterator[GcStats]:
    """Collect, then freeze everything that exists (the pre-built input above all) so collections
    during the pass scan only what the engine allocates; or disable the collector for mode "off"."""
    stats = GcStats(mode=mode)
    started = [0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
            return
        pause = (time.perf_counter_ns() - started[0]) / 1e6
        stats.pause_ms += pause
        stats.max_pause_ms = max(stats.max_pause_ms, pause)
        stats.collections[info["generation"]] += 1

    gc.collect()
    gc.freeze()
    if mode == "off":
        gc.disable()
    gc.callbacks.append(callback)
    try:
        yield stats
    finally:
        gc.callbacks.remove(callback)
        gc.enable()
        gc.unfreeze()


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        start = clock()
        samples.append(clock() - start)
    samples.sort()
    return float(samples[len(samples) // 2])


def percentile(sorted_values: list[int], fraction: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def summarise_latency(latencies_ns: list[int], kinds: list[int], gc_stats: GcStats) -> Latency:
    ordered = sorted(latencies_ns)
    by_kind: dict[str, tuple[float, float, float]] = {}
    for kind, name in KIND_NAMES.items():
        values = sorted(value for value, k in zip(latencies_ns, kinds, strict=True) if k == kind)
        if values:
            by_kind[name] = (
                percentile(values, 0.5) / 1000,
                percentile(values, 0.99) / 1000,
                percentile(values, 0.999) / 1000,
            )
    return Latency(
        p50_us=percentile(ordered, 0.5) / 1000,
        p99_us=percentile(ordered, 0.99) / 1000,
        p999_us=percentile(ordered, 0.999) / 1000,
        max_us=ordered[-1] / 1000 if ordered else 0.0,
        mean_us=sum(ordered) / len(ordered) / 1000 if ordered else 0.0,
        by_kind=by_kind,
        timer_overhead_ns=timer_overhead_ns(),
        gc=gc_stats,
    )
