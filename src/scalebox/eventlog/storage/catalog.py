"""The broker's own metadata in JSON files, each rewritten atomically.

`catalog.json` (written by the broker only): the cluster id, topics (id, partition count, config
overrides) and the producer-id block reserved so far. Kafka keeps the same facts in KRaft's
metadata log; one broker needs only a file. `users.json` (written by `scalebox eventlog users`,
read by the broker when it changes): SASL users' SCRAM credentials, salted and hashed, never a
password.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scalebox.core.errors import IntegrityError
from scalebox.core.files import write_atomically

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class TopicRecord:
    name: str
    topic_id: str  # a UUID, as Kafka's topic ids (KIP-516)
    partitions: int
    configs: dict[str, str]  # overrides of the broker defaults, Kafka-named
    created_ms: int


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """RFC 5802 stored credential: the server can check a proof but cannot recover the password."""

    mechanism: str  # "SCRAM-SHA-256"
    salt: str  # base64
    iterations: int
    stored_key: str  # base64 H(ClientKey)
    server_key: str  # base64


@dataclass
class CatalogState:
    cluster_id: str = field(default_factory=lambda: uuid.uuid4().hex[:22])
    topics: dict[str, TopicRecord] = field(default_factory=dict)
    producer_id_block_end: int = 0  # every producer id below this has been (or may have been) handed out


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> CatalogState:
        """The saved state, or a new one (with a fresh cluster id, saved at once) on first start."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            state = CatalogState()
            self.save(state)
            return state
        try:
            document = json.loads(raw)
            if document.get("format") != FORMAT_VERSION:
                raise IntegrityError(f"{self.path}: unknown catalog format {document.get('format')!r}")
            return CatalogState(
                cluster_id=document["cluster_id"],
                topics={t["name"]: TopicRecord(**t) for t in document["topics"]},
                producer_id_block_end=document["producer_id_block_end"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{self.path} is damaged: {exc}") from exc

    def save(self, state: CatalogState) -> None:
        """Write to a temporary file, fsync, rename over, fsync the directory: all or nothing."""
        document = {
            "format": FORMAT_VERSION,
            "cluster_id": state.cluster_id,
            "topics": [asdict(t) for t in sorted(state.topics.values(), key=lambda t: t.name)],
            "producer_id_block_end": state.producer_id_block_end,
        }
        write_atomically(self.path, json.dumps(document, indent=1).encode())


class UserFile:
    """SASL users. The broker re-reads the file when its modification time changes, so users added
    or removed by the CLI take effect without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._users: dict[str, ScramCredential] = {}

    def load(self) -> dict[str, ScramCredential]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._users = None, {}
            return {}
        mark = (stat.st_mtime_ns, stat.st_size)
        if mark != self._seen:
            try:
                document = json.loads(self.path.read_bytes())
                self._users = {name: ScramCredential(**c) for name, c in document["users"].items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise IntegrityError(f"{self.path} is damaged: {exc}") from exc
            self._seen = mark
        return dict(self._users)

    def save(self, users: dict[str, ScramCredential]) -> None:
        document = {"format": FORMAT_VERSION, "users": {n: asdict(c) for n, c in sorted(users.items())}}
        write_atomically(self.path, json.dumps(document, indent=1).encode(), mode=0o600)
