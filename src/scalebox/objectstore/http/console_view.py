"""How the console's pages show things: links to buckets and keys (every key URL-encoded, whatever it
holds), sizes, breadcrumbs, the download header, and the usage chart's geometry. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

from scalebox.core.size import render_size
from scalebox.core.web import charts as core_charts
from scalebox.core.web.charts import BarChart

CHART_LABEL_WIDTH = 160


def _query(**params: str) -> str:
    """`?a=…&b=…` from the non-empty values, every reserved character encoded ('/', '?', '#', '%', ' ')."""
    given = {name: value for name, value in params.items() if value}
    return "?" + urlencode(given, quote_via=quote, safe="") if given else ""


def bucket_path(bucket: str) -> str:
    """`/buckets/<name>`, the root of a bucket's pages and the forms that post to them."""
    return f"/buckets/{quote(bucket, safe='')}"


def bucket_url(bucket: str, prefix: str = "", marker: str = "", note: str = "") -> str:
    """A bucket's page at `prefix`, from `marker` on. The prefix travels in the query, not the path:
    keys may hold '.' and '..' segments, which browsers would resolve away in a path."""
    return bucket_path(bucket) + _query(prefix=prefix, marker=marker, note=note)


def object_url(bucket: str, key: str, version: str = "") -> str:
    return f"{bucket_path(bucket)}/object{_query(key=key, version=version)}"


def download_url(bucket: str, key: str, version: str = "") -> str:
    return f"{bucket_path(bucket)}/download{_query(key=key, version=version)}"


def parent_prefix(key: str) -> str:
    """The folder a key is listed in with '/' as the delimiter: `a/b/c` → `a/b/`, `c` → ``."""
    head, slash, _tail = key.rpartition("/")
    return head + slash


def breadcrumbs(prefix: str) -> list[tuple[str, str]]:
    """(label, prefix) for each folder on the way to `prefix`; a trailing partial name is a crumb too."""
    crumbs: list[tuple[str, str]] = []
    start = 0
    while start < len(prefix):
        end = prefix.find("/", start)
        end = len(prefix) if end < 0 else end + 1
        crumbs.append((prefix[start:end], prefix[:end]))
        start = end
    return crumbs


def attachment_header(key: str) -> str:
    """A Content-Disposition that saves the object under its key's last segment (RFC 6266 / 5987):
    an ASCII fallback for old clients, the exact UTF-8 name for everyone else."""
    name = key.rpartition("/")[2] or "download"
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def layout_bar_chart(rows: Sequence[tuple[str, int]]) -> BarChart:
    return core_charts.layout_bar_chart(rows, label_width=CHART_LABEL_WIDTH)


def template_globals() -> dict[str, object]:
    return {
        "bucket_path": bucket_path,
        "bucket_url": bucket_url,
        "parent_prefix": parent_prefix,
        "object_url": object_url,
        "download_url": download_url,
        "render_size": render_size,
        "breadcrumbs": breadcrumbs,
    }
