"""scalebox's shortener against nginx serving the same redirects from a static map, in one run, same wrk.

    .venv/bin/python bench/shortener/run.py            # full run; writes docs/benchmarks.md
    .venv/bin/python bench/shortener/run.py --quick    # 3 s runs, 1,000 links: smoke test; writes nothing

Seeds links through our Shlink REST API, gives nginx a `map` of the same codes, then measures peak
redirects/s and p50/p99 (unpaced), latency at half of our peak rate (paced, same rate for both), and
checks that every visit our server recorded was published and stored. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

# Run as a script, Python puts only this folder on sys.path: the repo root makes bench.common importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import client
import load as loadgen
import report
from bench.common import options, processes, spy
from bench.common import wrk as wrk_runs
from bench.common.processes import Server
from bench.common.report import describe_environment, note_before
from bench.common.wrk import Load
from load import Result
from report import Context, Row, Visits

import servers

DOCS = servers.REPO / "docs" / "benchmarks.md"
# Libraries of ours beyond the web stack, named in the profile's by-package view.
PROFILED_PACKAGES = ("ua_parser", "cachetools")


@dataclass
class Target:
    """A server under test and its results by case ("peak", "half")."""

    server: Server
    results: dict[str, list[Result]] = field(default_factory=dict)


@dataclass
class Tally:
    """Requests our server was sent and answered, to hold against the visits it recorded."""

    answered: int = 0
    sent: int = 0

    def add(self, result: Result) -> None:
        self.answered += result.ok
        self.sent += result.sent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 s runs, 1 s warm-up, 1,000 links; writes no docs"
    )
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, help="seconds of wrk warm-up per server (default 5, quick 1)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every run; the median round is shown")
    parser.add_argument("--links", type=int, help="links seeded and requested (default 10,000, quick 1,000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="nginx worker_processes and our serving processes (`serve --processes`), the same (default 1)",
    )
    parser.add_argument(
        "--analytics",
        choices=("worker", "in-process"),
        default="worker",
        help="where the analytics consumer runs: a `scalebox shortener worker` process beside the server "
        "(default, at --worker-priority) or inside the server's own event loop",
    )
    parser.add_argument(
        "--worker-priority",
        type=servers.worker_priority,
        default="idle",
        help="the analytics worker's CPU priority: `idle` (SCHED_IDLE, `chrt --idle 0`: it runs only on "
        "CPU nothing else wants; the default) or `nice:N` (`nice -n N`)",
    )
    parser.add_argument(
        "--visits-timeout", type=float, default=300.0, help="seconds to wait for every visit to be stored"
    )
    options.add_output_options(
        parser,
        py_spy_help="profile our server with this py-spy binary (peak, round 1)",
        write_flags=("--write", "--write-docs"),
    )
    args = parser.parse_args(argv)
    options.settle_write(args)
    if args.links is None:
        args.links = 1000 if args.quick else 10_000
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load = options.load_from(args, warmup_s=5)
    wrk = wrk_runs.find_wrk()
    nginx = servers.find_nginx()
    processes.stop_on_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="scalebox-bench-shortener-"))
    started: list[Server] = []
    before = note_before(servers.REPO)  # before the server starts: the code it runs
    separate_worker = args.analytics == "worker"
    cgroup = (
        servers.make_idle_cgroup(f"scalebox-bench-{os.getpid()}")
        if separate_worker and args.worker_priority == "idle"
        else None
    )
    try:
        api_key = servers.make_api_key(work_dir)
        started.append(
            servers.start_ours(work_dir, separate_worker=separate_worker, serving_processes=args.workers)
        )
        servers.wait_ready(started[0])
        ours = Target(started[0])
        worker = servers.start_worker(work_dir, args.worker_priority, cgroup) if separate_worker else None
        if worker is not None:
            started.append(worker)
        seeding = time.monotonic()
        links = client.seed(ours.server, api_key, args.links)
        print(f"scalebox: {len(links):,} links created in {time.monotonic() - seeding:.0f} s", flush=True)
        started.append(servers.start_nginx(nginx, work_dir, links, args.workers))
        servers.wait_ready(started[-1])
        theirs = Target(started[-1])
        paths, agents = work_dir / "paths.txt", work_dir / "agents.txt"
        paths.write_text("".join(f"/{code}\n" for code, _ in links))
        agents.write_text("".join(f"{agent}\n" for agent in client.USER_AGENTS))
        bench = Bench(wrk, load, args, ours, theirs, paths, agents, Tally(), worker)
        _warm_up(bench, links)
        _run_cases(bench)
        visits = _visits(bench, api_key, work_dir)
        peak, half = _row(bench, "peak"), _row(bench, "half")
        tables = "\n\n".join(
            [
                report.render_peak(peak),
                report.render_half(half),
                report.render_visits(visits),
                report.render_targets(peak, half, visits),
            ]
        )
        print(f"\n{tables}\n")
        if args.write:
            environment = describe_environment(
                before,
                script="bench/shortener/run.py",
                argv=argv,
                distributions=report.OUR_DISTRIBUTIONS,
                wrk=wrk_runs.wrk_version(wrk),
            )
            context = Context(
                environment=environment,
                nginx=servers.nginx_version(nginx),
                load=load,
                rounds=args.rounds,
                links=len(links),
                workers=args.workers,
                analytics=args.analytics,
                worker_priority=args.worker_priority,
                worker_cgroup=cgroup is not None,
            )
            report.write_section(DOCS, report.render_section(context, peak, half, visits))
            print(f"wrote the Shortener section of {DOCS.relative_to(servers.REPO)}")
        return 0
    finally:
        processes.clean_up(started, work_dir, keep=args.keep)
        if cgroup is not None:
            servers.remove_cgroup(cgroup)


@dataclass(frozen=True)
class Bench:
    """What every run needs: the load generator, its shape, the options and both servers."""

    wrk: str
    load: Load
    args: argparse.Namespace
    ours: Target
    theirs: Target
    paths: Path  # "/<code>" a line, the same for both servers
    agents: Path  # User-Agent strings
    tally: Tally  # what our server was sent
    worker: Server | None = None  # the analytics worker, when it runs apart


def _warm_up(bench: Bench, links: list[tuple[str, str]]) -> None:
    """One GET of every code on each server (checking each answer), then a short wrk run on each."""
    for target in (bench.ours, bench.theirs):
        swept = client.sweep(target.server, links)
        name = target.server.name
        print(
            f"{name}: every code once in {swept.seconds:.0f} s: statuses {dict(swept.statuses)}, "
            f"{swept.wrong_location} redirected elsewhere",
            flush=True,
        )
        if swept.redirects != len(links) or swept.wrong_location:
            raise RuntimeError(f"{name} did not redirect every code to its long URL")
        if target is bench.ours:
            bench.tally.answered += swept.redirects
            bench.tally.sent += len(links)
    for target in (bench.ours, bench.theirs):
        if bench.load.warmup_s:
            _wait_idle_all(bench)
            result = _wrk(bench, target, bench.load.warmup_s)
            print(f"{target.server.name}: warm-up {result.ok_per_second:,.0f} redirects/s", flush=True)


def _wrk(bench: Bench, target: Target, duration_s: int, rate: float = 0.0) -> Result:
    result = loadgen.run_wrk(
        bench.wrk,
        target.server.base_url,
        bench.load,
        duration_s=duration_s,
        paths_file=bench.paths,
        agents_file=bench.agents,
        rate=rate,
    )
    if result.requests == 0:
        name, log = target.server.name, target.server.log_tail()
        raise RuntimeError(f"{name} answered nothing in {duration_s} s:\n{log}")
    if target is bench.ours:
        bench.tally.add(result)
    return result


def _wait_idle_all(bench: Bench) -> None:
    for target in (bench.ours, bench.theirs):  # neither may still be busy with the last run's work
        processes.wait_idle(target.server)
    if bench.worker is not None:  # nor may the analytics worker, still storing the last run's visits
        processes.wait_idle(bench.worker)


def _run_cases(bench: Bench) -> None:
    """Every round of the peak runs, then every round of the half-rate runs at half our median peak."""
    ours, theirs = bench.ours, bench.theirs
    for case in ("peak", "half"):
        rate = 0.0
        if case == "half":
            rate = loadgen.median_result(ours.results["peak"]).ok_per_second / 2
        for round_number in range(1, bench.args.rounds + 1):
            # Alternate who goes first, so drift in the machine's load does not favour one side.
            order = (ours, theirs) if (round_number + (case == "half")) % 2 else (theirs, ours)
            for target in order:
                _wait_idle_all(bench)
                result = _run(bench, target, case, round_number, rate)
                target.results.setdefault(case, []).append(result)
                print(_progress(round_number, case, target, result), flush=True)


def _run(bench: Bench, target: Target, case: str, round_number: int, rate: float) -> Result:
    """Measure one run, then time how long the server stays busy afterwards and the CPU it used."""
    py_spy = bench.args.py_spy
    profile = py_spy is not None and target is bench.ours and case == "peak" and round_number == 1
    collapsed = bench.args.profile_dir / "shortener-peak.txt"
    if profile:
        bench.args.profile_dir.mkdir(parents=True, exist_ok=True)
        recorder = spy.start(py_spy, target.server.process.pid, collapsed)
    try:
        loads_before = _database_loads(bench, target)
        refreshed_before = _refreshed(bench, target)
        cpu_before = processes.group_cpu_seconds(target.server.process.pid)
        stolen_before = processes.stolen_cpu_seconds()
        result = _wrk(bench, target, bench.load.duration_s, rate)
        stolen = processes.stolen_cpu_seconds() - stolen_before
        steal = stolen / (result.duration_s * (os.cpu_count() or 1)) if result.duration_s else 0.0
        drain_s = processes.wait_idle(target.server)
        cpu_s = processes.group_cpu_seconds(target.server.process.pid) - cpu_before
        loads = _difference(loads_before, _database_loads(bench, target))
        refreshed = _difference(refreshed_before, _refreshed(bench, target))
        result = replace(result, drain_s=drain_s, cpu_s=cpu_s, loads=loads, refreshed=refreshed, steal=steal)
    finally:
        if profile:
            spy.finish(recorder, timeout_s=30)
    if profile and collapsed.exists():
        print(f"\nprofile of scalebox, peak ({collapsed}):\n{spy.summarise(collapsed, PROFILED_PACKAGES)}\n")
    return result


def _database_loads(bench: Bench, target: Target) -> int | None:
    """Links our server has read from the database on a miss so far: a run should need none (the
    sweep filled the LRU). Entries live `cache_seconds` (300 s) from when they were cached; those read
    in the last quarter of that are refreshed ahead (`_refreshed`), the others are read here again."""
    return _our_counter(bench, target, 'shortener_link_lookups_total{tier="database"}')


def _refreshed(bench: Bench, target: Target) -> int | None:
    """Cached links our server has reloaded ahead of expiry so far, in batches, off the request path."""
    return _our_counter(bench, target, "shortener_links_refreshed_total")


def _our_counter(bench: Bench, target: Target, name: str) -> int | None:
    if target is not bench.ours:
        return None
    value = client.metrics(target.server).get(name)
    return None if value is None else int(value)


def _difference(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _progress(round_number: int, case: str, target: Target, result: Result) -> str:
    rate = result.ok_per_second
    asked = (
        f" (asked {result.target_rate:,.0f}, {result.late / max(result.sent, 1):.1%} late)"
        if case == "half"
        else ""
    )
    return (
        f"round {round_number} {case:<4} {target.server.name:<8} {rate:8,.0f} redirects/s{asked}  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  errors {result.errors}  "
        f"busy after {result.drain_s:4.1f} s  {result.per_cpu_second:7,.0f} per CPU-s  "
        f"steal {result.steal:.0%}"
        + ("" if result.loads is None else f"  {result.loads} links read from the database")
        + ("" if result.refreshed is None else f", {result.refreshed} refreshed ahead")
    )


def _visits(bench: Bench, api_key: str, work_dir: Path) -> Visits:
    ours = bench.ours.server
    several = bench.args.workers > 1  # then /metrics answers for one of our processes at a time
    counts, waited = client.wait_stored(
        ours, api_key, bench.args.visits_timeout, answered=bench.tally.answered if several else 0
    )
    print(f"visits: {counts} after {waited:.1f} s", flush=True)
    return Visits(
        answered=bench.tally.answered,
        sent=bench.tally.sent,
        counts=counts,
        stored_cli=servers.stored_visits_cli(work_dir),
        waited_s=waited,
        processes=bench.args.workers,
    )


def _row(bench: Bench, case: str) -> Row:
    return Row(case, tuple(bench.ours.results[case]), tuple(bench.theirs.results[case]))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted; both servers stopped", file=sys.stderr)
        sys.exit(130)
