"""Part 1: the engines alone. One generated stream (cached on disk by its configuration and the
source that generates it), then throughput passes that alternate between the engines round by
round, then one latency pass per engine, and the cross-check of what each engine made of it."""

from __future__ import annotations

import hashlib
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import compiled
import liquibook_runner
import mix
import ours
from measure import EngineResult, Latency, Outcome, Throughput
from mix import MixConfig, Stream

SOURCE = Path(__file__).resolve().parents[2] / "src" / "scalebox" / "exchange"


@dataclass(frozen=True)
class StreamSummary:
    operations: int
    setup: int
    counts: dict[str, int]
    book_min: int
    book_mean: float
    book_max: int
    levels_min: int
    levels_max: int
    trades: int
    volume: int
    seed: int
    generated_s: float  # 0 when read from the cache


@dataclass
class EngineReport:
    stream: StreamSummary
    results: list[EngineResult]
    rounds: int
    gc_mode: str
    compiled_build: compiled.Build | None = None
    compiled_failure: str = ""  # mypyc's refusal, when it refused
    compiled_modules: dict[str, str] = field(default_factory=dict)

    @property
    def ours(self) -> EngineResult:
        return self.results[0]

    @property
    def liquibook(self) -> EngineResult:
        return self.results[1]

    @property
    def compiled(self) -> EngineResult | None:
        return self.results[2] if len(self.results) > 2 else None

    def cross_check(self) -> bool:
        """Every engine traded the same trades and left the same book, as the generator did."""
        first = self.results[0].outcome
        return all(r.outcome == first for r in self.results) and (
            first.trades == self.stream.trades and first.volume == self.stream.volume
        )


def _stream_path(config: MixConfig) -> Path:
    digest = hashlib.sha256(repr(config).encode())
    digest.update(Path(mix.__file__).read_bytes())
    for module in sorted(SOURCE.glob("*.py")):  # the generator runs our engine: its code shapes the stream
        digest.update(module.read_bytes())
    return Path(tempfile.gettempdir()) / f"scalebox-bench-exchange-stream-{digest.hexdigest()[:16]}.pickle"


def load_stream(config: MixConfig) -> tuple[Stream, Path, float]:
    """The stream for `config`, from the cache or generated (and cached); the seconds generating took."""
    path = _stream_path(config)
    if path.exists():
        with path.open("rb") as file:
            return pickle.load(file), path, 0.0
    started = time.monotonic()
    stream = mix.generate(config)
    seconds = time.monotonic() - started
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as file:
        pickle.dump(stream, file, protocol=pickle.HIGHEST_PROTOCOL)
    temporary.replace(path)
    return stream, path, seconds


def summarise(stream: Stream, generated_s: float) -> StreamSummary:
    return StreamSummary(
        operations=len(stream.ops),
        setup=len(stream.setup),
        counts={mix.KIND_NAMES[kind]: count for kind, count in sorted(stream.counts.items())},
        book_min=min(stream.book_sizes, default=0),
        book_mean=statistics.mean(stream.book_sizes) if stream.book_sizes else 0.0,
        book_max=max(stream.book_sizes, default=0),
        levels_min=min(stream.levels, default=0),
        levels_max=max(stream.levels, default=0),
        trades=stream.trades,
        volume=stream.volume,
        seed=stream.config.seed,
        generated_s=generated_s,
    )


@dataclass
class _Runner:
    name: str
    throughput: Callable[[], Throughput]
    latency: Callable[[], tuple[Latency, Outcome]]
    throughputs: list[Throughput] = field(default_factory=list)


def run(
    config: MixConfig, *, rounds: int, gc_mode: str, with_compiled: bool, rebuild: bool = False
) -> EngineReport:
    started = time.monotonic()
    stream, stream_path, generated_s = load_stream(config)
    summary = summarise(stream, generated_s)
    source = "generated" if generated_s else "read from the cache"
    print(f"stream: {summary.operations:,} operations after {summary.setup:,} set-up adds, {source} "
          f"({stream_path}); book {summary.book_min:,}-{summary.book_max:,} orders", flush=True)  # fmt: skip
    runners = [
        _Runner(ours.NAME, lambda: ours.throughput(stream, gc_mode), lambda: ours.latency(stream, gc_mode)),
        _Runner(
            liquibook_runner.NAME,
            lambda: liquibook_runner.throughput(stream, gc_mode),
            lambda: liquibook_runner.latency(stream, gc_mode),
        ),
    ]
    report = EngineReport(summary, [], rounds, gc_mode)
    worker = None
    if with_compiled:
        try:
            report.compiled_build = compiled.build(rebuild=rebuild)
            built = report.compiled_build
            print(
                f"mypyc build: {built.directory} ({'reused' if built.reused else f'{built.seconds:.0f} s'})"
            )
            worker = compiled.Worker(stream_path, built.directory, gc_mode)
            report.compiled_modules = worker.modules
            runners.append(_Runner(compiled.NAME, worker.throughput, worker.latency))
        except compiled.BuildFailedError as failure:
            report.compiled_failure = failure.output
            print(f"mypyc refused the engine's source:\n{failure.output}", flush=True)
    try:
        for round_number in range(rounds):
            shift = round_number % len(runners)  # who goes first rotates, so load drift favours none
            for runner in runners[shift:] + runners[:shift]:
                result = runner.throughput()
                runner.throughputs.append(result)
                print(f"round {round_number + 1} {runner.name:<48} {result.per_second:>10,.0f} ops/s  "
                      f"{result.per_cpu_second:>10,.0f} per CPU-s  gc {result.gc.collections} "
                      f"{result.gc.pause_ms:.0f} ms", flush=True)  # fmt: skip
        for runner in runners:
            latency, outcome = runner.latency()
            print(f"latency {runner.name:<48} p50 {latency.p50_us:.2f} us  p99 {latency.p99_us:.2f} us  "
                  f"p99.9 {latency.p999_us:.2f} us  trades {outcome.trades:,}", flush=True)  # fmt: skip
            report.results.append(EngineResult(runner.name, runner.throughputs, latency, outcome))
    finally:
        if worker is not None:
            worker.close()
    print(f"engines: {time.monotonic() - started:.0f} s", flush=True)
    return report
