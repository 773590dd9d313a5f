"""The FIX session store: next sequence numbers both ways and the last outbound application
messages of one session (one SenderCompID/TargetCompID pair), in an append-only file.

Durability: every record is handed to the kernel with one write() as it is made, so it survives
a kill -9 of the process, but it is not fsynced per message. That is deliberate: each application
message is a rendering of events the venue fsynced in its journal before any listener saw them,
so nothing a counterparty can act on exists only here. After a power loss the numbers may lag;
the counterparty then sees MsgSeqNum too low and the session is reset (ResetSeqNumFlag), the
usual FIX procedure. Compaction and resets rewrite the file and do fsync it.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from scalebox.core.errors import IntegrityError
from scalebox.core.files import fsync_directory

# kind (u8) | sequence (u64) | payload length (u32) | CRC-32 of kind, sequence, length and payload
_HEADER = struct.Struct("<BQI")
_CRC = struct.Struct("<I")
_MESSAGE, _SENT, _RECEIVED = 1, 2, 3  # an outbound message; next sender / target MsgSeqNum
_FILE = "session.log"


class StoreCorruptError(IntegrityError):
    """A complete record in a session store failed its checksum."""


class SessionStore(Protocol):
    """The session's memory: numbers both ways and the outbound messages (implemented below)."""

    @property
    def next_sender_seq(self) -> int: ...

    @property
    def next_target_seq(self) -> int: ...

    def save(self, sequence: int, data: bytes | None) -> None: ...

    def set_next_target_seq(self, sequence: int) -> None: ...

    def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]: ...

    def reset(self) -> None: ...


class MemorySessionStore:
    """A session store that lives as long as the process (tests, and the base of the file store).
    Session-level messages advance the numbers but are not kept: a resend gap-fills them."""

    def __init__(self, messages_max: int = 10_000) -> None:
        assert messages_max > 0
        self.messages_max = messages_max
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._messages: OrderedDict[int, bytes] = OrderedDict()

    def save(self, sequence: int, data: bytes | None) -> None:
        """Record outbound message `sequence` (None for a session-level one, which is not kept)."""
        assert sequence == self.next_sender_seq, (sequence, self.next_sender_seq)
        self.next_sender_seq = sequence + 1
        if data is not None:
            self._messages[sequence] = data
            if len(self._messages) > self.messages_max:
                self._messages.popitem(last=False)

    def set_next_target_seq(self, sequence: int) -> None:
        self.next_target_seq = sequence

    def messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """The kept outbound messages numbered begin..end, in order."""
        return [(seq, data) for seq, data in self._messages.items() if begin <= seq <= end]

    def reset(self) -> None:
        """Back to MsgSeqNum 1 both ways (ResetSeqNumFlag); kept messages are dropped."""
        self.next_sender_seq = self.next_target_seq = 1
        self._messages.clear()

    def close(self) -> None:
        """Nothing to release."""

    @property
    def kept(self) -> int:
        return len(self._messages)


class FileSessionStore(MemorySessionStore):
    """A session store persisted in `directory/session.log`, reloaded when opened again."""

    def __init__(
        self, directory: Path, messages_max: int = 10_000, on_pending: Callable[[], None] | None = None
    ) -> None:
        super().__init__(messages_max)
        self.directory = directory
        self.path = directory / _FILE
        directory.mkdir(parents=True, exist_ok=True)
        self._records = self._load()
        self._file: BinaryIO = open(self.path, "ab", buffering=0)  # noqa: SIM115  # closed by close()
        # Records wait here until `flush()`, which the gateway calls once per event-loop turn and
        # always before the bytes they record reach a socket: one write() per turn instead of one
        # per message (a syscall costs tens of microseconds on a virtual machine).
        self._pending = bytearray()
        self.on_pending = on_pending  # called when the first record of a turn arrives

    def save(self, sequence: int, data: bytes | None) -> None:
        super().save(sequence, data)
        if data is None:
            self._append(_SENT, sequence + 1, b"")
        else:
            self._append(_MESSAGE, sequence, data)

    def set_next_target_seq(self, sequence: int) -> None:
        super().set_next_target_seq(sequence)
        self._append(_RECEIVED, sequence, b"")

    def reset(self) -> None:
        super().reset()
        self._compact()

    def close(self) -> None:
        self.flush()
        self._file.close()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        """Write the records appended since the last flush, in one write()."""
        if not self._pending:
            return
        view = memoryview(bytes(self._pending))
        self._pending.clear()
        while view:  # a regular file takes it all in one write() unless the disk is full
            view = view[self._file.write(view) or 0 :]

    def _append(self, kind: int, sequence: int, payload: bytes) -> None:
        first = not self._pending
        self._pending += _encode(kind, sequence, payload)
        self._records += 1
        if self._records > 2 * self.messages_max + 1_000:
            self._compact()
        elif first and self.on_pending is not None:
            self.on_pending()
        elif self.on_pending is None:
            self.flush()  # no owner to flush at the end of the turn: write through

    def _load(self) -> int:
        """Replay the file into memory; a torn last record (the process died mid-write) is cut off."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        offset = records = 0
        while offset < len(data):
            decoded = _decode(data, offset)
            if decoded is None:
                break
            kind, sequence, payload, offset = decoded
            records += 1
            if kind == _MESSAGE:
                self.next_sender_seq = sequence
                MemorySessionStore.save(self, sequence, payload)
            elif kind == _SENT:
                self.next_sender_seq = sequence
            else:
                self.next_target_seq = sequence
        if offset < len(data):
            with open(self.path, "r+b") as stream:
                stream.truncate(offset)
        return records

    def _compact(self) -> None:
        """Rewrite the file as the numbers plus the kept messages, atomically and fsynced."""
        self._pending.clear()  # everything pending is in the numbers and messages rewritten here
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as stream:
            stream.write(_encode(_SENT, self.next_sender_seq, b""))
            stream.write(_encode(_RECEIVED, self.next_target_seq, b""))
            for sequence, data in self._messages.items():
                stream.write(_encode(_MESSAGE, sequence, data))
            stream.flush()
            os.fsync(stream.fileno())
        self._file.close()
        temporary.replace(self.path)
        fsync_directory(self.directory)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self._records = len(self._messages) + 2


def _encode(kind: int, sequence: int, payload: bytes) -> bytes:
    head = _HEADER.pack(kind, sequence, len(payload))
    return head + _CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload


def _decode(data: bytes, offset: int) -> tuple[int, int, bytes, int] | None:
    """(kind, sequence, payload, next offset), or None at a torn tail. A bad record that is not
    the last one is corruption, not a crash, and raises."""
    end = offset + _HEADER.size + _CRC.size
    if end > len(data):
        return None
    kind, sequence, length = _HEADER.unpack_from(data, offset)
    (crc,) = _CRC.unpack_from(data, offset + _HEADER.size)
    payload = data[end : end + length]
    intact = len(payload) == length and kind in (_MESSAGE, _SENT, _RECEIVED)
    if intact and zlib.crc32(payload, zlib.crc32(data[offset : offset + _HEADER.size])) == crc:
        return kind, sequence, payload, end + length
    if end + length >= len(data):
        return None
    raise StoreCorruptError(f"session store record at offset {offset} fails its checksum")
