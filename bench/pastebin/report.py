"""The pastebin benchmark's report: the markdown table and its section of docs/benchmarks.md (between
markers, so the rest of that file is left alone). The machine and versions: bench.common.report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.common import report as shared
from bench.common.report import Environment
from bench.common.wrk import Load
from load import Result, rate_of

BEGIN = "<!-- bench:pastebin:begin -->"
END = "<!-- bench:pastebin:end -->"
HEADING = "## Pastebin"
# Whose versions the section names, in this order.
OUR_DISTRIBUTIONS = (
    "scalebox",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "SQLAlchemy",
    "aiosqlite",
)


@dataclass(frozen=True)
class Case:
    """One workload, run against both servers."""

    key: str
    title: str
    target_ratio: float  # the bar for ours/pinnwand
    sustained: bool = False  # rate over the run plus the server's busy time after it


@dataclass(frozen=True)
class Row:
    case: Case
    ours: Result | None  # None: the case could not run on this server (see note)
    theirs: Result | None
    note: str = ""
    spread_ours: float = 0.0
    spread_theirs: float = 0.0
    per_cpu_ours: float | None = None  # median over rounds of answers per server CPU-second
    per_cpu_theirs: float | None = None

    def rate(self, result: Result) -> float:
        return rate_of(result, self.case.sustained)

    @property
    def cpu_ratio(self) -> float | None:
        if self.per_cpu_ours is None or not self.per_cpu_theirs:
            return None
        return self.per_cpu_ours / self.per_cpu_theirs

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or not self.rate(self.theirs):
            return None
        return self.rate(self.ours) / self.rate(self.theirs)


def render_table(rows: list[Row]) -> str:
    header = (
        "| case | scalebox req/s | pinnwand req/s | ours/pinnwand | target | "
        "per server CPU-second: scalebox / pinnwand (ratio) | "
        "scalebox p50 / p99 ms | pinnwand p50 / p99 ms | errors (ours / pinnwand) |\n"
        "|---|---:|---:|---:|---|---:|---:|---:|---:|"
    )
    lines = [header]
    for row in rows:
        ratio = row.ratio
        ratio_text = "n/a" if ratio is None else f"**{ratio:.2f}x**"
        verdict = "n/a" if ratio is None else ("met" if ratio >= row.case.target_ratio else "missed")
        cpu_ratio = row.cpu_ratio
        cpu_text = "n/a" if cpu_ratio is None else f"{cpu_ratio:.2f}x"
        lines.append(
            f"| {row.case.title} | {_rate(row, row.ours, row.spread_ours)} | "
            f"{_rate(row, row.theirs, row.spread_theirs)} | {ratio_text} | "
            f">= {row.case.target_ratio:g}x: {verdict} | "
            f"{_count(row.per_cpu_ours)} / {_count(row.per_cpu_theirs)} ({cpu_text}) | "
            f"{_latency(row.ours)} | {_latency(row.theirs)} | {_errors(row.ours)} / {_errors(row.theirs)} |"
        )
    notes = [f"- {row.case.title}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _rate(row: Row, result: Result | None, spread: float) -> str:
    if result is None:
        return "n/a"
    text = f"{row.rate(result):,.0f}"
    return f"{text} (±{spread * 50:.0f}%)" if spread else text


def _latency(result: Result | None) -> str:
    return "n/a" if result is None else f"{result.p50_ms:.1f} / {result.p99_ms:.1f}"


def _errors(result: Result | None) -> str:
    return "n/a" if result is None else str(result.errors)


@dataclass(frozen=True)
class Context:
    """Everything the section says besides the table."""

    environment: Environment
    theirs: str
    load: Load
    rounds: int
    pastes: int


def render_section(context: Context, table: str) -> str:
    load, environment = context.load, context.environment
    rounds = shared.render_rounds(context.rounds, "req/s")
    return "\n".join(
        [
            BEGIN,
            *environment.render_header(),
            f"- scalebox: {environment.ours}; {environment.revision}. One app process (uvicorn, uvloop + "
            "httptools), SQLite in WAL mode and blobs on local disk, in-process caches, background "
            "workers on; read and create rate limits off (`=0`), request logging off.",
            f"- pinnwand: {context.theirs}. One app process (`pinnwand --configuration-path cfg.toml http`, "
            "tornado), SQLite file on local disk, rate limits raised to 10^9 tokens.",
            f"- Load: {environment.wrk}, {load.threads} threads, {load.connections} connections, "
            f"{load.duration_s} s per case after a {load.warmup_s} s warm-up, every read round before any "
            f"create, servers alternated case by case, {rounds}; loopback only. Reads cycle through "
            f"{context.pastes} pastes of about 2 KiB of Python created through each server's "
            "`POST /api/v1/paste`; creates post distinct "
            "2 KiB Python files (`lexer: python`, `expiry: 1day`), so content dedup does not help.",
            "",
            table,
            END,
        ]
    )


def write_section(docs: Path, section: str) -> None:
    """Replace the marked section of docs/benchmarks.md (or append it under '## Pastebin')."""
    shared.write_section(docs, section, begin=BEGIN, end=END, add=_add_under_heading)


def _add_under_heading(text: str, section: str) -> str:
    if HEADING in text:
        return text.replace(HEADING, f"{HEADING}\n\n{section}", 1)
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n{section}\n"
