"""scalebox pastebin against pinnwand 1.5.0, side by side in one run, under the same wrk load.

    .venv/bin/python bench/pastebin/run.py            # full run; writes docs/benchmarks.md
    .venv/bin/python bench/pastebin/run.py --quick    # 3 s per case, smoke test; writes nothing

Both servers run at once (one app process each, SQLite on local disk), only one is loaded at a time.
Reads cycle through pastes created first through each server's POST /api/v1/paste; creates post
distinct 2 KiB Python files. See README.md beside this file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, Python puts only this folder on sys.path: the repo root makes bench.common importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import load as loadgen
import report
import server as servers
from bench.common import options, processes, spy
from bench.common import wrk as wrk_runs
from bench.common.processes import Server
from bench.common.report import describe_environment, note_before
from bench.common.wrk import Load
from load import Result
from report import Case, Context, Row
from sample import create_body_template, sample_python

DOCS = servers.REPO / "docs" / "benchmarks.md"
CASES = (
    Case("page", "read: paste page (HTML)", 3.0),
    Case("raw", "read: raw text (/raw/<id>)", 3.0),
    Case("create", "create: POST /api/v1/paste (answered)", 2.0),
)
# Not a run of its own: the create run's pastes over the run plus the time the server stayed busy
# after it. scalebox highlights, scans and indexes in background workers; pinnwand does it all inline.
SUSTAINED_CREATE = Case("create", "create, counting the background work after it", 2.0, sustained=True)
# Libraries of ours beyond the web stack, named in the profile's by-package view.
PROFILED_PACKAGES = ("zstandard",)


@dataclass
class Target:
    """A server under test and what the cases need from it."""

    server: Server
    paths: dict[str, Path] = field(default_factory=dict)  # read case key -> file of paths
    unavailable: dict[str, str] = field(default_factory=dict)  # case key -> why it cannot run
    results: dict[str, list[Result]] = field(default_factory=dict)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s per case, 1 s warm-up; writes no docs")
    parser.add_argument("--duration", type=int, help="seconds per measured case (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per case (default 3, quick 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case; the median round is shown")
    parser.add_argument("--pastes", type=int, default=100, help="pastes the read cases cycle through")
    parser.add_argument("--pinnwand-venv", type=Path, help="reuse a venv with pinnwand 1.5.0 installed")
    options.add_output_options(parser, py_spy_help="profile scalebox with this py-spy binary (round 1)")
    args = parser.parse_args(argv)
    options.settle_write(args)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load = options.load_from(args, warmup_s=3)
    wrk = wrk_runs.find_wrk()
    processes.stop_on_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="scalebox-bench-pastebin-"))
    started: list[Server] = []
    before = note_before(servers.REPO)  # before the server starts: the code it runs
    try:
        python = _pinnwand_python(args, work_dir)
        theirs_versions = servers.pinnwand_versions(python)
        if theirs_versions["pinnwand"] != servers.PINNWAND_VERSION:
            raise SystemExit(
                f"expected pinnwand {servers.PINNWAND_VERSION}, found {theirs_versions['pinnwand']}"
            )
        started.append(servers.start_scalebox(work_dir))
        started.append(servers.start_pinnwand(work_dir, python))
        for each in started:
            servers.wait_ready(each)
        ours, theirs = (Target(each) for each in started)
        for target in (ours, theirs):
            _seed(target, args.pastes, work_dir)
        body = work_dir / "create-body.json"
        body.write_bytes(create_body_template())
        _run_cases(Bench(wrk, load, args, ours, theirs, body))
        rows = _rows(ours, theirs)
        table = report.render_table(rows)
        print(f"\n{table}\n")
        if args.write:
            environment = describe_environment(
                before,
                script="bench/pastebin/run.py",
                argv=argv,
                distributions=report.OUR_DISTRIBUTIONS,
                wrk=wrk_runs.wrk_version(wrk),
            )
            context = Context(
                environment=environment,
                theirs=", ".join(f"{name} {version}" for name, version in theirs_versions.items()),
                load=load,
                rounds=args.rounds,
                pastes=args.pastes,
            )
            report.write_section(DOCS, report.render_section(context, table))
            print(f"wrote the Pastebin section of {DOCS.relative_to(servers.REPO)}")
        return 0
    finally:
        processes.clean_up(started, work_dir, keep=args.keep)


def _pinnwand_python(args: argparse.Namespace, work_dir: Path) -> Path:
    if args.pinnwand_venv is not None:
        return Path(args.pinnwand_venv) / "bin" / "python"
    print("installing pinnwand into a throwaway venv...", flush=True)
    return servers.make_pinnwand_venv(work_dir / "pinnwand-venv")


def _seed(target: Target, count: int, work_dir: Path) -> None:
    """Create `count` pastes through the API, then check each read case answers 200 before loading it."""
    name = target.server.name
    ids = [servers.create_paste(target.server, sample_python(f"{name}-{n}")) for n in range(count)]
    for key, prefix in (("page", "/"), ("raw", "/raw/")):
        path_file = work_dir / f"{name}-{key}.txt"
        path_file.write_text("".join(f"{prefix}{paste_id}\n" for paste_id in ids))
        target.paths[key] = path_file
        status, content_type = servers.probe(target.server, f"{prefix}{ids[0]}")
        if status != 200:
            target.unavailable[key] = f"{name} answers HTTP {status} ({content_type or 'no body type'})"
    print(f"{name}: {count} pastes created on {target.server.base_url}", flush=True)


@dataclass(frozen=True)
class Bench:
    """What every case needs: the load generator, its shape, the options and both servers."""

    wrk: str
    load: Load
    args: argparse.Namespace
    ours: Target
    theirs: Target
    body: Path  # the create body template


def _run_cases(bench: Bench) -> None:
    ours, theirs = bench.ours, bench.theirs
    # Every round of the reads before any create: creates grow the databases, and pinnwand's paste
    # page slows down as its file table grows (no index on file.paste_id), so reads would otherwise
    # measure how many creates ran before them.
    reads = [case for case in CASES if case.key != "create"]
    creates = [case for case in CASES if case.key == "create"]
    for phase in (reads, creates):
        for round_number, index, case in _schedule(phase, bench.args.rounds):
            # Alternate who goes first, so drift in the machine's load does not favour one side.
            order = (ours, theirs) if (index + round_number) % 2 else (theirs, ours)
            for target in order:
                if case.key in target.unavailable:
                    continue
                for each in (ours, theirs):  # neither may still be busy with the last case's work
                    servers.wait_idle(each.server)
                result = _run_case(bench, target, case, round_number)
                target.results.setdefault(case.key, []).append(result)
                print(_progress(round_number, case, target, result), flush=True)


def _schedule(cases: list[Case], rounds: int) -> list[tuple[int, int, Case]]:
    return [
        (round_number, index, case)
        for round_number in range(1, rounds + 1)
        for index, case in enumerate(cases)
    ]


def _progress(round_number: int, case: Case, target: Target, result: Result) -> str:
    return (
        f"round {round_number} {case.key:<7} {target.server.name:<9} {result.ok_per_second:9,.0f} req/s  "
        f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
        f"busy after {result.drain_s:4.1f} s  {result.per_cpu_second:7,.0f} per CPU-s"
    )


def _run_case(bench: Bench, target: Target, case: Case, round_number: int) -> Result:
    """Warm up, wait for quiet, measure, then time how long the server stays busy afterwards."""
    load, url = bench.load, target.server.base_url

    def script_args(salt: str) -> list[str]:
        if case.key == "create":
            return ["create", str(bench.body), f"{salt}{round_number}"]
        return ["read", str(target.paths[case.key])]

    if load.warmup_s:
        loadgen.run_wrk(bench.wrk, url, load, load.warmup_s, script_args("w"))
        servers.wait_idle(target.server)
    pid = target.server.process.pid
    py_spy = bench.args.py_spy
    profile = py_spy is not None and target is bench.ours and round_number == 1
    collapsed = bench.args.profile_dir / f"scalebox-{case.key}.txt"
    if profile:  # the profile covers the run and the background work after it
        bench.args.profile_dir.mkdir(parents=True, exist_ok=True)
        recorder = spy.start(py_spy, pid, collapsed)
    try:
        cpu_before = processes.process_cpu_seconds(pid)
        result = loadgen.run_wrk(bench.wrk, url, load, load.duration_s, script_args("m"))
        drain_s = servers.wait_idle(target.server)
        cpu_s = processes.process_cpu_seconds(pid) - cpu_before
        result = dataclasses.replace(result, drain_s=drain_s, cpu_s=cpu_s)
    finally:
        if profile:
            spy.finish(recorder, timeout_s=30)
    if profile and collapsed.exists():
        summary = spy.summarise(collapsed, PROFILED_PACKAGES)
        print(f"\nprofile of scalebox, {case.title} ({collapsed}):\n{summary}\n")
    return result


def _rows(ours: Target, theirs: Target) -> list[Row]:
    rows = []
    for case in (*CASES, SUSTAINED_CREATE):
        mine, other = ours.results.get(case.key, []), theirs.results.get(case.key, [])
        note = "; ".join(t.unavailable[case.key] for t in (ours, theirs) if case.key in t.unavailable)
        rows.append(
            Row(
                case=case,
                ours=loadgen.median_result(mine, case.sustained) if mine else None,
                theirs=loadgen.median_result(other, case.sustained) if other else None,
                note=note,
                spread_ours=loadgen.spread(mine, case.sustained),
                spread_theirs=loadgen.spread(other, case.sustained),
                per_cpu_ours=wrk_runs.median_per_cpu_second(mine),
                per_cpu_theirs=wrk_runs.median_per_cpu_second(other),
            )
        )
    return rows


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted; both servers stopped", file=sys.stderr)
        sys.exit(130)
