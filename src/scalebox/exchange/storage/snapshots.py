"""Engine snapshots on disk: zlib-compressed canonical JSON, one file per sequence number, written
atomically; the newest few are kept. A snapshot records the journal's chain value at its
sequence, so replay after it can go on verifying the chain."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import structlog

from scalebox.core.files import write_atomically

log = structlog.get_logger("scalebox.exchange")

_SUFFIX = ".snapshot"


class Snapshot(NamedTuple):
    sequence: int
    chain: bytes
    state: dict[str, Any]


class SnapshotStore:
    def __init__(self, directory: Path, keep: int = 3) -> None:
        self.directory = directory
        self.keep = keep

    def save(self, sequence: int, chain: bytes, state: dict[str, Any]) -> None:
        body = zlib.compress(orjson.dumps({"sequence": sequence, "chain": chain.hex(), "state": state}), 3)
        write_atomically(self.directory / f"{sequence:020d}{_SUFFIX}", body)
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)

    def paths(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def latest(self) -> Snapshot | None:
        """The newest readable snapshot (a damaged newest one falls back to the one before)."""
        return self.latest_at_or_before(None)

    def latest_at_or_before(self, sequence: int | None) -> Snapshot | None:
        """The newest readable snapshot whose sequence is at most `sequence` (None: any)."""
        for path in reversed(self.paths()):
            if sequence is not None and int(path.stem) > sequence:
                continue
            try:
                raw = orjson.loads(zlib.decompress(path.read_bytes()))
            except (zlib.error, orjson.JSONDecodeError) as exc:
                log.warning("unreadable snapshot skipped", snapshot=path.name, error=str(exc))
                continue
            return Snapshot(raw["sequence"], bytes.fromhex(raw["chain"]), raw["state"])
        return None
