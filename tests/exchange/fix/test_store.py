"""The FIX session store: numbers and outbound messages survive a reopen, a kill -9 and a torn
tail; the store is bounded and compacts itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scalebox.exchange.fix.store import FileSessionStore, MemorySessionStore, StoreCorruptError


def fill(store: MemorySessionStore, count: int) -> None:
    for _ in range(count):
        sequence = store.next_sender_seq
        store.save(sequence, b"message %d" % sequence if sequence % 2 else None)  # odd: application


def test_memory_store_keeps_application_messages_only():
    store = MemorySessionStore()
    fill(store, 4)
    assert store.next_sender_seq == 5
    assert store.messages(1, 4) == [(1, b"message 1"), (3, b"message 3")]
    assert store.messages(2, 2) == []


def test_file_store_reloads_numbers_and_messages(tmp_path: Path):
    store = FileSessionStore(tmp_path / "s")
    fill(store, 5)
    store.set_next_target_seq(9)
    store.close()
    again = FileSessionStore(tmp_path / "s")
    assert (again.next_sender_seq, again.next_target_seq) == (6, 9)
    assert again.messages(1, 10) == [(1, b"message 1"), (3, b"message 3"), (5, b"message 5")]
    again.close()


def test_file_store_survives_kill_9(tmp_path: Path):
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from scalebox.exchange.fix.store import FileSessionStore\n"
        "store = FileSessionStore(Path(sys.argv[1]))\n"
        "store.save(1, b'first')\n"
        "store.save(2, None)\n"
        "store.set_next_target_seq(7)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s")], timeout=60, check=False)
    assert result.returncode == -signal.SIGKILL
    store = FileSessionStore(tmp_path / "s")
    assert (store.next_sender_seq, store.next_target_seq) == (3, 7)
    assert store.messages(1, 2) == [(1, b"first")]
    store.close()


def test_a_torn_last_record_is_cut_off(tmp_path: Path):
    store = FileSessionStore(tmp_path / "s")
    fill(store, 3)
    store.close()
    path = tmp_path / "s" / "session.log"
    whole = path.read_bytes()
    path.write_bytes(whole[:-3])  # the process died in the middle of the last write
    again = FileSessionStore(tmp_path / "s")
    assert again.next_sender_seq == 3
    assert again.messages(1, 3) == [(1, b"message 1")]
    again.save(3, b"again")
    again.close()
    reopened = FileSessionStore(tmp_path / "s")
    assert reopened.messages(3, 3) == [(3, b"again")]
    reopened.close()


def test_a_damaged_record_before_the_end_is_corruption(tmp_path: Path):
    store = FileSessionStore(tmp_path / "s")
    fill(store, 3)
    store.close()
    path = tmp_path / "s" / "session.log"
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        FileSessionStore(tmp_path / "s")


def test_the_store_is_bounded_and_compacts(tmp_path: Path):
    store = FileSessionStore(tmp_path / "s", messages_max=3)
    for sequence in range(1, 3001):
        store.save(sequence, b"x" * 50)
        store.set_next_target_seq(sequence + 1)
    assert [seq for seq, _ in store.messages(1, 3000)] == [2998, 2999, 3000]
    size = os.path.getsize(tmp_path / "s" / "session.log")
    assert size < 1_100 * (17 + 50)  # compacted: not 6,000 records
    store.close()
    again = FileSessionStore(tmp_path / "s", messages_max=3)
    assert (again.next_sender_seq, again.next_target_seq) == (3001, 3001)
    assert [seq for seq, _ in again.messages(1, 3000)] == [2998, 2999, 3000]
    again.close()


def test_reset_starts_over(tmp_path: Path):
    store = FileSessionStore(tmp_path / "s")
    fill(store, 3)
    store.reset()
    store.close()
    again = FileSessionStore(tmp_path / "s")
    assert (again.next_sender_seq, again.next_target_seq, again.kept) == (1, 1, 0)
    again.close()
