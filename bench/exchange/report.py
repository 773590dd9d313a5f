"""The exchange benchmark's report: markdown tables for the engines and the FIX round trip, the
verdict against each target, and its section of docs/benchmarks.md (between markers, so the rest of
that file is left alone). The machine and versions: bench.common.report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import compiled
import liquibook_runner
from bench.common import report as shared
from bench.common.report import Environment
from engines import EngineReport
from fix_bench import FixReport, ServerRuns
from fix_client import RunResult
from fix_servers import quickfix_version
from measure import EngineResult

BEGIN = "<!-- bench:exchange:begin -->"
END = "<!-- bench:exchange:end -->"
HEADING = "## Exchange"
ENGINE_RATE_TARGET = 500_000  # operations per second, the engine alone
LIQUIBOOK_SHARE_TARGET = 0.20  # of liquibook's operations per second
FIX_RATIO_TARGET = 3.0  # our FIX gateway's orders/s over ordermatch's
OUR_DISTRIBUTIONS = ("scalebox", "uvloop", "orjson", "mypy")


@dataclass(frozen=True)
class Context:
    environment: Environment
    liquibook: str
    quickfix: str


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _spread(result: EngineResult) -> str:
    rates = [t.per_second for t in result.throughputs]
    if len(rates) < 2:
        return ""
    ordered = sorted(rates)
    middle = ordered[(len(ordered) - 1) // 2]
    return f" (±{(max(rates) - min(rates)) / middle * 50:.0f}%)" if middle else ""


def _gc(result: EngineResult) -> str:
    gc = result.median.gc
    if gc.mode == "off":
        return "off"
    return f"{sum(gc.collections):,} ({'/'.join(str(c) for c in gc.collections)}), {gc.pause_ms:,.0f} ms"


def render_engines(report: EngineReport) -> str:
    liquibook = report.liquibook.median.per_second
    lines = [
        "| engine | operations/s | per CPU-second | vs liquibook | p50 µs | p99 µs | p99.9 µs | "
        "GC collections (gen 0/1/2), pause |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in report.results:
        ratio = result.median.per_second / liquibook if liquibook else 0.0
        latency = result.latency
        name = f"**{result.name}**" if result is report.ours else result.name
        lines.append(
            f"| {name} | {_rate(result.median.per_second)}{_spread(result)} | "
            f"{_rate(result.median.per_cpu_second)} | {ratio:.0%} | {latency.p50_us:.2f} | "
            f"{latency.p99_us:.1f} | "
            f"{latency.p999_us:.1f} | {_gc(result)} |"
        )
    return "\n".join(lines)


def render_kinds(report: EngineReport) -> str:
    header = "| operation | " + " | ".join(f"{r.name} p50 / p99 µs" for r in report.results) + " |"
    lines = [header, "|---|" + "---:|" * len(report.results)]
    for kind in report.ours.latency.by_kind:
        cells = []
        for result in report.results:
            p50, p99, _ = result.latency.by_kind.get(kind, (0.0, 0.0, 0.0))
            cells.append(f"{p50:.2f} / {p99:.1f}")
        count = report.stream.counts.get(kind, 0)
        lines.append(f"| {kind} ({count / report.stream.operations:.1%}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_cross_check(report: EngineReport) -> str:
    names = [r.name for r in report.results]
    lines = ["| on the same stream | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    rows = (
        ("trades", "trades"),
        ("traded volume (shares)", "volume"),
        ("traded notional (ticks x shares)", "notional"),
        ("resting orders at the end", "resting_orders"),
        ("resting quantity at the end", "resting_quantity"),
        ("cancels refused", "cancel_rejects"),
        ("replaces refused", "replace_rejects"),
    )
    for title, attribute in rows:
        values = [getattr(r.outcome, attribute) for r in report.results]
        lines.append(f"| {title} | " + " | ".join(f"{v:,}" for v in values) + " |")
    verdict = (
        "identical, and equal to what the generator's shadow engine traded"
        if report.cross_check()
        else "**they differ**"
    )
    return "\n".join([*lines, "", f"Cross-check: {verdict}."])


def _fix_row(runs: ServerRuns, mode: str) -> str:
    result: RunResult = runs.median(mode)
    cpu = result.per_server_cpu_second
    spread = runs.spread(mode)
    rate = _rate(result.per_second) + (f" (±{spread * 50:.0f}%)" if spread else "")
    shape = (
        "1 outstanding" if mode == "latency" else f"{result.sessions} sessions x {result.window} outstanding"
    )
    return (
        f"| {runs.name} ({runs.begin_string}) | {shape} | {rate} | {'n/a' if cpu is None else _rate(cpu)} | "
        f"{result.percentile_us(0.5):,.0f} | {result.percentile_us(0.99):,.0f} | "
        f"{result.refused} / {result.timed_out} | {result.client_cpu_s / result.seconds:.0%} |"
    )


def render_fix(fix: FixReport) -> str:
    lines = [
        "| server | load | orders/s | per server CPU-second | p50 µs | p99 µs | refused / unanswered | "
        "client CPU (share of a core) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in ("latency", "throughput"):
        lines.append(_fix_row(fix.ordermatch, mode))
        if fix.ours is not None:
            lines.append(_fix_row(fix.ours, mode))
    if fix.ours is None:
        lines.append("| scalebox exchange (FIX.4.4) | both | not measured | | | | | |")
    else:
        for mode in ("latency", "throughput"):
            ratio = fix.ratio(mode)
            lines.append(f"| **ours / ordermatch, {mode}** | | **{ratio:.2f}x** | | | | | |")
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    if met is None:
        return "**not measured**"
    return "**PASS**" if met else "**MISS**"


def render_targets(report: EngineReport | None, fix: FixReport | None) -> str:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    if report is not None:
        ours = report.ours.median.per_second
        share = ours / report.liquibook.median.per_second if report.liquibook.median.per_second else 0.0
        theirs_cpu = report.liquibook.median.per_cpu_second
        cpu_share = report.ours.median.per_cpu_second / theirs_cpu if theirs_cpu else 0.0
        copy = report.compiled
        note = ""
        if copy is not None:
            compiled_rate = copy.median.per_second
            would = "would pass" if compiled_rate >= ENGINE_RATE_TARGET else "would miss too"
            note = f"; the mypyc-compiled copy: {_rate(compiled_rate)}/s ({would})"
        lines.append(
            f"| engine alone at least {ENGINE_RATE_TARGET:,} operations/s | {_rate(ours)}/s, "
            f"p50 {report.ours.latency.p50_us:.1f} µs, p99 {report.ours.latency.p99_us:.0f} µs{note} | "
            f"{_verdict(ours >= ENGINE_RATE_TARGET)} |"
        )
        lines.append(
            f"| engine at least {LIQUIBOOK_SHARE_TARGET:.0%} of liquibook's operations/s | {share:.0%} "
            f"({_rate(ours)} / {_rate(report.liquibook.median.per_second)}); per CPU-second "
            f"{cpu_share:.0%} | "
            f"{_verdict(share >= LIQUIBOOK_SHARE_TARGET)} |"
        )
    if fix is not None:
        ratio = fix.ratio("throughput")
        if ratio is None:
            theirs = _rate(fix.ordermatch.median("throughput").per_second)
            measured = f"ordermatch {theirs} orders/s; ours: not measured"
            lines.append(f"| FIX gateway at least {FIX_RATIO_TARGET:g}x ordermatch's orders/s | {measured} | "
                         f"{_verdict(None)} |")  # fmt: skip
        else:
            assert fix.ours is not None
            lines.append(
                f"| FIX gateway at least {FIX_RATIO_TARGET:g}x ordermatch's orders/s | {ratio:.2f}x "
                f"({_rate(fix.ours.median('throughput').per_second)} / "
                f"{_rate(fix.ordermatch.median('throughput').per_second)}, windowed); one outstanding: "
                f"{fix.ratio('latency') or 0:.2f}x | {_verdict(ratio >= FIX_RATIO_TARGET)} |"
            )
    return "\n".join(lines)


def render_section(context: Context, report: EngineReport | None, fix: FixReport | None) -> str:
    environment = context.environment
    parts = [
        BEGIN,
        *environment.render_header(
            "The engines run one after another (liquibook and ours in the harness's process, the mypyc "
            "copy in a child process); the FIX client shares the two cores with the servers."
        ),
        f"- scalebox: {environment.ours}; {environment.revision}.",
    ]
    if report is not None:
        parts += _engine_text(context, report)
    if fix is not None:
        parts += _fix_text(context, fix)
    parts += ["", render_targets(report, fix), END]
    return "\n".join(parts)


def _engine_text(context: Context, report: EngineReport) -> list[str]:
    stream = report.stream
    shares = ", ".join(f"{kind} {count / stream.operations:.1%}" for kind, count in stream.counts.items())
    marketable = stream.counts.get("marketable IOC limit", 0) + stream.counts.get("market (IOC)", 0)
    lines = [
        f"- liquibook: {context.liquibook} from PyPI (the C++ engine behind its SWIG wrapper): its plain "
        "`OrderBook<shared_ptr<SimpleOrder>>` (no depth aggregation, as ours aggregates none) with a Python "
        "`OrderListener` doing what liquibook's C++ `SimpleOrderBook` does per callback (accept, fill both "
        "orders, cancel, replace the `SimpleOrder`) and counting fills. Its `DepthOrderBook` is not used: "
        "on this stream its 5-level depth tracker throws once per run inside a fill callback (that fill "
        "never reaches the listener) and then on every later buy filled in full on arrival (about 100,000 "
        "C++ exceptions per million operations).",
        f"- Stream (`bench/exchange/mix.py`, seed {stream.seed}): {stream.operations:,} operations after "
        f"{stream.setup:,} resting set-up orders (applied untimed): {shares}. One instrument, prices in "
        "ticks around a mean-reverting fair value, most adds within a few ticks of the touch; cancels "
        "and replaces target live orders (generated against a shadow run of our engine), replaces "
        "always re-price. The book held "
        f"{stream.book_min:,}-{stream.book_max:,} live orders (mean {stream.book_mean:,.0f}) on "
        f"{stream.levels_min}-{stream.levels_max} price levels; {stream.trades:,} trades, "
        f"{stream.trades / marketable if marketable else 0:.1f} per marketable order. Buyers and sellers "
        "are different participants, so self-trade prevention (which liquibook lacks) never acts.",
        f"- Passes: {report.rounds} throughput round{'s' if report.rounds != 1 else ''} per engine, "
        "alternated (who goes first rotates), "
        "the median round shown (± is half the max-min spread); each pass builds fresh command objects "
        "first and times only the loop of calls. GC "
        + (
            "on with default thresholds, the pre-built input frozen (`gc.freeze()`) so collections scan "
            "only what the engine allocates"
            if report.gc_mode == "on"
            else "disabled (`gc.disable()`) during the passes"
        )
        + ". Latency comes from a separate pass per engine timing each call with "
        f"`time.perf_counter_ns()` (about {report.ours.latency.timer_overhead_ns:.0f} ns of timer cost "
        "is included in every figure). Operations/s is over the whole stream: cancels and replaces count "
        "as operations as adds do.",
    ]
    if report.compiled_build is not None:
        build = report.compiled_build
        lines.append(
            f'- mypyc copy: mypy {build.mypy}, `mypycify(opt_level="3")` of '
            f"{', '.join(compiled.MODULES)} copied unchanged from src/ into a temporary directory "
            + ("(a cached build of the same source)" if build.reused else f"(built in {build.seconds:.0f} s)")
            + "; its passes run in a child process that imports the compiled modules."
        )
    lines += ["", render_engines(report), "", render_kinds(report), "", render_cross_check(report)]
    if report.compiled_failure:
        lines += [
            "",
            "mypyc refused to compile the engine's source:",
            "",
            "```",
            report.compiled_failure,
            "```",
        ]
    return lines


def _fix_text(context: Context, fix: FixReport) -> list[str]:
    settings = fix.settings
    lines = [
        "",
        f"- QuickFIX: `ordermatch` from Debian libquickfix-doc with libquickfix17 {context.quickfix}, an "
        "acceptor with one FIX.4.2 session per client, the FIX42 data dictionary from the "
        f"`quickfix` sdist on PyPI ({fix.dictionary or 'quickfix'}; validation on), screen log off, its "
        "FileStore on local disk (it flushes every message to the OS, no fsync); only DAY limit orders.",
        "- scalebox: `scalebox exchange serve`, FIX 4.4, journal fsynced in group commits before any "
        "execution report, per-session order rate limit raised out of the way."
        if fix.ours is not None
        else f"- scalebox: **not measured**: {fix.ours_missing}.",
        f"- Client: `bench/exchange/fix_client.py` ({fix.event_loop}), the same for both servers, on "
        "127.0.0.1: NewOrderSingle (DAY limits near the touch; 15% priced through the spread, which "
        "trade) to the first ExecutionReport naming its ClOrdID. One outstanding: "
        f"{settings.latency_orders:,} orders after 200 unmeasured, a buying and a selling session in "
        f"turn. Windowed: {settings.sessions} sessions (half buying, half selling) with {settings.window} "
        f"orders outstanding each, {settings.duration_s:g} s measured after {settings.warmup_s:g} s. "
        f"Servers alternated, {shared.render_rounds(settings.rounds, 'orders/s')}.",
        "",
        render_fix(fix),
    ]
    return lines


def write_section(docs: Path, section: str) -> None:
    shared.write_section(docs, section, begin=BEGIN, end=END, add=_add_with_heading)


def _add_with_heading(text: str, section: str) -> str:
    intro = "(The tables below are written by `bench/exchange/run.py`; the text after them is not.)"
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n{intro}\n\n{section}\n"


def versions() -> tuple[str, str]:
    return liquibook_runner.version(), quickfix_version()
