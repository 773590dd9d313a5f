"""Part 2: the FIX round trip. Both servers run side by side; the same client (fix_client.py) drives
them in turn, round by round (who goes first alternates): one order outstanding at a time for
latency, then K sessions with W outstanding each for throughput. Each run also reads the server's
CPU time over its measured part, so orders per server CPU-second can be compared too."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import fix_client
import fix_servers
from bench.common import processes
from bench.common.processes import Server
from fix_client import OrderMix, RunResult


@dataclass(frozen=True)
class FixSettings:
    latency_orders: int
    sessions: int  # throughput sessions (half buy, half sell)
    window: int  # outstanding orders per session
    duration_s: float
    warmup_s: float
    rounds: int


@dataclass
class ServerRuns:
    name: str
    detail: str  # version and setup, for the report
    begin_string: str
    latency: list[RunResult] = field(default_factory=list)
    throughput: list[RunResult] = field(default_factory=list)

    def median(self, mode: str) -> RunResult:
        runs = self.latency if mode == "latency" else self.throughput
        ranked = sorted(runs, key=lambda r: r.per_second)
        return ranked[(len(ranked) - 1) // 2]

    def spread(self, mode: str) -> float:
        rates = [r.per_second for r in (self.latency if mode == "latency" else self.throughput)]
        if len(rates) < 2:
            return 0.0
        middle = statistics.median(rates)
        return (max(rates) - min(rates)) / middle if middle else 0.0


@dataclass
class FixReport:
    settings: FixSettings
    ordermatch: ServerRuns
    ours: ServerRuns | None = None
    ours_missing: str = ""  # why there is no scalebox row (the gateway is not there yet)
    ours_wiring: str = ""  # "app": `scalebox exchange serve`
    event_loop: str = ""
    dictionary: str = ""

    def ratio(self, mode: str) -> float | None:
        if self.ours is None:
            return None
        theirs = self.ordermatch.median(mode).per_second
        return self.ours.median(mode).per_second / theirs if theirs else None


def _senders(count: int) -> list[str]:
    """B0, S0, B1, S1, ...: buyers and sellers in turn (the client's sessions alternate sides)."""
    return [f"{'B' if i % 2 == 0 else 'S'}{i // 2}" for i in range(count)]


@dataclass
class _Target:
    runs: ServerRuns
    server: Server
    comp_id: str
    password: str


def run(settings: FixSettings, *, keep: bool = False) -> FixReport:
    work_dir = Path(tempfile.mkdtemp(prefix="scalebox-bench-exchange-fix-"))
    senders = _senders(max(2, settings.sessions))
    started: list[Server] = []
    report = FixReport(
        settings,
        ServerRuns("QuickFIX ordermatch", f"libquickfix {fix_servers.quickfix_version()}", "FIX.4.2"),
        event_loop=fix_client.event_loop_name(),
    )
    try:
        ordermatch = fix_servers.start_ordermatch(work_dir, senders)
        started.append(ordermatch)
        report.dictionary = fix_servers.dictionary_source()
        targets = [_Target(report.ordermatch, ordermatch, fix_servers.ORDERMATCH_COMP_ID, "")]
        try:
            ours, report.ours_wiring = fix_servers.start_ours(work_dir, senders)
            started.append(ours)
            report.ours = ServerRuns("scalebox exchange", report.ours_wiring, "FIX.4.4")
            targets.append(_Target(report.ours, ours, fix_servers.OUR_COMP_ID, fix_servers.PASSWORD))
        except fix_servers.GatewayMissingError as missing:
            report.ours_missing = str(missing)
            print(f"scalebox: no FIX gateway to measure yet: {missing}", flush=True)
        mix = OrderMix()
        for mode in ("latency", "throughput"):
            for round_number in range(settings.rounds):
                order = targets if round_number % 2 == 0 else list(reversed(targets))
                for target in order:
                    processes.wait_idle(target.server, busy_max=0.1)
                    result = _run_one(target, mode, settings, senders, mix)
                    (target.runs.latency if mode == "latency" else target.runs.throughput).append(result)
                    print(_progress(round_number + 1, target.runs.name, result), flush=True)
        return report
    finally:
        processes.clean_up(started, work_dir, keep=keep)


def _run_one(
    target: _Target, mode: str, settings: FixSettings, senders: list[str], mix: OrderMix
) -> RunResult:
    try:
        result = _drive(target, mode, settings, senders, mix)
    except (OSError, TimeoutError) as exc:
        raise RuntimeError(f"{target.runs.name}: {exc!r}\n{_state(target.server)}") from exc
    if result.timed_out:
        print(
            f"{target.runs.name}: {result.timed_out} orders unanswered\n{_state(target.server)}", flush=True
        )
    return result


def _state(server: Server) -> str:
    status = "running" if server.process.poll() is None else f"exited with {server.process.returncode}"
    return f"{server.name} is {status}; its log ends:\n{server.log_tail(40)}"


def _drive(target: _Target, mode: str, settings: FixSettings, senders: list[str], mix: OrderMix) -> RunResult:
    begin = target.runs.begin_string
    pid = target.server.process.pid

    def probe() -> float:
        return processes.group_cpu_seconds(pid)

    if mode == "latency":
        specs = fix_client.pair_specs(begin, target.comp_id, senders[:2], target.password)
        result: RunResult = fix_client.run(
            fix_client.run_latency(
                target.server.port, specs, orders=settings.latency_orders, mix=mix, cpu_probe=probe
            )
        )
    else:
        specs = fix_client.pair_specs(begin, target.comp_id, senders[: settings.sessions], target.password)
        result = fix_client.run(
            fix_client.run_throughput(
                target.server.port,
                specs,
                window=settings.window,
                duration_s=settings.duration_s,
                warmup_s=settings.warmup_s,
                mix=mix,
                cpu_probe=probe,
            )
        )
    if result.orders == 0:
        raise RuntimeError(f"{target.runs.name} answered no order:\n{_state(target.server)}")
    return result


def _progress(round_number: int, name: str, result: RunResult) -> str:
    cpu = result.per_server_cpu_second
    return (
        f"round {round_number} {result.mode:<10} {name:<20} {result.per_second:>9,.0f} orders/s  "
        f"p50 {result.percentile_us(0.5):>8,.0f} us  p99 {result.percentile_us(0.99):>8,.0f} us  "
        f"{'n/a' if cpu is None else f'{cpu:,.0f}'} per server CPU-s  "
        f"client CPU {result.client_cpu_s:.1f} s  "
        f"refused {result.refused}  unanswered {result.timed_out}  first reports {result.exec_types}"
    )
