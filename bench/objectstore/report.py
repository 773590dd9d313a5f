"""The object store benchmark's report: markdown tables, the targets, and its section of
docs/benchmarks.md (between markers, so the rest of that file is left alone). The machine and
versions: bench.common.report."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import report as shared
from bench.common.report import Environment
from disk import DiskLimit
from listing import Listing
from load import LoadResult, Shape
from transfer import Transfers

if TYPE_CHECKING:
    from cases import Sizes

BEGIN = "<!-- bench:objectstore:begin -->"
END = "<!-- bench:objectstore:end -->"
HEADING = "## Object store"
SMALL_RATIO_TARGET = 20.0  # ours/moto small-object ops/s
DISK_SHARE_TARGET = 0.5  # our large-object MB/s over the disk's own (dd)
OUR_DISTRIBUTIONS = ("scalebox", "uvicorn", "uvloop", "httptools", "SQLAlchemy", "aiosqlite", "zfec")
MOTO_DISTRIBUTIONS = ("moto", "Werkzeug", "Flask")
CLIENT_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "awscrt")


@dataclass(frozen=True)
class SmallRow:
    """One small-object case on both servers."""

    title: str
    ours: LoadResult
    theirs: LoadResult

    @property
    def ratio(self) -> float:
        return self.ours.ops_per_second / self.theirs.ops_per_second if self.theirs.ops_per_second else 0.0


@dataclass(frozen=True)
class LargeRow:
    """One large-object case on both servers, and the disk's rate it is held against: dd's best
    `disk` run ("write" or "read")."""

    title: str
    ours: Transfers
    theirs: Transfers
    disk_mb_s: float | None
    disk: str

    @property
    def disk_share(self) -> float | None:
        return self.ours.median_mb_s / self.disk_mb_s if self.disk_mb_s else None


@dataclass(frozen=True)
class Results:
    """Whatever cases ran (`--only` leaves the others out)."""

    small: list[SmallRow]
    large: list[LargeRow]
    listings: tuple[Listing, Listing] | None  # ours, moto
    disk: DiskLimit | None


def versions(names: tuple[str, ...]) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def render_small(rows: list[SmallRow], shape: Shape) -> str:
    lines = [
        f"| 4 KiB objects, {shape.concurrency} concurrent | scalebox ops/s | moto ops/s | ours / moto | "
        "scalebox p50 / p99 ms | moto p50 / p99 ms | client CPU, cores (ours / moto run) | "
        "server CPU, cores (ours / moto) | errors (ours / moto) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ours, theirs = row.ours, row.theirs
        lines.append(
            f"| {row.title} | {ours.ops_per_second:,.0f} | {theirs.ops_per_second:,.0f} | "
            f"**{row.ratio:.2f}x** | {_latencies(ours)} | {_latencies(theirs)} | "
            f"{ours.client_cores:.2f} / {theirs.client_cores:.2f} | "
            f"{ours.server_cores:.2f} / {theirs.server_cores:.2f} | {ours.errors} / {theirs.errors} |"
        )
    for row in rows:
        for result in (row.ours, row.theirs):
            if result.first_error:
                lines.append(f"\nfirst error ({row.title}): `{result.first_error[:300]}`")
    return "\n".join(lines)


def _latencies(result: LoadResult) -> str:
    return f"{result.percentile_ms(0.5):.1f} / {result.percentile_ms(0.99):.1f}"


def render_large(rows: list[LargeRow]) -> str:
    lines = [
        "| large objects | scalebox MB/s best / median | moto MB/s best / median | disk (dd) MB/s | "
        "ours (median) / disk | client CPU, cores (ours / moto run) | server CPU, cores (ours / moto) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ours, theirs = row.ours, row.theirs
        share = "n/a" if row.disk_share is None else f"**{row.disk_share:.0%}**"
        disk = "n/a" if row.disk_mb_s is None else f"{row.disk_mb_s:,.0f} ({row.disk})"
        lines.append(
            f"| {row.title} | {_rates(ours)} | {_rates(theirs)} | {disk} | {share} | "
            f"{ours.client_cores:.2f} / {theirs.client_cores:.2f} | "
            f"{ours.server_cores:.2f} / {theirs.server_cores:.2f} |"
        )
    if any(row.disk == "read" for row in rows):
        lines += [
            "",
            "Reads follow the writes of the same objects, so either server may answer them from the page "
            "cache; dd's read goes past it (`iflag=direct`). The read shares are for orientation only; the "
            "targets hold writes against the disk.",
        ]
    return "\n".join(lines)


def _rates(transfers: Transfers) -> str:
    if len(transfers.timings) == 1:
        return f"{transfers.best_mb_s:,.0f}"
    return f"{transfers.best_mb_s:,.0f} / {transfers.median_mb_s:,.0f}"


def render_listing(listings: tuple[Listing, Listing]) -> str:
    lines = [
        "| ListObjectsV2, 1,000 keys a page | keys | filled in s (PUTs/s of empty objects) | "
        "fill errors | listed in s | keys listed/s | pages |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, listing in zip(("scalebox", "moto"), listings, strict=True):
        fill = listing.fill
        lines.append(
            f"| {name} | {listing.listed:,} | {fill.seconds:.1f} ({fill.ops_per_second:,.0f}) | "
            f"{fill.errors} | {listing.seconds:.2f} | {listing.keys_per_second:,.0f} | {listing.pages} |"
        )
    ours, theirs = listings
    if ours.listed and theirs.listed:
        speedup = ours.keys_per_second / theirs.keys_per_second if theirs.keys_per_second else 0.0
        lines.append(f"| **ours / moto, keys listed/s** | | | | | **{speedup:.2f}x** | |")
    return "\n".join(lines)


_DD_FLAGS = {"write": "dd conv=fsync", "read": "dd iflag=direct"}


def render_disk(disk: DiskLimit) -> str:
    size = render_size(disk.size_bytes)
    runs = len(disk.write_mb_s)
    return "\n".join(
        [
            f"| the disk's own limit, dd of {size} | best MB/s | median MB/s | runs |",
            "|---|---:|---:|---:|",
            f"| write, `bs=1M conv=fsync` | {disk.write_best:,.0f} | {disk.write_median:,.0f} | {runs} |",
            f"| read back, `bs=1M iflag=direct` | {disk.read_best:,.0f} | {disk.read_median:,.0f} | {runs} |",
        ]
    )


def render_targets(results: Results, *, quick: bool) -> str:
    def verdict(met: bool) -> str:
        return "**met**" if met else "**missed**"

    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for row in results.small:
        lines.append(
            f"| {row.title}: at least {SMALL_RATIO_TARGET:g}x moto's ops/s | {row.ratio:.2f}x | "
            f"{verdict(row.ratio >= SMALL_RATIO_TARGET)} |"
        )
    for large in results.large:
        # Only writes: a GET may be served from the page cache, which dd's direct read is not.
        if large.disk != "write" or large.disk_share is None or large.disk_mb_s is None:
            continue
        lines.append(
            f"| {large.title}: at least {DISK_SHARE_TARGET:.0%} of the disk's {large.disk} limit "
            f"({_DD_FLAGS[large.disk]}) | "
            f"{large.ours.median_mb_s:,.0f} of {large.disk_mb_s:,.0f} MB/s = {large.disk_share:.0%} | "
            f"{verdict(large.disk_share >= DISK_SHARE_TARGET)} |"
        )
    if len(lines) == 2:
        return "(No target applies to the cases run.)"
    if quick:
        lines += ["", "(`--quick`: sizes and durations too small to hold against the targets.)"]
    return "\n".join(lines)


def render_tables(results: Results, shape: Shape, *, quick: bool) -> str:
    parts = []
    if results.small:
        parts.append(render_small(results.small, shape))
    if results.large:
        parts.append(render_large(results.large))
    if results.disk is not None:
        parts.append(render_disk(results.disk))
    if results.listings is not None:
        parts.append(render_listing(results.listings))
    parts.append(render_targets(results, quick=quick))
    return "\n\n".join(parts)


def render_size(size_bytes: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size_bytes >= factor:
            return f"{size_bytes / factor:g} {unit}"
    return f"{size_bytes} bytes"


@dataclass(frozen=True)
class Context:
    """Everything the section says besides the tables."""

    environment: Environment
    shape: Shape
    sizes: Sizes
    fsync: bool
    dd: str


def render_section(context: Context, results: Results) -> str:
    environment, shape, sizes = context.environment, context.shape, context.sizes
    return "\n".join(
        [
            BEGIN,
            *environment.render_header("The load generator (boto3) runs on the same cores as the servers."),
            f"- scalebox: {environment.ours}; {environment.revision}. One process "
            "(`python -m scalebox objectstore serve`: uvicorn, uvloop), a fresh data directory on the "
            "disk dd measured, 4+2 erasure coding over six drive folders of that disk, SQLite (WAL) "
            "metadata, objects up to 128 KiB kept in their metadata row, log level WARNING, "
            + (
                "**fsync on** (the default: shards reach the disk before a write is acknowledged)."
                if context.fsync
                else "**fsync off** (`SCALEBOX_OBJECTSTORE_FSYNC=false`; not the default)."
            ),
            f"- moto: {versions(MOTO_DISTRIBUTIONS)}. `python -m moto.server` (werkzeug's threaded "
            "development server, one process, logging each request to a file): objects in memory, those "
            "above about 5 MiB spilled to temporary files on the same disk, never fsynced.",
            f"- Client: {versions(CLIENT_DISTRIBUTIONS)}, the same settings for both: SigV4, path-style "
            "addressing, boto3's default checksums (CRC32 on every upload), retries off (a failure is "
            "counted as an error), a client per thread.",
            f"- Small objects: {render_size(sizes.small_bytes)} bodies of random bytes, "
            f"{shape.concurrency} requests at a time from {shape.processes} processes of "
            f"{shape.threads_of(0)} threads, back to back; {shape.warmup_s:g} s of warm-up, then "
            f"{shape.duration_s:g} s measured. PUTs write a new key each; GETs read random keys of "
            f"{sizes.get_keys:,} written first. CPU columns: cores used over the measured window "
            "(2 is all of them).",
            f"- Large objects: one client in the harness's process; {sizes.large_repetitions} PUTs of "
            f"{render_size(sizes.large_bytes)} from memory, then a GET of each (read in 1 MiB pieces; "
            "the server may serve it from the page cache); then `upload_file` of a "
            f"{render_size(sizes.multipart_bytes)} file (multipart, {render_size(sizes.part_bytes)} parts, "
            "boto3's default 10 threads, the classic transfer manager) and `download_file` of it, once. "
            "MB/s is 10^6 bytes a second.",
            f"- Disk: {context.dd}; ours is held against the best run.",
            f"- Listing: {sizes.list_keys:,} empty objects in ours and {sizes.moto_list_keys:,} in "
            f"moto, put by the same {shape.concurrency} workers, then one full `list_objects_v2` "
            "pagination.",
            "",
            render_tables(results, shape, quick=False),
            END,
        ]
    )


def write_section(docs: Path, section: str) -> None:
    """Replace the marked section of docs/benchmarks.md (or add an '## Object store' section for it)."""
    shared.write_section(docs, section, begin=BEGIN, end=END, add=_add_with_heading)


def _add_with_heading(text: str, section: str) -> str:
    intro = "(The tables below are written by `bench/objectstore/run.py`; the text after them is not.)"
    return text.rstrip("\n") + f"\n\n{HEADING}\n\n{intro}\n\n{section}\n"
