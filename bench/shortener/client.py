"""HTTP the harness does itself (httpx): seeding links through the Shlink REST API, the sweep that
touches every code once on both servers, and reading our /metrics and stored visit counts."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import httpx
from bench.common.processes import Server

T = TypeVar("T")

CONCURRENCY = 16
# Real browsers' agents, rotated over the requests (the analytics consumer parses each distinct one
# once and caches it). nginx ignores them.
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)


def long_url(index: int) -> str:
    return f"https://example.com/bench/{index}"


def _in_threads(server: Server, count: int, call: Callable[[httpx.Client, int], T]) -> list[T]:
    """call(client, index) for every index below `count`, on CONCURRENCY threads with a keep-alive
    httpx.Client each (httpx's async client spent several ms of CPU per request on this machine)."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def run(index: int) -> T:
        http = getattr(local, "client", None)
        if http is None:
            http = local.client = httpx.Client(base_url=server.base_url, timeout=30)
            with lock:
                clients.append(http)
        return call(http, index)

    try:
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(run, range(count)))
    finally:
        for http in clients:
            http.close()


def seed(server: Server, api_key: str, count: int) -> list[tuple[str, str]]:
    """Create `count` links through POST /rest/v3/short-urls; returns (short code, long URL) pairs."""
    headers = {"X-Api-Key": api_key, "Accept": "application/json"}

    def create(http: httpx.Client, index: int) -> tuple[str, str]:
        url = long_url(index)
        response = http.post(
            "/rest/v3/short-urls", json={"longUrl": url, "findIfExists": False}, headers=headers
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"POST /rest/v3/short-urls answered {response.status_code}: {response.text[:500]}"
            )
        code: str = response.json()["shortCode"]
        return code, url

    return _in_threads(server, count, create)


@dataclass(frozen=True)
class Sweep:
    """One GET of every code: the answers by status, and how many redirected somewhere else than
    the link's long URL."""

    statuses: Counter[int]
    wrong_location: int
    seconds: float

    @property
    def redirects(self) -> int:
        return sum(count for status, count in self.statuses.items() if 300 <= status < 400)


def sweep(server: Server, links: Sequence[tuple[str, str]]) -> Sweep:
    """GET every short code once (no redirects followed) and check where each one points.

    It is the fair warm-up: our server fills its in-process LRU on the first hit of each code (that
    hit reads the link from the database), nginx gets the same requests.
    """
    started = time.monotonic()

    def visit(http: httpx.Client, index: int) -> tuple[int, bool]:
        code, url = links[index]
        response = http.get(f"/{code}", headers={"User-Agent": USER_AGENTS[index % len(USER_AGENTS)]})
        return response.status_code, response.headers.get("location") == url

    answers = _in_threads(server, len(links), visit)
    return Sweep(
        Counter(status for status, _ in answers),
        sum(1 for _, right in answers if not right),
        time.monotonic() - started,
    )


# ---------------------------------------------------------------------------------------------
# our figures

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")


def metrics(server: Server) -> dict[str, float]:
    """Our /metrics, flattened to {'name{labels}': value}."""
    response = httpx.get(f"{server.base_url}/metrics", timeout=30)
    response.raise_for_status()
    found: dict[str, float] = {}
    for line in response.text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = match["labels"] or ""
            found[f"{match['name']}{{{labels}}}" if labels else match["name"]] = float(match["value"])
    return found


@dataclass(frozen=True)
class VisitCounts:
    recorded: int
    published: int
    dropped: int
    buffered: int
    stored: int  # non-orphan visits, GET /rest/v3/visits
    stored_orphan: int


def visit_counts(server: Server, api_key: str) -> VisitCounts:
    figures = metrics(server)

    def visits(outcome: str) -> int:
        return int(figures.get(f'shortener_visits_total{{outcome="{outcome}"}}', 0))

    response = httpx.get(
        f"{server.base_url}/rest/v3/visits",
        headers={"X-Api-Key": api_key, "Accept": "application/json"},
        timeout=30,
    )
    response.raise_for_status()
    summary = response.json()["visits"]
    return VisitCounts(
        recorded=visits("recorded"),
        published=visits("published"),
        dropped=visits("dropped"),
        buffered=int(figures.get("shortener_visits_buffered", 0)),
        stored=int(summary["nonOrphanVisits"]["total"]),
        stored_orphan=int(summary.get("orphanVisits", {}).get("total", 0)),
    )


def wait_stored(
    server: Server, api_key: str, timeout_s: float, *, answered: int = 0
) -> tuple[VisitCounts, float]:
    """Poll until every published visit is stored and nothing is left to publish, at most `timeout_s`.
    With several server processes /metrics speaks for one of them, so then (answered > 0) the wait is
    for the stored count to reach what the clients were answered.

    Returns the last counts and the seconds waited (so a timeout shows as counts that differ)."""
    started = time.monotonic()
    while True:
        counts = visit_counts(server, api_key)
        settled = counts.buffered == 0 and counts.published == counts.recorded - counts.dropped
        if answered:
            settled = counts.stored >= answered
        if settled and counts.stored >= counts.published:
            return counts, time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return counts, time.monotonic() - started
        time.sleep(0.5)
