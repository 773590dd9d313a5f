"""Byte counts for people: `render_size(1536)` is "1.5 KiB" (binary units, one decimal above bytes)."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def render_size(size_bytes: int) -> str:
    """`1.5 MiB`: binary units, one decimal above bytes."""
    size = float(size_bytes)
    for unit in _UNITS[:-1]:
        if size < 1024:
            return f"{size_bytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} {_UNITS[-1]}"
