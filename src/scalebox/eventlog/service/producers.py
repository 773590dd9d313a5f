"""Idempotent producers (KIP-98): per partition, each producer id's epoch and its last five batches.

A retried batch whose sequence range matches one of the last five is a duplicate: it is answered with
the offset it was first written at and not written again. A batch whose first sequence is not the
next one expected is out of order. An older epoch is fenced. The state is rebuilt at start from the
batch headers in the log, so it survives a crash exactly as far as the batches themselves do.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from scalebox.eventlog.errors import (
    DuplicateSequenceError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
)

BATCHES_KEPT = 5  # max.in.flight.requests.per.connection for idempotence
_SEQUENCE_MODULUS = 2**31


@dataclass(frozen=True, slots=True)
class BatchMark:
    first_sequence: int
    last_sequence: int
    base_offset: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[BatchMark] = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))


class ProducerStates:
    """The idempotence table of one partition."""

    def __init__(self) -> None:
        self._producers: dict[int, ProducerEntry] = {}

    def __len__(self) -> int:
        return len(self._producers)

    def check(self, producer_id: int, epoch: int, first_sequence: int, records: int) -> None:
        """Raise if the batch must not be written: a duplicate (with its offset), out of order, fenced."""
        if producer_id < 0:
            return
        entry = self._producers.get(producer_id)
        if entry is None:
            return  # no state (a new producer, or its batches were removed by retention): accept
        if epoch < entry.epoch:
            raise InvalidProducerEpochError(
                f"producer {producer_id} epoch {epoch} is older than the current epoch {entry.epoch}"
            )
        if epoch > entry.epoch:
            if first_sequence != 0:
                raise OutOfOrderSequenceError(
                    f"producer {producer_id} started epoch {epoch} at sequence {first_sequence}, not 0"
                )
            return
        last_sequence = (first_sequence + records - 1) % _SEQUENCE_MODULUS
        for mark in entry.batches:
            if mark.first_sequence == first_sequence and mark.last_sequence == last_sequence:
                raise DuplicateSequenceError(mark.base_offset)
        if entry.batches:
            expected = (entry.batches[-1].last_sequence + 1) % _SEQUENCE_MODULUS
            if first_sequence != expected:
                raise OutOfOrderSequenceError(
                    f"producer {producer_id}: expected sequence {expected}, got {first_sequence}"
                )

    def record(
        self, producer_id: int, epoch: int, first_sequence: int, records: int, base_offset: int
    ) -> None:
        """Remember a batch that was written."""
        if producer_id < 0:
            return
        entry = self._producers.get(producer_id)
        if entry is None or epoch > entry.epoch:
            entry = self._producers[producer_id] = ProducerEntry(epoch)
        last_sequence = (first_sequence + records - 1) % _SEQUENCE_MODULUS
        entry.batches.append(BatchMark(first_sequence, last_sequence, base_offset))
