"""Kafka framing, sans-IO: every request and response is an int32 big-endian size, then that many bytes."""

from __future__ import annotations

import struct

from scalebox.core.errors import ProtocolError

_INT32 = struct.Struct(">i")


class FrameTooLargeError(ProtocolError):
    """A frame announced a size over the broker's limit (or a negative one): not a Kafka peer."""


class FrameDecoder:
    """Splits a byte stream into Kafka size-prefixed frames."""

    def __init__(self, frame_bytes_max: int) -> None:
        self._buffer = bytearray()
        self._frame_bytes_max = frame_bytes_max

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by `data` (payloads without their size prefix), each copied once."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        view = memoryview(buffer)
        start = 0
        buffered = len(buffer)
        try:
            while buffered - start >= 4:
                (size,) = _INT32.unpack_from(view, start)
                if not 0 <= size <= self._frame_bytes_max:
                    raise FrameTooLargeError(f"frame of {size} bytes; the limit is {self._frame_bytes_max}")
                if buffered - start - 4 < size:
                    break
                frames.append(bytes(view[start + 4 : start + 4 + size]))
                start += 4 + size
        finally:
            view.release()  # a bytearray with an exported view cannot be resized
        if start == buffered:
            buffer.clear()
        elif start:
            del buffer[:start]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes held for a frame that has not fully arrived."""
        return len(self._buffer)
