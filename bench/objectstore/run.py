"""scalebox's object store against moto in server mode, side by side in one run, through the same boto3
client settings.

    .venv/bin/python bench/objectstore/run.py --write-docs   # full run; writes docs/benchmarks.md
    .venv/bin/python bench/objectstore/run.py --quick        # small sizes, 2 s runs; writes nothing

Measures 4 KiB PUT and GET ops/s at 16 concurrent requests (from several client processes), 64 MiB PUT
and GET MB/s, a 1 GiB multipart upload and its download, and ListObjectsV2 over 100,000 keys, and
holds the large-object figures against the disk's own limit (dd with fsync). See README.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# Run as a script, Python puts only this folder on sys.path: the repo root makes bench.common importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import cases
import disk
import report
from bench.common import options, processes
from bench.common.processes import Server
from bench.common.report import Before, describe_environment, note_before
from cases import Bench, Sizes, Target
from client import MiB, make_client
from report import Context, Results

import servers

DOCS = servers.REPO / "docs" / "benchmarks.md"
CASES = ("small", "large", "multipart", "list")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200 keys, 8 MiB objects, a 64 MiB multipart upload, 2 s runs: a smoke test; writes nothing",
    )
    parser.add_argument("--only", action="append", choices=CASES, help="run only this case (repeatable)")
    parser.add_argument("--concurrency", type=int, default=16, help="small-object requests at a time")
    parser.add_argument("--processes", type=int, default=4, help="client processes they come from")
    parser.add_argument("--duration", type=float, help="seconds measured per small case (10; quick 2)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before them (3; quick 1)")
    parser.add_argument("--large-mib", type=int, help="single PUT/GET size in MiB (64; quick 8)")
    parser.add_argument("--repetitions", type=int, help="PUTs and GETs of that size (5; quick 3)")
    parser.add_argument("--multipart-mib", type=int, help="multipart upload size in MiB (1024; quick 64)")
    parser.add_argument("--part-mib", type=int, default=8, help="multipart part size in MiB (boto3's: 8)")
    parser.add_argument("--list-keys", type=int, help="keys to list (100,000; quick 200)")
    parser.add_argument("--moto-list-keys", type=int, help="cap moto's keys to list (default: --list-keys)")
    parser.add_argument("--dd-runs", type=int, help="dd write and read runs (3; quick 1)")
    parser.add_argument("--dd-mib", type=int, help="dd file size in MiB (1024; quick 256)")
    parser.add_argument("--no-fsync", dest="fsync", action="store_false", help="run ours with fsync off")
    parser.add_argument("--work-dir", type=Path, help="where the temporary directory goes (its disk is dd's)")
    options.add_output_options(
        parser,
        py_spy_help="profile our server with this py-spy binary during the small-object runs",
        write_flags=("--write-docs", "--write"),
    )
    args = parser.parse_args(argv)
    if args.write and (args.quick or args.only):
        parser.error("--write-docs records a full run: not with --quick or --only")
    args.write = bool(args.write)  # unlike the other harnesses, only --write-docs writes
    return args


def sizes_from(args: argparse.Namespace) -> Sizes:
    quick = args.quick

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    list_keys = pick(args.list_keys, 100_000, 200)
    return Sizes(
        get_keys=200 if quick else 1000,
        large_bytes=pick(args.large_mib, 64, 8) * MiB,
        large_repetitions=pick(args.repetitions, 5, 3),
        multipart_bytes=pick(args.multipart_mib, 1024, 64) * MiB,
        part_bytes=args.part_mib * MiB,
        list_keys=list_keys,
        moto_list_keys=min(list_keys, args.moto_list_keys or list_keys),
        dd_mib=pick(args.dd_mib, 1024, 256),
        dd_runs=pick(args.dd_runs, 3, 1),
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = tuple(args.only or CASES)
    shape = cases.shape_from(args)
    sizes = sizes_from(args)
    processes.stop_on_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="scalebox-bench-objectstore-", dir=args.work_dir))
    started: list[Server] = []
    before = note_before(servers.REPO)  # before the server starts: the code it runs
    try:
        limit = None
        if {"large", "multipart"} & set(selected):
            print(f"dd: {sizes.dd_mib} MiB in {work_dir}, {sizes.dd_runs} run(s)...", flush=True)
            limit = disk.measure(work_dir, sizes.dd_mib, sizes.dd_runs)
        started.append(servers.start_ours(work_dir, fsync=args.fsync))
        started.append(servers.start_moto(work_dir))
        for each in started:
            servers.wait_ready(each)
        targets = [Target(each, servers.endpoint(each)) for each in started]
        for target in targets:
            cases.create_buckets(make_client(target.endpoint))
        bench = Bench(args, shape, sizes, targets[0], targets[1], work_dir)
        results = _run(bench, selected, limit)
        print(f"\n{report.render_tables(results, shape, quick=args.quick)}\n")
        if args.write:
            _write(args, argv, before, bench, results)
        return 0
    finally:
        processes.clean_up(started, work_dir, keep=args.keep)


def _run(bench: Bench, selected: tuple[str, ...], limit: disk.DiskLimit | None) -> Results:
    small = cases.run_small(bench) if "small" in selected else []
    listings = cases.run_listing(bench) if "list" in selected else None
    large = cases.run_large(bench, limit) if "large" in selected else []
    if "multipart" in selected:
        large += cases.run_multipart(bench, limit)
    return Results(small=small, large=large, listings=listings, disk=limit)


def _write(args: argparse.Namespace, argv: list[str], before: Before, bench: Bench, results: Results) -> None:
    environment = describe_environment(
        before,
        script="bench/objectstore/run.py",
        argv=argv,
        distributions=report.OUR_DISTRIBUTIONS,
        wrk="",
    )
    sizes = bench.sizes
    context = Context(
        environment=environment,
        shape=bench.shape,
        sizes=sizes,
        fsync=args.fsync,
        dd=f"{disk.dd_version()}, a {sizes.dd_mib} MiB file, {sizes.dd_runs} run"
        + ("s" if sizes.dd_runs != 1 else ""),
    )
    report.write_section(DOCS, report.render_section(context, results))
    print(f"wrote the Object store section of {DOCS}")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted; both servers stopped", file=sys.stderr)
        sys.exit(130)
