"""Large objects through one boto3 client in the harness's own process: single PUTs and GETs of one
size, repeated, and a multipart upload of a file with upload_file (and its download_file), each timed
with the CPU both sides used meanwhile."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import processes
from client import MiB, transfer_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_BYTES = 1 * MiB  # GET bodies are read in pieces of this size and dropped


@dataclass(frozen=True)
class Timing:
    """One timed transfer: its seconds and the CPU seconds each side used meanwhile."""

    seconds: float
    client_cpu_s: float
    server_cpu_s: float


@dataclass(frozen=True)
class Transfers:
    """Repetitions of one transfer of `size_bytes`. MB/s counts 10^6 bytes, as dd does."""

    size_bytes: int
    timings: list[Timing]

    @property
    def rates_mb_s(self) -> list[float]:
        return [self.size_bytes / 1e6 / timing.seconds for timing in self.timings]

    @property
    def best_mb_s(self) -> float:
        return max(self.rates_mb_s)

    @property
    def median_mb_s(self) -> float:
        return statistics.median(self.rates_mb_s)

    @property
    def client_cores(self) -> float:
        return sum(t.client_cpu_s for t in self.timings) / sum(t.seconds for t in self.timings)

    @property
    def server_cores(self) -> float:
        return sum(t.server_cpu_s for t in self.timings) / sum(t.seconds for t in self.timings)


def timed(server_pid: int, action: Callable[[], None]) -> Timing:
    """Run `action` and time it; the client's CPU is this process's, every thread included (the
    transfer manager's among them). Other writes' dirty pages are flushed first, so the kernel does
    not write them back during this one."""
    os.sync()
    client_before = processes.process_cpu_seconds(os.getpid())
    server_before = processes.group_cpu_seconds(server_pid)
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    return Timing(
        seconds=seconds,
        client_cpu_s=processes.process_cpu_seconds(os.getpid()) - client_before,
        server_cpu_s=processes.group_cpu_seconds(server_pid) - server_before,
    )


def put_and_get(
    client: S3Client, server_pid: int, *, bucket: str, body: bytes, repetitions: int
) -> tuple[Transfers, Transfers]:
    """`repetitions` PUTs of `body` under new keys, then a GET of each (read to the end, in 1 MiB
    pieces). The GETs follow the PUTs: what they read may still be in the page cache."""
    keys = [f"large/{len(body)}-{n}" for n in range(repetitions)]

    def put(key: str) -> Callable[[], None]:
        return lambda: _put(client, bucket, key, body)

    def get(key: str) -> Callable[[], None]:
        return lambda: _get(client, bucket, key, len(body))

    puts = [timed(server_pid, put(key)) for key in keys]
    gets = [timed(server_pid, get(key)) for key in keys]
    return Transfers(len(body), puts), Transfers(len(body), gets)


def _put(client: S3Client, bucket: str, key: str, body: bytes) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body)


def _get(client: S3Client, bucket: str, key: str, size_bytes: int) -> None:
    received = sum(
        len(chunk) for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(CHUNK_BYTES)
    )
    if received != size_bytes:
        raise RuntimeError(f"GET {key}: {received} bytes, expected {size_bytes}")


def upload_and_download(
    client: S3Client, server_pid: int, *, bucket: str, source: Path, part_bytes: int, download_to: Path
) -> tuple[Transfers, Transfers]:
    """upload_file of `source` in `part_bytes` parts (a multipart upload), then download_file of it
    to `download_to` (ranged GETs in parallel), which is checked for size and removed."""
    size_bytes = source.stat().st_size
    config = transfer_config(part_bytes)
    key = f"multipart/{source.name}"
    upload = timed(server_pid, lambda: client.upload_file(str(source), bucket, key, Config=config))
    download = timed(server_pid, lambda: client.download_file(bucket, key, str(download_to), Config=config))
    try:
        if download_to.stat().st_size != size_bytes:
            raise RuntimeError(f"downloaded {download_to.stat().st_size} bytes, expected {size_bytes}")
    finally:
        download_to.unlink(missing_ok=True)
    return Transfers(size_bytes, [upload]), Transfers(size_bytes, [download])


def write_random_file(path: Path, size_bytes: int) -> None:
    """`size_bytes` of random bytes (nothing compresses or dedups), written in 8 MiB pieces."""
    with path.open("wb") as file:
        left = size_bytes
        while left:
            piece = min(left, 8 * MiB)
            file.write(os.urandom(piece))
            left -= piece
        file.flush()
        os.fsync(file.fileno())  # on the disk before any measurement: no writeback during one
