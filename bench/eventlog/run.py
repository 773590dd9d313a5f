"""scalebox's event log broker against Tansu (Kafka protocol, same confluent-kafka client) and Redis
Streams, side by side in one run.

    .venv/bin/python bench/eventlog/run.py --write-docs   # full run; writes docs/benchmarks.md
    .venv/bin/python bench/eventlog/run.py --quick        # 1 s runs, small counts: smoke test (< 60 s)
    .venv/bin/python bench/eventlog/run.py --only produce --profile-dir /tmp/prof   # py-spy of ours

Measures produce records/s and MB/s (100 B and 1 KiB values, 1 and 4 partitions, acks=all, linger.ms
5), end-to-end latency at a paced 10,000 records/s of 1 KiB, and a consumer reading back records from
the start; prints a table per phase with the ratio ours / Tansu, the targets as PASS / MISS, and writes
the results as JSON. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# Run as a script, Python puts only this folder on sys.path: the repo root makes bench.common importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import cases
import report
import resp
from bench.common import options, processes
from bench.common.processes import Server
from bench.common.report import Before, describe_environment, note_before
from cases import Bench, Settings
from report import Context

import servers
from servers import System

DOCS = servers.REPO / "docs" / "benchmarks.md"
PHASES = ("produce", "latency", "consume")
TANSU_DEFAULT_ENGINE = "memory://tansu/"
PY_SPY_FALLBACK = Path("/tmp/py-spy/bin/py-spy")  # a throwaway venv, never the project's


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 s produce runs, 2 s of latency, 50,000 records to consume, three produce cases: a smoke "
        "test (under a minute); writes nothing",
    )
    parser.add_argument("--only", action="append", choices=PHASES, help="run only this phase (repeatable)")
    parser.add_argument("--duration", type=float, help="seconds measured per produce run (10; quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each (2; quick 0.2)")
    parser.add_argument("--latency-duration", type=float, help="seconds of paced load measured (10; quick 2)")
    parser.add_argument("--latency-rate", type=int, default=10_000, help="records/s of the latency phase")
    parser.add_argument(
        "--fetch-wait-max-ms",
        type=int,
        help="the Kafka consumers' fetch.wait.max.ms (default: librdkafka's, 500). A broker that answers a "
        "waiting fetch only when this runs out, not when records arrive, shows it as latency",
    )
    parser.add_argument("--consume-records", type=int, help="records read back (1,000,000; quick 50,000)")
    parser.add_argument("--linger-ms", type=int, default=5, help="the producer's linger.ms")
    parser.add_argument(
        "--latency-linger-ms", type=int, help="the paced producer's linger.ms (default: --linger-ms)"
    )
    parser.add_argument("--batch-bytes", type=int, default=1_000_000, help="the producer's batch.size")
    parser.add_argument(
        "--tansu-storage-engine",
        default=TANSU_DEFAULT_ENGINE,
        help="Tansu's --storage-engine (this build: memory:// or s3://, with AWS_* variables for the latter)",
    )
    parser.add_argument("--no-tansu", dest="tansu", action="store_false", help="leave Tansu out")
    parser.add_argument("--no-redis", dest="redis", action="store_false", help="leave Redis out")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path(tempfile.gettempdir()) / "scalebox-bench-eventlog.json",
        help="where the results go as JSON (default: %(default)s)",
    )
    parser.add_argument("--work-dir", type=Path, help="where the temporary directory goes (its disk is ours)")
    options.add_output_options(
        parser,
        py_spy_help="profile our broker with this py-spy binary during the 1 KiB, 1 partition produce run "
        "(--profile-dir alone finds py-spy on PATH or in /tmp/py-spy)",
        write_flags=("--write-docs", "--write"),
    )
    args = parser.parse_args(argv)
    if args.write and (args.quick or args.only):
        parser.error("--write-docs records a full run: not with --quick or --only")
    args.write = bool(args.write)  # only --write-docs writes
    args.profile_asked = any(arg == "--profile-dir" or arg.startswith("--profile-dir=") for arg in argv)
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick

    def pick(value: float | None, full: float, small: float) -> float:
        return value if value is not None else (small if quick else full)

    produce_cases = ((100, 1), (1024, 1), (1024, 4)) if quick else ((100, 1), (100, 4), (1024, 1), (1024, 4))
    return Settings(
        quick=quick,
        duration_s=pick(args.duration, 10, 1.0),
        warmup_s=pick(args.warmup, 2, 0.2),
        latency_duration_s=pick(args.latency_duration, 10, 2),
        latency_warmup_s=1.0 if not quick else 0.5,
        fetch_wait_max_ms=args.fetch_wait_max_ms,
        produce_cases=produce_cases,
        linger_ms=args.linger_ms,
        batch_bytes=args.batch_bytes,
        latency_rate=args.latency_rate,
        latency_linger_ms=args.linger_ms if args.latency_linger_ms is None else args.latency_linger_ms,
        latency_value_bytes=1024,
        consume_records=int(pick(args.consume_records, 1_000_000, 50_000)),
        consume_value_bytes=1024,
        redis_pipeline=1000,
        redis_in_flight=2,
        idle_window_s=0.2 if quick else 0.5,
    )


def find_py_spy(args: argparse.Namespace) -> Path | None:
    """--py-spy, or with --profile-dir alone: py-spy on PATH or in /tmp/py-spy."""
    if args.py_spy is not None:
        given: Path = args.py_spy
        return given
    if not args.profile_asked:
        return None
    found = shutil.which("py-spy")
    if found:
        return Path(found)
    if PY_SPY_FALLBACK.exists():
        return PY_SPY_FALLBACK
    print(
        "py-spy not found: no profile. Install it apart from the project, e.g. "
        "`python3 -m venv /tmp/py-spy && /tmp/py-spy/bin/pip install py-spy`",
        file=sys.stderr,
    )
    return None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = tuple(args.only or PHASES)
    settings = settings_from(args)
    redis_server = servers.find_redis() if args.redis else ""
    py_spy = find_py_spy(args)
    processes.stop_on_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="scalebox-bench-eventlog-", dir=args.work_dir))
    systems: list[System] = []
    before = note_before(servers.REPO)  # before the broker starts: the code it runs
    try:
        systems.append(servers.start_ours(work_dir))
        if args.tansu:
            systems.append(servers.start_tansu(work_dir, args.tansu_storage_engine))
        if args.redis:
            systems.append(servers.start_redis(work_dir, redis_server))
        for system in systems:
            waited = servers.wait_ready(system)
            print(f"{system.label}: accepting connections on port {system.server.port} after {waited:.1f} s")
        bench = Bench(args, settings, systems, work_dir, py_spy)
        if "produce" in selected:
            cases.run_produce(bench)
        if "latency" in selected:
            cases.run_latency(bench)
        if "consume" in selected:
            cases.run_consume(bench)
        results = bench.results
        found = report.targets(results)
        print(f"\n{report.render_tables(results, systems, settings)}\n")
        if found:
            print(report.render_target_lines(found))
            if args.quick:
                print("(--quick: runs too short to hold against the targets)")
        environment = describe_environment(
            before,
            script="bench/eventlog/run.py",
            argv=argv,
            distributions=report.OUR_DISTRIBUTIONS,
            wrk="",
        )
        report.write_json(
            args.json,
            results,
            systems,
            settings,
            {
                "date": environment.date,
                "command": environment.command,
                "machine": environment.machine,
                "load_before": environment.load_before,
                "load_after": environment.load_after,
                "scalebox": environment.ours,
                "revision": environment.revision,
                "client": report.client_version(),
                "tansu": servers.tansu_version() if args.tansu else "",
                "tansu_storage_engine": args.tansu_storage_engine if args.tansu else "",
                "redis": servers.redis_version(redis_server) if args.redis else "",
            },
        )
        print(f"\nresults: {args.json}")
        if args.write:
            _write(
                args=args,
                before=before,
                argv=argv,
                settings=settings,
                systems=systems,
                redis_server=redis_server,
                results=results,
            )
        return 0
    finally:
        cases.stop_clients()
        started: list[Server] = [system.server for system in systems]
        processes.clean_up(started, work_dir, keep=args.keep)


def _write(
    *,
    args: argparse.Namespace,
    before: Before,
    argv: list[str],
    settings: Settings,
    systems: list[System],
    redis_server: str,
    results: cases.Results,
) -> None:
    environment = describe_environment(
        before, script="bench/eventlog/run.py", argv=argv, distributions=report.OUR_DISTRIBUTIONS, wrk=""
    )
    context = Context(
        environment=environment,
        settings=settings,
        systems=systems,
        tansu=servers.tansu_version(),
        tansu_engine=args.tansu_storage_engine,
        redis=servers.redis_version(redis_server) if redis_server else "not run",
        resp_parser=resp.parser_name(),
    )
    report.write_section(DOCS, report.render_section(context, results))
    print(f"wrote the Event log section of {DOCS.relative_to(servers.REPO)}")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted; every server stopped", file=sys.stderr)
        sys.exit(130)
