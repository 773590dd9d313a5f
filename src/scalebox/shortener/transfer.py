"""CSV import and export of links: our own format (which round-trips), YOURLS and Bitly exports, and any
CSV with a long-URL column. Pure: bytes in, checked rows out; the service decides what to create.

Our format, one link per row, header first (`COLUMNS`): `tags` are joined with `|` (a `|` or `\\` inside
a tag is escaped with `\\`), dates are ISO 8601 in UTC, empty cells mean "not set". A cell that a
spreadsheet would run as a formula (leading `= + - @`, tab or CR) gets a leading apostrophe on export,
and import removes it again, so export → import gives back the same links.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from scalebox.core.errors import TooLargeError
from scalebox.shortener.domain import (
    REDIRECT_TYPES,
    TITLE_LENGTH_MAX,
    Link,
    RedirectType,
    check_tags,
    check_target,
    check_window,
    fold,
    validate_slug,
)
from scalebox.shortener.errors import InvalidLinkError

Format = Literal["scalebox", "yourls", "bitly", "generic"]
COLUMNS = (
    "short_code", "short_url", "long_url", "title", "tags", "created_at",
    "valid_since", "valid_until", "max_visits", "redirect_type", "visits",
)  # fmt: skip
ROWS_MAX = 50_000
# Our widest row is about 5,000 characters (URL 2,048, title 512, 32 tags of 64); the csv module's
# own field limit (131,072 by default, process-global) stays above this so ours is the one that fires.
RECORD_CHARS_MAX = 16_384
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_CHUNK_ROWS = 500

# Where each field of a row comes from, per format: header spellings normalised by `_normalize`,
# first present wins. Bitly's bitlink ("bit.ly/abc") and custom back-halves give the slug.
_SOURCES: Mapping[Format, Mapping[str, tuple[str, ...]]] = {
    "scalebox": {name: (name,) for name in COLUMNS} | {"slug": ("short_code",)},
    "yourls": {
        "long_url": ("url",), "slug": ("keyword",), "title": ("title",),
        "created_at": ("timestamp",), "visits": ("clicks",),
    },
    "bitly": {
        "long_url": ("long_url", "longurl", "destination_url", "destination", "url"),
        "back_halves": ("custom_back_halves", "custom_back_half", "custom_bitlinks", "custom_bitlink"),
        "short_url": ("bitlink", "bitlinks", "link", "short_link", "id"),
        "title": ("title",), "tags": ("tags", "tag"),
        "created_at": ("created", "created_at", "date_created", "creation_date", "date"),
        "visits": ("clicks", "total_clicks", "engagements", "total_engagements"),
    },
    "generic": {
        "long_url": (
            "long_url", "longurl", "url", "destination_url", "original_url", "target_url",
            "destination", "target",
        ),
        "slug": (
            "slug", "custom_slug", "customslug", "short_code", "shortcode", "keyword", "code",
            "alias", "back_half",
        ),
        "short_url": ("short_url", "shorturl", "short_link"),
        "title": ("title", "name"), "tags": ("tags", "tag"),
        "created_at": ("created_at", "createdat", "created", "date_created", "timestamp", "date"),
        "visits": ("visits", "visits_count", "visit_count", "clicks", "hits"),
    },
}  # fmt: skip
_BITLY_MARKS = frozenset({"bitlink", "bitlinks", "custom_back_halves", "custom_back_half", "custom_bitlinks"})


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One importable link. `line` is where its record starts in the file (the header is line 1).

    The last four fields only come from our own format; other formats leave them unset.
    """

    line: int
    long_url: str
    slug: str | None
    title: str | None
    tags: tuple[str, ...]
    created_at: datetime | None
    visits: int | None
    valid_since: datetime | None = None
    valid_until: datetime | None = None
    max_visits: int | None = None
    redirect_type: RedirectType | None = None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that failed a check, kept so the user sees every problem at once instead of the first."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    format: Format
    rows: tuple[ImportRow, ...]
    errors: tuple[RejectedRow, ...]


# ---------------------------------------------------------------------------------------------
# Import


def parse_import(
    data: bytes, *, rows_max: int = ROWS_MAX, record_chars_max: int = RECORD_CHARS_MAX
) -> ImportResult:
    """Rows of a CSV file, its format told by the header; bad rows become `errors`, not exceptions.

    Raises InvalidLinkError for a file that is not UTF-8 CSV text or has no long-URL column, and
    TooLargeError past `rows_max` data rows or a record longer than `record_chars_max` characters.
    The total size is the caller's to bound before reading the body.
    """
    lines = _BoundedLines(_decode(data), record_chars_max)
    reader = csv.reader(lines, delimiter=_delimiter(lines))
    names = [_normalize(name) for name in _header(reader, lines)]
    file_format = _detect(names)
    columns = _columns(file_format, names)
    rows: list[ImportRow] = []
    errors: list[RejectedRow] = []
    slug_lines: dict[str, int] = {}
    count = 0
    while (record := _next_record(reader, lines)) is not None:
        if not any(cell.strip() for cell in record):
            continue
        count += 1
        if count > rows_max:
            raise TooLargeError(f"the file has more than {rows_max:,} rows")
        line = lines.record_line
        try:
            row = _parse_row(line, _cells(record, columns), file_format)
        except InvalidLinkError as exc:
            errors.append(RejectedRow(line, exc.detail))
            continue
        if row.slug is not None and (first := slug_lines.setdefault(fold(row.slug), line)) != line:
            errors.append(RejectedRow(line, f"slug '{row.slug}' is already used on line {first}"))
            continue
        rows.append(row)
    return ImportResult(file_format, tuple(rows), tuple(errors))


