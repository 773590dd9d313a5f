"""Many child processes sharing one terminal: bounded line reads, name prefixes and per-child colour.

Used by the supervisor behind `scalebox up`; knows nothing about processes, only streams and lines.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

LINE_BYTES_MAX = 64 * 1024
"""A line longer than this is emitted in pieces of at most this size rather than buffered whole."""

_RESET = "\x1b[0m"
# Distinct, readable on dark and light backgrounds; red is left out so it never reads as an error.
_PALETTE = ("\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m", "\x1b[95m")
_SUPERVISOR_STYLE = "\x1b[1m"


def should_color(out: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only a terminal, and never when NO_COLOR is set to a non-empty value (no-color.org)."""
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty is not None and isatty())


class PrefixedWriter:
    """Writes `name | text` lines to one stream, names padded to the longest, coloured per name."""

    def __init__(self, out: TextIO, child_names: Sequence[str], *, supervisor_name: str, color: bool) -> None:
        self._out = out
        self._width = max(len(name) for name in (*child_names, supervisor_name))
        self._styles: dict[str, str] = {}
        if color:
            self._styles = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(child_names)}
            self._styles[supervisor_name] = _SUPERVISOR_STYLE

    def write_line(self, name: str, text: str) -> None:
        prefix = f"{name.ljust(self._width)} |"
        style = self._styles.get(name)
        if style is not None:
            prefix = f"{style}{prefix}{_RESET}"
        # One write per line keeps lines from different children whole; flush so logs stay live
        # when the supervisor's own output is a pipe.
        self._out.write(f"{prefix} {text}\n")
        self._out.flush()


async def read_line(reader: asyncio.StreamReader, line_bytes_max: int = LINE_BYTES_MAX) -> bytes:
    """The next line (newline included), a piece of at most line_bytes_max of a longer one, or b"" at EOF.

    The reader must have been created with `limit=line_bytes_max`, so its buffer stays bounded.
    """
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # the last, unterminated line; b"" once the stream is exhausted
    except asyncio.LimitOverrunError:
        # The buffer holds more than the limit without a newline: hand on a piece and carry on.
        return await reader.read(line_bytes_max)


def decode_line(raw: bytes) -> str:
    """Text of one raw line: undecodable bytes replaced, the line ending dropped."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def pump_lines(
    reader: asyncio.StreamReader,
    emit: Callable[[str], None],
    line_bytes_max: int = LINE_BYTES_MAX,
) -> None:
    """Pass every line of `reader` to `emit` until EOF."""
    while raw := await read_line(reader, line_bytes_max):
        emit(decode_line(raw))
