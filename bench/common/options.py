"""The command-line options every harness has besides its own: profiling, what to write and keep, and
the shape of the load that --quick, --duration and --warmup give."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .wrk import Load


def add_output_options(
    parser: argparse.ArgumentParser, *, py_spy_help: str, write_flags: tuple[str, ...] = ("--write",)
) -> None:
    """--py-spy, --profile-dir, --write (under `write_flags`), --no-write and --keep, in that order."""
    parser.add_argument("--py-spy", type=Path, help=py_spy_help)
    parser.add_argument(
        "--profile-dir", type=Path, default=Path(tempfile.gettempdir()) / "scalebox-bench-profiles"
    )
    parser.add_argument(*write_flags, dest="write", action="store_true", default=None, help="write docs")
    parser.add_argument("--no-write", dest="write", action="store_false", help="do not write docs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")


def settle_write(args: argparse.Namespace) -> None:
    """Without --write or --no-write, only a full run that is not profiled writes the docs."""
    if args.write is None:
        args.write = not args.quick and args.py_spy is None  # profiled runs are slower: not the record


def load_from(args: argparse.Namespace, *, warmup_s: int) -> Load:
    """The load of --threads and --connections for --duration seconds (15; 3 with --quick) after a
    warm-up of --warmup seconds (`warmup_s`; 1 with --quick)."""
    return Load(
        threads=args.threads,
        connections=args.connections,
        duration_s=args.duration or (3 if args.quick else 15),
        warmup_s=args.warmup if args.warmup is not None else (1 if args.quick else warmup_s),
    )