class _BoundedLines:
    """Physical lines for csv.reader that refuse a record longer than the limit.

    csv.field_size_limit is process-global, so it cannot be a per-call limit; counting what the reader
    pulls for the current record bounds every field in it and stops a runaway quoted field early.
    """

    def __init__(self, text: str, record_chars_max: int) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self._record_chars_max = record_chars_max
        self._record_chars = 0
        self.line = 0  # physical lines handed out so far
        self.record_line = 1  # where the record being read starts

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        text = next(self._lines)
        self.line += 1
        self._record_chars += len(text)
        if self._record_chars > self._record_chars_max:
            raise TooLargeError(
                f"line {self.record_line}: a row is longer than {self._record_chars_max:,} characters"
            )
        return text

    def peek(self) -> str:
        """The next line without consuming it for the reader (used to sniff the delimiter)."""
        text = next(self._lines, "")
        if text:
            self._lines = itertools.chain((text,), self._lines)
        return text

    def start_record(self) -> None:
        self._record_chars = 0
        self.record_line = self.line + 1


def _next_record(reader: Iterator[list[str]], lines: _BoundedLines) -> list[str] | None:
    lines.start_record()
    try:
        return next(reader, None)
    except csv.Error as exc:
        raise InvalidLinkError(f"line {lines.record_line}: malformed CSV: {exc}", field="file") from exc


def _header(reader: Iterator[list[str]], lines: _BoundedLines) -> list[str]:
    """The first non-blank record."""
    while (header := _next_record(reader, lines)) is not None:
        if any(cell.strip() for cell in header):
            return header
    raise InvalidLinkError("the file is empty", field="file")


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidLinkError("the file is UTF-16 text; export it as 'CSV UTF-8' instead", field="file")
    if b"\x00" in data:
        raise InvalidLinkError("the file is binary, not CSV text (it contains NUL bytes)", field="file")
    body = data.removeprefix(b"\xef\xbb\xbf")  # the BOM Excel writes; offsets below count from the file start
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise InvalidLinkError(
            f"the file is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset "
            f"{exc.start + len(data) - len(body)}); "
            "export it as 'CSV UTF-8'",
            field="file",
        ) from exc


def _delimiter(lines: _BoundedLines) -> str:
    """',' or ';' as the header line uses it; Excel's `sep=;` hint line is honoured and skipped."""
    first = lines.peek()
    hint = re.fullmatch(r"sep=([,;])\s*", first)
    if hint:
        next(lines)
        return hint.group(1)
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;").delimiter
    except csv.Error:  # one column: nothing to tell apart
        return ","
    return delimiter if delimiter in (",", ";") else ","


