"""The cases, each run on both servers in turn (who goes first alternates from case to case), each
after both servers are idle: small objects, the listing, large objects, the multipart upload."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import listing
import load as loadgen
import transfer
from bench.common import processes, spy
from bench.common.processes import Server
from client import Endpoint, make_client
from disk import DiskLimit
from listing import Listing
from load import LoadResult, Op, Shape, Task
from report import LargeRow, SmallRow, render_size

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SMALL_BUCKET, LARGE_BUCKET, LIST_BUCKET = "bench-small", "bench-large", "bench-list"
SMALL_BYTES = 4 * 1024
# Libraries of ours beyond the web stack, named in the profile's by-package view.
PROFILED_PACKAGES = ("zfec", "google_crc32c", "crc32c", "awscrt")


@dataclass(frozen=True)
class Sizes:
    """How big every case is (--quick makes them small)."""

    get_keys: int  # 4 KiB objects the GET case reads from
    large_bytes: int
    large_repetitions: int
    multipart_bytes: int
    part_bytes: int
    list_keys: int
    moto_list_keys: int
    dd_mib: int
    dd_runs: int
    small_bytes: int = SMALL_BYTES


@dataclass
class Target:
    """A server under test, where it answers, and the client the single-stream cases use."""

    server: Server
    endpoint: Endpoint
    client: S3Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = make_client(self.endpoint, pool_connections=16)


@dataclass(frozen=True)
class Bench:
    """What every case needs: the options, the load's shape, the sizes and both servers."""

    args: argparse.Namespace
    shape: Shape
    sizes: Sizes
    ours: Target
    theirs: Target
    work_dir: Path

    def order(self, case_index: int) -> tuple[Target, Target]:
        """Who goes first alternates, so drift in the machine's load favours neither."""
        return (self.ours, self.theirs) if case_index % 2 == 0 else (self.theirs, self.ours)

    def wait_idle(self) -> None:
        for target in (self.ours, self.theirs):
            processes.wait_idle(target.server)


def shape_from(args: argparse.Namespace) -> Shape:
    if args.concurrency < 1 or not 1 <= args.processes <= args.concurrency:
        raise SystemExit("--concurrency must be at least 1 and --processes between 1 and it")
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 10.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    return Shape(args.processes, args.concurrency, warmup_s=warmup, duration_s=duration)


def create_buckets(client: S3Client) -> None:
    for bucket in (SMALL_BUCKET, LARGE_BUCKET, LIST_BUCKET):
        client.create_bucket(Bucket=bucket)


# ---------------------------------------------------------------------------------------------
# small objects


def run_small(bench: Bench) -> list[SmallRow]:
    """4 KiB PUTs of new keys, then GETs of random keys among `get_keys` written just before."""
    results: dict[str, dict[str, LoadResult]] = {"put": {}, "get": {}}
    sizes = bench.sizes
    for target in bench.order(0):
        fill = loadgen.run(
            target.endpoint,
            target.server.process.pid,
            bench.shape,
            Task(SMALL_BUCKET, "fill", "get/", sizes.small_bytes, keys=sizes.get_keys),
        )
        if fill.errors:
            raise RuntimeError(f"{target.server.name}: writing the GET keys failed: {fill.first_error}")
    ops: tuple[Op, Op] = ("put", "get")
    for index, op in enumerate(ops):
        for target in bench.order(index):
            task = Task(SMALL_BUCKET, op, f"{op}/", sizes.small_bytes, keys=sizes.get_keys)
            result = _small(bench, target, task)
            results[op][target.server.name] = result
            print(_progress(f"4 KiB {op.upper()}", target, result), flush=True)
    return [SmallRow(f"4 KiB {op.upper()}", results[op]["scalebox"], results[op]["moto"]) for op in ops]


def _small(bench: Bench, target: Target, task: Task) -> LoadResult:
    """One timed run, profiled when asked (our server only)."""
    bench.wait_idle()
    py_spy = bench.args.py_spy
    profile = py_spy is not None and target is bench.ours
    collapsed = bench.args.profile_dir / f"objectstore-small-{task.op}.txt"
    if profile:
        bench.args.profile_dir.mkdir(parents=True, exist_ok=True)
        recorder = spy.start(py_spy, target.server.process.pid, collapsed)
    try:
        result = loadgen.run(target.endpoint, target.server.process.pid, bench.shape, task)
    finally:
        if profile:
            spy.finish(recorder, timeout_s=30)
    if profile and collapsed.exists():
        print(f"\nprofile of scalebox, 4 KiB {task.op} ({collapsed}):\n")
        print(f"{spy.summarise(collapsed, PROFILED_PACKAGES)}\n")
    return result


