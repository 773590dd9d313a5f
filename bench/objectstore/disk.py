"""The disk's own limit, for the large-object figures: `dd` writing a file with conv=fsync (the data
is on the disk when dd's clock stops), and reading it back with iflag=direct (past the page cache),
on the filesystem that holds both servers' data."""

from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

# dd's last line on stderr: "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.34 s, 459 MB/s"
_SUMMARY = re.compile(r"^(?P<bytes>\d+) bytes .* copied, (?P<seconds>[\d.]+) s")


@dataclass(frozen=True)
class DiskLimit:
    """dd's rates over repetitions, in MB/s (10^6 bytes), as dd reports them."""

    size_bytes: int
    write_mb_s: list[float]
    read_mb_s: list[float]

    @property
    def write_best(self) -> float:
        return max(self.write_mb_s)

    @property
    def read_best(self) -> float:
        return max(self.read_mb_s)

    @property
    def write_median(self) -> float:
        return statistics.median(self.write_mb_s)

    @property
    def read_median(self) -> float:
        return statistics.median(self.read_mb_s)


def measure(work_dir: Path, size_mib: int, repetitions: int) -> DiskLimit:
    """Write and read back a `size_mib` MiB file in `work_dir` `repetitions` times; the file is removed."""
    path = work_dir / "dd-limit.bin"
    writes, reads = [], []
    try:
        for _ in range(repetitions):
            path.unlink(missing_ok=True)
            writes.append(_dd(["if=/dev/zero", f"of={path}", "bs=1M", f"count={size_mib}", "conv=fsync"]))
            reads.append(_dd([f"if={path}", "of=/dev/null", "bs=1M", "iflag=direct"]))
    finally:
        path.unlink(missing_ok=True)
    return DiskLimit(size_mib * 1024 * 1024, writes, reads)


def _dd(operands: list[str]) -> float:
    completed = subprocess.run(["dd", *operands], capture_output=True, text=True, timeout=600, check=False)
    lines = completed.stderr.strip().splitlines()
    match = _SUMMARY.match(lines[-1]) if lines else None
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"dd {' '.join(operands)} failed ({completed.returncode}):\n{completed.stderr}")
    return int(match["bytes"]) / 1e6 / float(match["seconds"])


def dd_version() -> str:
    completed = subprocess.run(["dd", "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = completed.stdout.splitlines()[0] if completed.stdout else "dd"
    return first.strip()