def _normalize(name: str) -> str:
    """'Long URL', 'long-url' and ' LONG_URL ' all become 'long_url'; 'longUrl' becomes 'longurl'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _detect(names: list[str]) -> Format:
    present = set(names)
    if present >= set(COLUMNS):
        return "scalebox"
    if present >= {"keyword", "url"}:
        return "yourls"
    if present & _BITLY_MARKS:
        return "bitly"
    if present & set(_SOURCES["generic"]["long_url"]):
        return "generic"
    raise InvalidLinkError(
        "the file has no long URL column: expected a header such as 'url', 'long_url' or 'Long URL'",
        field="file",
    )


def _columns(file_format: Format, names: list[str]) -> dict[str, int]:
    """Field → column index for the fields this file has (the first of duplicate headers wins)."""
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        positions.setdefault(name, index)
    columns = {}
    for field_name, spellings in _SOURCES[file_format].items():
        found = next((positions[name] for name in spellings if name in positions), None)
        if found is not None:
            columns[field_name] = found
    if "long_url" not in columns:
        raise InvalidLinkError(f"the {file_format} file has no long URL column", field="file")
    return columns


def _cells(record: list[str], columns: dict[str, int]) -> Callable[[str], str]:
    def cell(field_name: str) -> str:
        index = columns.get(field_name)
        if index is None or index >= len(record):
            return ""
        return _unescape_formula(record[index]).strip()

    return cell


def _parse_row(line: int, cell: Callable[[str], str], file_format: Format) -> ImportRow:
    long_url = check_target(cell("long_url")).url
    slug = cell("slug") or _slug_of(_first(cell("back_halves"))) or _slug_of(cell("short_url"))
    if slug:
        try:
            validate_slug(slug)
        except InvalidLinkError as exc:
            raise InvalidLinkError(f"slug '{slug[:80]}': {exc.detail}") from exc
    title = cell("title") or None
    if title is not None and len(title) > TITLE_LENGTH_MAX:  # a display hint: cutting beats refusing
        title = title[: TITLE_LENGTH_MAX - 1] + "…"
    ours = file_format == "scalebox"
    tags = check_tags(_split_tags(cell("tags"), escaped=ours))
    created_at = _moment(cell("created_at"), "created_at")
    visits = _count(cell("visits"), "visits", minimum=0)
    if not ours:
        return ImportRow(line, long_url, slug or None, title, tags, created_at, visits)
    valid_since = _moment(cell("valid_since"), "valid_since")
    valid_until = _moment(cell("valid_until"), "valid_until")
    check_window(valid_since, valid_until)
    return ImportRow(
        line, long_url, slug or None, title, tags, created_at, visits, valid_since, valid_until,
        _count(cell("max_visits"), "max_visits", minimum=1), _redirect_type(cell("redirect_type")),
    )  # fmt: skip


def _first(text: str) -> str:
    """The first of several values in one cell (Bitly lists every custom back-half of a link)."""
    return re.split(r"[\s,|]+", text.strip(), maxsplit=1)[0]


def _slug_of(short_url: str) -> str:
    """The slug in 'https://sho.rt/abc?x', 'bit.ly/abc' or a bare 'abc'; '' for a bare domain."""
    text = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", short_url)
    segments = [part for part in re.split(r"[?#]", text, maxsplit=1)[0].split("/") if part]
    if not segments or (len(segments) == 1 and "." in segments[0]):
        return ""
    return segments[-1]


def _redirect_type(text: str) -> RedirectType | None:
    number = _count(text, "redirect_type", minimum=0)
    if number is not None and number not in REDIRECT_TYPES:
        raise InvalidLinkError(f"redirect_type is one of {', '.join(map(str, REDIRECT_TYPES))}")
    return cast(RedirectType | None, number)


def _split_tags(text: str, *, escaped: bool) -> list[str]:
    """Our format joins with '|' and escapes with '\\'; other tools use ',', ';' or '|' and no escape."""
    if not escaped:
        return re.split(r"[|,;]", text) if text else []
    tags, current, chars = [], [], iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == "|":
            tags.append("".join(current))
            current = []
        else:
            current.append(char)
    tags.append("".join(current))
    return tags


def _moment(text: str, column: str) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (naive means UTC: YOURLS stores server time without a zone),
    'YYYY-MM-DD HH:MM:SS UTC', or Unix seconds."""
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{1,12}(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        if text.upper().endswith((" UTC", " GMT")):
            text = text[:-4]
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidLinkError(
            f"{column}: '{text[:40]}' is not a date (use ISO 8601, e.g. 2024-05-01T12:00:00Z)"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _count(text: str, column: str, *, minimum: int) -> int | None:
    if not text:
        return None
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):  # "1,234" as spreadsheets format counts
        text = text.replace(",", "")
    if not re.fullmatch(r"\d{1,18}", text) or int(text) < minimum:
        raise InvalidLinkError(f"{column}: '{text[:40]}' is not a whole number of at least {minimum}")
    return int(text)


def _unescape_formula(cell: str) -> str:
    """Undo `_spreadsheet_safe` (whatever tool wrote the file: the convention is the same)."""
    if cell[:1] == "'" and cell[1:2] in (*_FORMULA_LEADS, "'"):
        return cell[1:]
    return cell


# ---------------------------------------------------------------------------------------------
# Export


def export_csv(links: Iterable[Link], base_url: str) -> Iterator[str]:
    """Our CSV format, header first, in chunks of a few hundred rows to stream as a download."""
    base = base_url.rstrip("/")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    for count, link in enumerate(links, 1):
        writer.writerow([_spreadsheet_safe(cell) for cell in _export_cells(link, base)])
        if count % _CHUNK_ROWS == 0:
            yield _drain(buffer)
    if tail := _drain(buffer):
        yield tail


def _export_cells(link: Link, base: str) -> tuple[str, ...]:
    def optional(value: object) -> str:
        return "" if value is None else str(value)

    return (
        link.code,
        f"{base}/{link.code}",
        link.long_url,
        optional(link.title),
        "|".join(tag.replace("\\", "\\\\").replace("|", "\\|") for tag in link.tags),
        _iso(link.created_at),
        _iso(link.valid_since),
        _iso(link.valid_until),
        optional(link.max_visits),
        str(link.redirect_type),
        str(link.visits),
    )


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).isoformat()


def _spreadsheet_safe(cell: str) -> str:
    """A leading apostrophe stops spreadsheets running a cell as a formula (CSV injection); a cell
    already starting with one gets another so import can tell the two apart. NUL is dropped: it is
    never meaningful text, and import takes a file holding one for binary."""
    cell = cell.replace("\x00", "")
    return "'" + cell if cell.startswith((*_FORMULA_LEADS, "'")) else cell


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
