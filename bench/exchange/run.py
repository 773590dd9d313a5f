"""scalebox's exchange against liquibook (the engine alone) and QuickFIX's ordermatch (the FIX round
trip), in one run. See README.md beside this file.

    .venv/bin/python bench/exchange/run.py --write-docs     # full run; writes docs/benchmarks.md
    .venv/bin/python bench/exchange/run.py --quick          # smoke run (100k operations, short FIX runs)
    .venv/bin/python bench/exchange/run.py --compiled       # adds the mypyc-compiled engine row

Part 1 generates one seeded stream (1M operations: 60% limit adds, 25% cancels, 10% marketable, 5%
replaces), feeds it freshly built into our MatchingEngine and into liquibook in the same process,
and reports operations/s, per-operation latency and a cross-check of trades. Part 2 runs ordermatch
and our exchange side by side and drives both with the same FIX client.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script, Python puts only this folder on sys.path: the repo root makes bench.common importable.
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

import engines
import fix_bench
import report
from bench.common import options, processes
from bench.common.report import describe_environment, note_before
from fix_bench import FixSettings
from mix import MixConfig

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100k operations, 1 round, short FIX runs"
    )
    parser.add_argument("--part", choices=("all", "engine", "fix"), default="all")
    parser.add_argument(
        "--operations", type=int, help="measured operations (default 1,000,000; quick 100,000)"
    )
    parser.add_argument("--seed", type=int, default=MixConfig.seed)
    parser.add_argument(
        "--book", type=int, default=MixConfig.book_target, help="live orders the book hovers around"
    )
    parser.add_argument("--rounds", type=int, help="throughput rounds per engine (default 3; quick 1)")
    parser.add_argument(
        "--gc", choices=("on", "off"), default="on", help="cyclic GC during the engine passes"
    )
    parser.add_argument(
        "--compiled", action="store_true", help="also run a mypyc-compiled copy of the engine"
    )
    parser.add_argument(
        "--rebuild-compiled", action="store_true", help="rebuild the mypyc copy even if cached"
    )
    parser.add_argument(
        "--fix-orders", type=int, help="one-outstanding round trips (default 5,000; quick 500)"
    )
    parser.add_argument(
        "--fix-sessions", type=int, default=4, help="windowed run: sessions (half buy, half sell)"
    )
    parser.add_argument(
        "--fix-window", type=int, default=32, help="windowed run: outstanding orders per session"
    )
    parser.add_argument(
        "--fix-duration", type=float, help="windowed run: measured seconds (default 15; quick 3)"
    )
    parser.add_argument("--fix-warmup", type=float, help="windowed run: warm-up seconds (default 3; quick 1)")
    parser.add_argument("--fix-rounds", type=int, help="FIX rounds per server (default 3; quick 1)")
    parser.add_argument("--write", "--write-docs", dest="write", action="store_true", default=None,
                        help="write the Exchange section of docs/benchmarks.md")  # fmt: skip
    parser.add_argument("--no-write", dest="write", action="store_false", help="do not write docs")
    parser.add_argument("--keep", action="store_true", help="keep the FIX servers' work directory")
    args = parser.parse_args(argv)
    args.py_spy = None
    options.settle_write(args)
    quick = args.quick
    args.operations = args.operations or (100_000 if quick else 1_000_000)
    args.rounds = args.rounds or (1 if quick else 3)
    args.fix_orders = args.fix_orders or (500 if quick else 5_000)
    args.fix_duration = args.fix_duration or (3.0 if quick else 15.0)
    args.fix_warmup = args.fix_warmup if args.fix_warmup is not None else (1.0 if quick else 3.0)
    args.fix_rounds = args.fix_rounds or (1 if quick else 3)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    processes.stop_on_signals()
    before = note_before(REPO)
    engine_report = fix_report = None
    if args.part in ("all", "engine"):
        config = MixConfig(operations=args.operations, seed=args.seed, book_target=args.book)
        engine_report = engines.run(
            config,
            rounds=args.rounds,
            gc_mode=args.gc,
            with_compiled=args.compiled,
            rebuild=args.rebuild_compiled,
        )
        print("\n" + report.render_engines(engine_report) + "\n")
        print(report.render_kinds(engine_report) + "\n")
        print(report.render_cross_check(engine_report) + "\n")
    if args.part in ("all", "fix"):
        settings = FixSettings(
            latency_orders=args.fix_orders,
            sessions=args.fix_sessions,
            window=args.fix_window,
            duration_s=args.fix_duration,
            warmup_s=args.fix_warmup,
            rounds=args.fix_rounds,
        )
        fix_report = fix_bench.run(settings, keep=args.keep)
        print("\n" + report.render_fix(fix_report) + "\n")
    print(report.render_targets(engine_report, fix_report) + "\n")
    if args.write:
        liquibook, quickfix = report.versions()
        environment = describe_environment(
            before,
            script="bench/exchange/run.py",
            argv=argv,
            distributions=report.OUR_DISTRIBUTIONS,
            wrk="",
        )
        context = report.Context(environment=environment, liquibook=liquibook, quickfix=quickfix)
        report.write_section(DOCS, report.render_section(context, engine_report, fix_report))
        print(f"wrote the Exchange section of {DOCS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
