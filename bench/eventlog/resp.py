"""A minimal Redis (RESP2) client over one blocking socket: commands encoded once and written as
pipelines, replies parsed by a small parser (or hiredis's C one when it is importable). redis-py is
not used for the load: its per-command Python overhead would make the client, not Redis, the
bottleneck of a pipelined XADD run."""

from __future__ import annotations

import importlib
import socket
from collections.abc import Sequence
from typing import Any

Reply = Any  # bytes | int | None | list[Reply] | RedisError


class RedisError(Exception):
    """An error reply (`-ERR ...`)."""


def encode(*parts: bytes | str | int) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Parser:
    """Incremental RESP2 parser: feed() bytes, then gets() returns replies one at a time (False when
    the buffer does not hold a whole reply yet). The same interface as hiredis.Reader. It resumes where
    it stopped (the arrays begun are kept on a stack), so a large reply arriving in many pieces is
    parsed once."""

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0
        self._stack: list[tuple[list[Reply], int]] = []  # arrays begun: items so far, items in all

    def feed(self, data: bytes) -> None:
        if self._position:
            self._buffer = self._buffer[self._position :]
            self._position = 0
        self._buffer += data

    def gets(self) -> Reply:
        buffer, stack = self._buffer, self._stack
        while True:
            parsed = self._one(buffer, self._position)
            if parsed is None:
                return False
            value, self._position = parsed
            if value is _ARRAY:
                continue  # its items follow
            while stack:
                items, count = stack[-1]
                items.append(value)
                if len(items) < count:
                    break
                stack.pop()
                value = items
            else:
                return value

    def _one(self, buffer: bytes, position: int) -> tuple[Reply, int] | None:
        """The element at `position` and where the next begins; _ARRAY for an array begun (pushed on the
        stack); None when the buffer ends first."""
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        kind, line = buffer[position], buffer[position + 1 : end]
        if kind == 36:  # $: a bulk string
            length = int(line)
            if length >= 0 and len(buffer) < end + 4 + length:
                return None
            return (None, end + 2) if length < 0 else (buffer[end + 2 : end + 2 + length], end + 4 + length)
        if kind == 42:  # *: an array
            count = int(line)
            if count > 0:
                self._stack.append(([], count))
            return (_ARRAY if count > 0 else None if count < 0 else []), end + 2
        return _simple(kind, line), end + 2


def _simple(kind: int, line: bytes) -> Reply:
    if kind == 58:  # :
        return int(line)
    if kind == 43:  # +
        return line
    if kind == 45:  # -
        return RedisError(line.decode(errors="replace"))
    raise ValueError(f"not a RESP reply: {bytes([kind]) + line[:80]!r}")


_ARRAY = object()  # _one()'s answer for an array whose items follow


def _reader() -> Any:
    try:
        hiredis = importlib.import_module("hiredis")  # optional: no dependency of scalebox
    except ImportError:
        return _Parser()
    return hiredis.Reader(replyError=RedisError)


def parser_name() -> str:
    return "hiredis" if not isinstance(_reader(), _Parser) else "a pure-Python RESP parser"


class Connection:
    """One connection to Redis; send() a pipeline of encoded commands, then read() its replies."""

    def __init__(self, host: str, port: int, timeout_s: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = _reader()

    def close(self) -> None:
        self.sock.close()

    def send(self, pipeline: bytes) -> None:
        self.sock.sendall(pipeline)

    def read(self, count: int) -> list[Reply]:
        """The next `count` replies; error replies are returned as RedisError, not raised."""
        replies: list[Reply] = []
        while len(replies) < count:
            reply = self._reader.gets()
            if reply is False:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("Redis closed the connection")
                self._reader.feed(data)
                continue
            replies.append(reply)
        return replies

    def call(self, *parts: bytes | str | int) -> Reply:
        """One command, its reply; an error reply raises."""
        self.send(encode(*parts))
        reply = self.read(1)[0]
        if isinstance(reply, RedisError):
            raise reply
        return reply


def check(replies: Sequence[Reply]) -> int:
    """How many of `replies` are errors (and the first one, raised when every reply failed)."""
    errors = [reply for reply in replies if isinstance(reply, RedisError)]
    if errors and len(errors) == len(replies):
        raise errors[0]
    return len(errors)