def _progress(title: str, target: Target, result: LoadResult) -> str:
    return (
        f"{title:<10} {target.server.name:<8} {result.ops_per_second:8,.0f} ops/s  "
        f"p50 {result.percentile_ms(0.5):6.1f} ms  p99 {result.percentile_ms(0.99):6.1f} ms  "
        f"errors {result.errors}  client {result.client_cores:.2f} cores  "
        f"server {result.server_cores:.2f} cores"
    )


# ---------------------------------------------------------------------------------------------
# listing


def run_listing(bench: Bench) -> tuple[Listing, Listing]:
    found: dict[str, Listing] = {}
    for target in bench.order(1):
        bench.wait_idle()
        keys = bench.sizes.list_keys if target is bench.ours else bench.sizes.moto_list_keys
        print(f"listing    {target.server.name:<8} putting {keys:,} empty objects...", flush=True)
        result = listing.fill_and_list(
            target.endpoint,
            target.client,
            target.server.process.pid,
            bucket=LIST_BUCKET,
            keys=keys,
            shape=bench.shape,
        )
        found[target.server.name] = result
        print(
            f"listing    {target.server.name:<8} filled at {result.fill.ops_per_second:,.0f}/s "
            f"({result.fill.errors} errors); listed {result.listed:,} keys in {result.seconds:.2f} s "
            f"({result.keys_per_second:,.0f}/s, {result.pages} pages)",
            flush=True,
        )
    return found["scalebox"], found["moto"]


# ---------------------------------------------------------------------------------------------
# large objects


def run_large(bench: Bench, limit: DiskLimit | None) -> list[LargeRow]:
    """`large_repetitions` PUTs of one random body, then a GET of each, on either server."""
    body = os.urandom(bench.sizes.large_bytes)
    found: dict[str, tuple[transfer.Transfers, transfer.Transfers]] = {}
    for target in bench.order(0):
        bench.wait_idle()
        found[target.server.name] = transfer.put_and_get(
            target.client,
            target.server.process.pid,
            bucket=LARGE_BUCKET,
            body=body,
            repetitions=bench.sizes.large_repetitions,
        )
        _print_transfers(render_size(bench.sizes.large_bytes), target, found[target.server.name])
    return _large_rows(render_size(bench.sizes.large_bytes), found, limit, ("PUT", "GET"))


def run_multipart(bench: Bench, limit: DiskLimit | None) -> list[LargeRow]:
    """upload_file of one random file (a multipart upload), then download_file of it, on either server."""
    source = bench.work_dir / "multipart-source.bin"
    transfer.write_random_file(source, bench.sizes.multipart_bytes)
    found: dict[str, tuple[transfer.Transfers, transfer.Transfers]] = {}
    try:
        for target in bench.order(1):
            bench.wait_idle()
            found[target.server.name] = transfer.upload_and_download(
                target.client,
                target.server.process.pid,
                bucket=LARGE_BUCKET,
                source=source,
                part_bytes=bench.sizes.part_bytes,
                download_to=bench.work_dir / "multipart-download.bin",
            )
            _print_transfers(render_size(bench.sizes.multipart_bytes), target, found[target.server.name])
    finally:
        source.unlink(missing_ok=True)
    size = render_size(bench.sizes.multipart_bytes)
    titles = (
        f"multipart upload (`upload_file`, {render_size(bench.sizes.part_bytes)} parts)",
        "download (`download_file`)",
    )
    return _large_rows(size, found, limit, titles)


def _large_rows(
    size: str,
    found: dict[str, tuple[transfer.Transfers, transfer.Transfers]],
    limit: DiskLimit | None,
    titles: tuple[str, str],
) -> list[LargeRow]:
    ours, theirs = found["scalebox"], found["moto"]
    write = None if limit is None else limit.write_best
    read = None if limit is None else limit.read_best
    return [
        LargeRow(f"{size} {titles[0]}", ours[0], theirs[0], write, "write"),
        LargeRow(f"{size} {titles[1]}", ours[1], theirs[1], read, "read"),
    ]


def _print_transfers(size: str, target: Target, pair: tuple[transfer.Transfers, transfer.Transfers]) -> None:
    for verb, transfers in zip(("up", "down"), pair, strict=True):
        rates = ", ".join(f"{rate:,.0f}" for rate in transfers.rates_mb_s)
        print(
            f"{size:<8} {verb:<4} {target.server.name:<8} MB/s {rates}  client "
            f"{transfers.client_cores:.2f} cores  server {transfers.server_cores:.2f} cores",
            flush=True,
        )
