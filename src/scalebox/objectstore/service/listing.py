"""One page of a listing with S3's delimiter roll-up, over any scan in key order.

ListObjects, ListObjectVersions and ListMultipartUploads differ only in what they scan and in the
cursor that says where a scan goes on from; the roll-up is the same: keys with the delimiter after
the prefix become one CommonPrefixes entry, the scan then jumps past every key under it, and an
entry a previous page ended on (the key marker) is not repeated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from scalebox.objectstore.domain import common_prefix, prefix_successor

Row = TypeVar("Row")
Cursor = TypeVar("Cursor")
# (lower bound of keys, cursor after which the scan goes on, how many rows) -> rows in key order
Scan = Callable[[str, Cursor, int], Awaitable[Sequence[Row]]]


@dataclass(frozen=True, slots=True)
class RolledPage(Generic[Row]):
    rows: tuple[Row, ...]
    prefixes: tuple[str, ...]
    truncated: bool
    last: Row | str | None  # the page's last entry, a row or a common prefix: the next page's marker


async def roll_up(
    scan: Scan[Cursor, Row],
    *,
    key_of: Callable[[Row], str],
    cursor_of: Callable[[Row], Cursor],
    start: Cursor,
    fresh: Cursor,
    prefix: str,
    delimiter: str,
    key_marker: str,
    limit: int,
) -> RolledPage[Row]:
    """Up to `limit` rows and common prefixes from `start` on; `fresh` is a cursor that excludes nothing,
    used once a roll-up has moved the lower bound past a prefix."""
    rows: list[Row] = []
    prefixes: list[str] = []
    last: Row | str | None = None
    lower, cursor = prefix, start
    while True:
        room = limit - len(rows) - len(prefixes)
        batch = await scan(lower, cursor, room + 1)
        rolled_up = False
        for row in batch:
            rollup = common_prefix(key_of(row), prefix, delimiter)
            if rollup is not None and key_marker.startswith(rollup):  # returned on an earlier page
                lower, cursor, rolled_up = _past(rollup), fresh, True
                break
            if len(rows) + len(prefixes) >= limit:
                return RolledPage(tuple(rows), tuple(prefixes), True, last)
            if rollup is None:
                rows.append(row)
                cursor, last = cursor_of(row), row
                continue
            prefixes.append(rollup)
            last = rollup
            lower, cursor, rolled_up = _past(rollup), fresh, True
            break
        if not rolled_up and len(batch) <= room:
            return RolledPage(tuple(rows), tuple(prefixes), False, last)


def _past(rollup: str) -> str:
    """The least key after every key starting with `rollup`."""
    return prefix_successor(rollup) or "\U0010ffff"
