"""The event log benchmark's report: a markdown table per phase (ours, Tansu's and Redis's figures and
the ratio ours / Tansu), the targets as PASS / MISS, the JSON results, and its section of
docs/benchmarks.md (between markers, so the rest of that file is left alone). The machine and
versions: bench.common.report."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from bench.common import report as shared
from bench.common.report import Environment
from cases import ConsumeRun, LatencyRun, ProduceRun, Results, Settings

from servers import System

BEGIN = "<!-- bench:eventlog:begin -->"
END = "<!-- bench:eventlog:end -->"
HEADING = "## Event log"
AFTER = "<!-- bench:objectstore:end -->"  # a new section goes after the object store's
OURS, TANSU = "scalebox", "tansu"
OUR_DISTRIBUTIONS = ("scalebox", "uvloop", "crc32c")
PRODUCE_MB_S_TARGET = 100.0  # MB/s of 1 KiB records
P99_TARGET_MS = 20.0  # end-to-end p99 at 10,000 records/s
CLIENT_BUSY_CORES = 0.8  # a client process using this much may be the bottleneck


@dataclass(frozen=True)
class Target:
    title: str
    measured: str
    met: bool


def _size(value_bytes: int) -> str:
    return f"{value_bytes // 1024} KiB" if value_bytes % 1024 == 0 else f"{value_bytes} B"


def _case(run: ProduceRun) -> str:
    partitions = f"{run.partitions} partition" + ("s" if run.partitions != 1 else "")
    return f"{_size(run.value_bytes)} values, {partitions}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "n/a"
    return f"**{ours / theirs:.2f}x**"


def _columns(systems: Sequence[System]) -> tuple[str, str]:
    names = " | ".join(system.label for system in systems)
    return names, "|".join("---:" for _ in systems)


def render_produce(results: Results, systems: Sequence[System], settings: Settings) -> str:
    names, align = _columns(systems)
    lines = [
        f"| produce (acks=all, linger.ms {settings.linger_ms}, batch.size {settings.batch_bytes:,}) | "
        f"{names} | ours / Tansu |",
        f"|---|{align}|---:|",
    ]
    for runs in results.produce:
        first = next(iter(runs.values()))
        cells = []
        for system in systems:
            run = runs.get(system.name)
            cells.append("n/a" if run is None else f"{run.rate:,.0f} rec/s, {run.mb_s:,.1f} MB/s")
        ours, tansu = runs.get(OURS), runs.get(TANSU)
        ratio = _ratio(ours.rate if ours else None, tansu.rate if tansu else None)
        lines.append(f"| {_case(first)} | {' | '.join(cells)} | {ratio} |")
    lines += [
        "",
        f"| produce: CPU, cores over the window (server / client) | {names} |",
        f"|---|{align}|",
    ]
    for runs in results.produce:
        first = next(iter(runs.values()))
        cells = []
        for system in systems:
            run = runs.get(system.name)
            cells.append("n/a" if run is None else f"{run.server_cores:.2f} / {run.client_cores:.2f}")
        lines.append(f"| {_case(first)} | {' | '.join(cells)} |")
    busy = [run for runs in results.produce for run in runs.values() if run.client_cores >= CLIENT_BUSY_CORES]
    if busy:
        named = ", ".join(f"{run.system} {_case(run)} ({run.client_cores:.2f})" for run in busy)
        lines.append(
            f"\nThe client used {CLIENT_BUSY_CORES:g} cores or more in: {named}. Its Python loop calls "
            "produce() from one thread, so near one core it may be the limit rather than the server."
        )
    errors = [run for runs in results.produce for run in runs.values() if run.errors]
    for run in errors:
        lines.append(f"\n{run.system}, {_case(run)}: {run.errors} records failed: `{run.first_error[:200]}`")
    return "\n".join(lines)


def _metric_rows(
    title: str,
    systems: Sequence[System],
    runs: dict[str, Any],
    rows: Sequence[tuple[str, Callable[[Any], float], str, bool]],
    ratio_title: str = "ours / Tansu",
) -> str:
    """A table with a row per metric: (label, value of a run, format, ratio shown)."""
    names, align = _columns(systems)
    lines = [f"| {title} | {names} | {ratio_title} |", f"|---|{align}|---:|"]
    for label, value, spec, with_ratio in rows:
        cells = []
        for system in systems:
            run = runs.get(system.name)
            cells.append("n/a" if run is None else format(value(run), spec))
        ours, tansu = runs.get(OURS), runs.get(TANSU)
        ratio = _ratio(value(ours), value(tansu)) if with_ratio and ours and tansu else ""
        lines.append(f"| {label} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(lines)


def render_latency(results: Results, systems: Sequence[System], settings: Settings) -> str:
    title = (
        f"end to end, {settings.latency_rate:,} records/s of {_size(settings.latency_value_bytes)}, "
        f"linger.ms {settings.latency_linger_ms}, {settings.latency_duration_s:g} s"
    )
    rows: list[tuple[str, Callable[[LatencyRun], float], str, bool]] = [
        ("p50, ms", lambda run: run.p50_ms, ".2f", True),
        ("p99, ms", lambda run: run.p99_ms, ".2f", True),
        ("p99.9, ms", lambda run: run.p999_ms, ".2f", True),
        ("max, ms", lambda run: run.max_ms, ".2f", True),
        ("records received (of sent)", lambda run: run.received, ",", False),
        ("producer behind schedule at most, ms", lambda run: run.behind_max_ms, ".1f", False),
        ("server CPU, cores", lambda run: run.server_cores, ".2f", False),
        ("producer CPU, cores", lambda run: run.producer_cores, ".2f", False),
    ]
    table = _metric_rows(title, systems, results.latency, rows, "ours / Tansu (lower is better)")
    short = [run for run in results.latency.values() if run.received < run.expected or run.errors]
    notes = [
        f"\n{run.system}: {run.received:,} of {run.expected:,} records received, {run.errors} errors"
        for run in short
    ]
    return table + "".join(notes)


def render_consume(results: Results, systems: Sequence[System], settings: Settings) -> str:
    title = (
        f"consume {settings.consume_records:,} records of {_size(settings.consume_value_bytes)} "
        "from the start, one partition"
    )
    rows: list[tuple[str, Callable[[ConsumeRun], float], str, bool]] = [
        ("records/s", lambda run: run.rate, ",.0f", True),
        ("MB/s", lambda run: run.mb_s, ",.1f", True),
        ("first record after, s (group join)", lambda run: run.first_record_s, ".2f", False),
        ("server CPU, cores", lambda run: run.server_cores, ".2f", False),
        ("client CPU, cores", lambda run: run.client_cores, ".2f", False),
        ("records received", lambda run: run.records, ",", False),
        ("fill before it (not measured), records/s", lambda run: run.fill_rate, ",.0f", False),
    ]
    return _metric_rows(title, systems, results.consume, rows)


def targets(results: Results) -> list[Target]:
    found: list[Target] = []
    for runs in results.produce:
        ours, tansu = runs.get(OURS), runs.get(TANSU)
        if ours is None:
            continue
        if tansu is not None and tansu.rate:
            found.append(
                Target(
                    f"produce {_case(ours)}: at least Tansu's records/s",
                    f"{ours.rate:,.0f} vs {tansu.rate:,.0f} rec/s = {ours.rate / tansu.rate:.2f}x",
                    ours.rate >= tansu.rate,
                )
            )
        if ours.value_bytes == 1024:
            found.append(
                Target(
                    f"produce {_case(ours)}: at least {PRODUCE_MB_S_TARGET:g} MB/s",
                    f"{ours.mb_s:,.1f} MB/s",
                    ours.mb_s >= PRODUCE_MB_S_TARGET,
                )
            )
    latency = results.latency.get(OURS)
    if latency is not None:
        complete = latency.received >= latency.expected
        found.append(
            Target(
                f"end-to-end p99 under {P99_TARGET_MS:g} ms at {latency.rate:,} records/s",
                f"p99 {latency.p99_ms:.2f} ms" + ("" if complete else f" ({latency.received:,} received)"),
                complete and latency.p99_ms < P99_TARGET_MS,
            )
        )
    ours_consume, tansu_consume = results.consume.get(OURS), results.consume.get(TANSU)
    if ours_consume is not None and tansu_consume is not None and tansu_consume.rate:
        found.append(
            Target(
                "consume: at least Tansu's records/s",
                f"{ours_consume.rate:,.0f} vs {tansu_consume.rate:,.0f} rec/s = "
                f"{ours_consume.rate / tansu_consume.rate:.2f}x",
                ours_consume.rate >= tansu_consume.rate,
            )
        )
    return found


def render_target_lines(found: Sequence[Target]) -> str:
    return "\n".join(
        f"{'PASS' if target.met else 'MISS'}  {target.title}: {target.measured}" for target in found
    )


def render_target_table(found: Sequence[Target]) -> str:
    if not found:
        return "(No target applies to the phases run.)"
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for target in found:
        lines.append(f"| {target.title} | {target.measured} | **{'PASS' if target.met else 'MISS'}** |")
    return "\n".join(lines)


def render_tables(results: Results, systems: Sequence[System], settings: Settings) -> str:
    parts = []
    if results.produce:
        parts.append(render_produce(results, systems, settings))
    if results.latency:
        parts.append(render_latency(results, systems, settings))
    if results.consume:
        parts.append(render_consume(results, systems, settings))
    return "\n\n".join(parts)


def versions(names: tuple[str, ...]) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def client_version() -> str:
    return f"{versions(('confluent-kafka',))} (librdkafka {confluent_kafka.libversion()[0]})"


def write_json(
    path: Path, results: Results, systems: Sequence[System], settings: Settings, extra: dict[str, Any]
) -> None:
    def rows(runs: dict[str, Any]) -> dict[str, Any]:
        return {
            name: {
                **dataclasses.asdict(run),
                **{
                    key: getattr(run, key)
                    for key in ("rate", "mb_s", "client_cores", "server_cores", "producer_cores")
                    if hasattr(run, key)
                },
            }
            for name, run in runs.items()
        }

    document = {
        **extra,
        "settings": dataclasses.asdict(settings),
        "systems": {system.name: system.label for system in systems},
        "produce": [rows(runs) for runs in results.produce],
        "latency": rows(results.latency),
        "consume": rows(results.consume),
        "targets": [dataclasses.asdict(target) for target in targets(results)],
        "profile": results.profile,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


@dataclass(frozen=True)
class Context:
    """Everything the section says besides the tables."""

    environment: Environment
    settings: Settings
    systems: Sequence[System]
    tansu: str  # version line
    tansu_engine: str
    redis: str  # version
    resp_parser: str


def render_section(context: Context, results: Results) -> str:
    environment, settings = context.environment, context.settings
    produce_cases = ", ".join(
        f"{_size(value_bytes)} x {partitions} partition{'s' if partitions != 1 else ''}"
        for value_bytes, partitions in settings.produce_cases
    )
    durable = context.tansu_engine.startswith("memory")
    lines = [
        BEGIN,
        *environment.render_header("Clients and servers share the two cores."),
        f"- scalebox: {environment.ours}; {environment.revision}. One process "
        "(`python -m scalebox eventlog serve`, uvloop), a fresh data directory on local disk, default topic "
        "settings: **fsync after every batch** (`flush.messages=1`, group-committed across connections), "
        "acks=all answered after the fsync; log level WARNING, console off.",
        f"- Tansu: {context.tansu}, `tansu broker --storage-engine {context.tansu_engine}`"
        + (
            " — **memory-backed: nothing reaches the disk** (this build has only the memory and S3 "
            "engines; `sqlite://` and `postgres://` answer FeatureNotEnabled), so it is an upper bound "
            "for a durable Tansu."
            if durable
            else "."
        ),
        f"- Redis: {context.redis}, Streams, `appendonly yes` with **`appendfsync everysec`** (the AOF is "
        "fsynced once a second, not before a write is answered), no RDB snapshots, automatic AOF rewrite "
        "off. Each Kafka partition is a stream; XADD `*` with one field of the value.",
        f"- Kafka client for both brokers: {client_version()}, in its own process: acks=all, linger.ms "
        f"{settings.linger_ms}, batch.size {settings.batch_bytes:,}, no compression, no idempotence, "
        "delivery reports for failures only; no key (librdkafka's sticky partitioner spreads batches over "
        "the partitions). Redis client: the harness's own RESP pipeline over one socket "
        f"({settings.redis_pipeline:,} XADDs a pipeline, {settings.redis_in_flight} pipelines in flight, "
        f"replies parsed by {context.resp_parser}), also in its own process. CPU columns are cores used over "
        "the measured window (2 is all of them): the client's own (every thread) and the server's.",
        f"- Produce: values of random bytes ({produce_cases}); {settings.warmup_s:g} s of warm-up, then "
        f"{settings.duration_s:g} s of producing as fast as the client goes, then a flush; records/s counts "
        "acknowledged records over the window including the flush. MB/s is 10^6 bytes of values a second.",
        f"- Latency: a producer paced at {settings.latency_rate:,} records/s of "
        f"{_size(settings.latency_value_bytes)} (same client settings, linger.ms "
        f"{settings.latency_linger_ms}) stamps each value with the time it "
        "was due (CLOCK_MONOTONIC), a consumer in another process (assigned to the partition, "
        f"fetch.wait.max.ms {settings.fetch_wait_max_ms or 500}, fetch.min.bytes 1; Redis: XREADGROUP BLOCK "
        "+ XACK) takes receive - due for every record after the first "
        f"{settings.latency_warmup_s:g} s.",
        f"- Consume: {settings.consume_records:,} records of {_size(settings.consume_value_bytes)} produced "
        "first (not measured), then read from the start by a group consumer (`subscribe`, "
        "`auto.offset.reset=earliest`, commits every second and at the end; Redis: XREADGROUP COUNT 1000 "
        "from a new group at 0, XACK of each batch); the window runs from the first record to the last.",
        "",
        render_tables(results, context.systems, settings),
        "",
        render_target_table(targets(results)),
        END,
    ]
    return "\n".join(lines)


def write_section(docs: Path, section: str) -> None:
    """Replace the marked section of docs/benchmarks.md (or add an '## Event log' section for it after
    the object store's, before the next heading)."""
    shared.write_section(docs, section, begin=BEGIN, end=END, add=_add_with_heading)


def _add_with_heading(text: str, section: str) -> str:
    intro = "(The tables below are written by `bench/eventlog/run.py`; the text after them is not.)"
    block = f"{HEADING}\n\n{intro}\n\n{section}\n"
    at = text.find(AFTER)
    if at >= 0:
        following = text.find("\n## ", at)
        if following >= 0:
            return text[: following + 1] + block + "\n" + text[following + 1 :]
    return text.rstrip("\n") + f"\n\n{block}"
