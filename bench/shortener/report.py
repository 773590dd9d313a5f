"""The shortener benchmark's report: the markdown tables and its section of docs/benchmarks.md (between
markers, so the rest of that file is left alone). The machine and versions: bench.common.report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import load as loadgen
from bench.common import report as shared
from bench.common import wrk as wrk_runs
from bench.common.report import Environment
from bench.common.wrk import Load
from client import VisitCounts
from load import Result

import servers

BEGIN = "<!-- bench:shortener:begin -->"
END = "<!-- bench:shortener:end -->"
HEADING = "## Shortener"
RATIO_TARGET = 0.35  # ours/nginx redirects per second
P99_TARGET_MS = 5.0  # our p99 at half of our peak rate
# Whose versions the section names, in this order.
OUR_DISTRIBUTIONS = (
    "scalebox",
    "starlette",
    "fastapi",
    "uvicorn",
    "uvloop",
    "httptools",
    "SQLAlchemy",
    "aiosqlite",
)


@dataclass(frozen=True)
class Row:
    """One case, both servers, every round in the order run; shown are each server's median round
    (by p99 for the paced half-rate case, whose rate is the asked one by design; by rate otherwise)
    and the spread across rounds."""

    title: str
    rounds_ours: tuple[Result, ...]
    rounds_theirs: tuple[Result, ...]

    @property
    def ours(self) -> Result:
        return self._median(self.rounds_ours)

    @property
    def theirs(self) -> Result:
        return self._median(self.rounds_theirs)

    def _median(self, results: tuple[Result, ...]) -> Result:
        if self.title == "half":
            return loadgen.median_latency_result(results)
        return loadgen.median_result(results)

    @property
    def ratio(self) -> float:
        return self.ours.ok_per_second / self.theirs.ok_per_second if self.theirs.ok_per_second else 0.0

    @property
    def cpu_ratio(self) -> float | None:
        ours = wrk_runs.median_per_cpu_second(self.rounds_ours)
        theirs = wrk_runs.median_per_cpu_second(self.rounds_theirs)
        return None if ours is None or not theirs else ours / theirs


@dataclass(frozen=True)
class Visits:
    """What the clients saw against what the server counted and stored."""

    answered: int  # redirects the clients counted: the sweep, plus wrk's answered requests
    sent: int  # the sweep, plus every request wrk wrote (answered or in flight when it stopped)
    counts: VisitCounts
    stored_cli: int | None  # `scalebox shortener stats`
    waited_s: float  # from the end of the last run until every published visit was stored
    processes: int = 1  # our serving processes; with several, /metrics speaks for one of them

    @property
    def no_loss(self) -> bool:
        counts = self.counts
        if self.processes > 1:  # the per-process counters cannot be summed: compare with the clients
            return (
                self.stored_cli is None or self.stored_cli == counts.stored
            ) and self.answered <= counts.stored <= self.sent
        return (
            counts.dropped == 0
            and counts.recorded == counts.published == counts.stored
            and (self.stored_cli is None or self.stored_cli == counts.stored)
            and self.answered <= counts.recorded <= self.sent
        )


def render_peak(row: Row) -> str:
    return "\n".join(
        [
            "| peak (unpaced) | redirects/s | p50 ms | p99 ms | max ms | per server CPU-second | errors "
            "| steal |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            _server_row("scalebox", row.ours, row.rounds_ours),
            _server_row("nginx", row.theirs, row.rounds_theirs),
            f"| **ours / nginx** | **{row.ratio:.1%}** | | | | "
            f"{'n/a' if row.cpu_ratio is None else f'{row.cpu_ratio:.1%}'} | | |",
            *_refills(row),
        ]
    )


def _refills(row: Row) -> list[str]:
    """A note when our LRU was refilled or refreshed from the database during the shown run."""
    notes = []
    if row.ours.loads:
        notes.append(
            f"During this run our server read {row.ours.loads:,} links from the database: cached links "
            "had expired (`cache_seconds`), so these figures include refilling the LRU (one read per "
            "expired link)."
        )
    if row.ours.refreshed:
        notes.append(
            f"It also refreshed {row.ours.refreshed:,} cached links ahead of expiry (reloaded in batches "
            "by a background task, off the request path), and these figures include that work."
        )
    return ["", " ".join(notes)] if notes else []


def _server_row(name: str, result: Result, rounds: tuple[Result, ...]) -> str:
    """`result`, the median of `rounds`, with the spread of their rates and their median answers per
    CPU-second."""
    spread, per_cpu = loadgen.spread(rounds), wrk_runs.median_per_cpu_second(rounds)
    rate = f"{result.ok_per_second:,.0f}" + (f" (±{spread * 50:.0f}%)" if spread else "")
    cpu = "n/a" if per_cpu is None else f"{per_cpu:,.0f}"
    return (
        f"| {name} | {rate} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.max_ms:.1f} | "
        f"{cpu} | {result.errors} | {result.steal:.0%} |"
    )


def render_half(row: Row) -> str:
    lines = [
        "| at half of our peak (paced) | asked redirects/s | achieved | p50 ms | p99 ms | max ms | "
        "sent > 1 ms late | errors | steal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in (("scalebox", row.ours), ("nginx", row.theirs)):
        late = result.late / result.sent if result.sent else 0.0
        lines.append(
            f"| {name} | {result.target_rate:,.0f} | {result.ok_per_second:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {result.max_ms:.1f} | {late:.1%} | {result.errors} | {result.steal:.0%} |"
        )
    return "\n".join(lines + _refills(row) + _rounds(row))


def _rounds(row: Row) -> list[str]:
    """Every round's p99 beside the share of CPU the hypervisor took meanwhile: on a shared machine
    the one follows the other, which the median round alone does not show."""
    if len(row.rounds_ours) < 2:
        return []

    def listed(results: tuple[Result, ...]) -> str:
        return ", ".join(f"{result.p99_ms:.2f} ms at {result.steal:.0%} steal" for result in results)

    return [
        "",
        f"p99 in every round, in order: scalebox {listed(row.rounds_ours)}; "
        f"nginx {listed(row.rounds_theirs)}.",
    ]


def render_visits(visits: Visits) -> str:
    counts = visits.counts
    cli = "n/a" if visits.stored_cli is None else f"{visits.stored_cli:,}"
    return "\n".join(
        [
            "| visits | count |",
            "|---|---:|",
            f"| redirects the clients got (sweep + wrk, answered) | {visits.answered:,} |",
            f"| requests sent (plus those in flight when wrk stopped) | {visits.sent:,} |",
            '| recorded by the server (`shortener_visits_total{outcome="recorded"}`) | '
            f"{counts.recorded:,} |",
            f'| published to the event log (`outcome="published"`) | {counts.published:,} |',
            f'| dropped (`outcome="dropped"`) | {counts.dropped:,} |',
            f"| stored (`GET /rest/v3/visits`, non-orphan total) | {counts.stored:,} |",
            f"| stored (`scalebox shortener stats`) | {cli} |",
            f"| orphan visits stored (expected 0) | {counts.stored_orphan:,} |",
            f"| seconds from the last run's end until all were stored | {visits.waited_s:.1f} |",
        ]
    )


def render_targets(peak: Row, half: Row, visits: Visits) -> str:
    def verdict(met: bool) -> str:
        return "**met**" if met else "**missed**"

    counts = visits.counts
    return "\n".join(
        [
            "| target | measured | verdict |",
            "|---|---|---|",
            f"| redirects/s at least {RATIO_TARGET:.0%} of nginx's | {peak.ratio:.1%} | "
            f"{verdict(peak.ratio >= RATIO_TARGET)} |",
            f"| p99 under {P99_TARGET_MS:g} ms at half of our peak rate | {half.ours.p99_ms:.2f} ms at "
            f"{half.ours.ok_per_second:,.0f}/s | {verdict(half.ours.p99_ms < P99_TARGET_MS)} |",
            (
                f"| no visit lost (recorded = published = stored) | {counts.recorded:,} / "
                f"{counts.published:,} / {counts.stored:,}, {counts.dropped} dropped | "
                f"{verdict(visits.no_loss)} |"
                if visits.processes == 1
                else f"| no visit lost (answered <= stored <= sent, {visits.processes} processes) | "
                f"{visits.answered:,} <= {counts.stored:,} <= {visits.sent:,} | {verdict(visits.no_loss)} |"
            ),
        ]
    )


@dataclass(frozen=True)
class Context:
    """Everything the section says besides the tables."""

    environment: Environment
    nginx: str
    load: Load
    rounds: int
    links: int
    workers: int
    analytics: str = "in-process"
    worker_priority: str = "idle"
    worker_cgroup: bool = False  # the worker ran in a cgroup with cpu.idle (servers.make_idle_cgroup)


def render_section(context: Context, peak: Row, half: Row, visits: Visits) -> str:
    load, environment = context.load, context.environment
    rounds = shared.render_rounds(context.rounds, "redirects/s")
    idle = context.worker_priority == "idle"
    niceness = servers.niceness(context.worker_priority)
    return "\n".join(
        [
            BEGIN,
            *environment.render_header("wrk runs on the same cores as the servers."),
            f"- scalebox: {environment.ours}; {environment.revision}. "
            + (
                "One app process (`scalebox shortener serve`"
                if context.workers == 1
                else f"{context.workers} app processes on one port "
                f"(`scalebox shortener serve --processes {context.workers}`"
            )
            + ": uvicorn, uvloop + httptools, cached redirects answered at the HTTP parser), SQLite "
            "in WAL mode on local disk, analytics on: every redirect buffers a visit, published in "
            "batches to the SQLite event log (fsynced) and stored by "
            + (
                "a `scalebox shortener worker` process beside the server, "
                + ("under SCHED_IDLE (`chrt --idle 0`)" if idle else f"at nice {niceness}")
                + (
                    " in a cgroup with `cpu.idle` set: it runs only on CPU the server and wrk leave"
                    if context.worker_cgroup
                    else f", its session's scheduling group at nice {niceness}"
                )
                + " (its CPU is not counted in the server's)"
                if context.analytics == "worker"
                else "the consumer inside the server's own process"
            )
            + "; create limit off, log level WARNING.",
            f"- nginx: {context.nginx} (Debian nginx-light), `worker_processes {context.workers}`, a "
            f"`map $uri $target` of the same {context.links:,} codes, `return 302 $target` with the "
            "same three headers ours sends, access log off, `keepalive_requests 1000000`.",
            f"- Load: {environment.wrk}, {load.threads} threads, {load.connections} connections, "
            f"{load.duration_s} s per run, a random code of the {context.links:,} per request, 8 browser "
            f"User-Agents in turn; before the runs, one GET of every code (checks each Location) and a "
            f"{load.warmup_s} s wrk warm-up on each server; servers alternated, {rounds}; loopback only. "
            "The half-rate runs pace wrk with `delay()` at half our median peak, the same rate for both"
            + (", and show each server's round with the median p99." if context.rounds > 1 else "."),
            "",
            render_peak(peak),
            "",
            render_half(half),
            "",
            render_visits(visits),
            "",
            render_targets(peak, half, visits),
            END,
        ]
    )


def write_section(docs: Path, section: str) -> None:
    """Replace the marked section of docs/benchmarks.md (or add a '## Shortener' section for it)."""
    shared.write_section(docs, section, begin=BEGIN, end=END, add=_add_with_heading)


def _add_with_heading(text: str, section: str) -> str:
    intro = "(The tables below are written by `bench/shortener/run.py`; the text after them is not.)"
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n{intro}\n\n{section}\n"
