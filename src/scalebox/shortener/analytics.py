"""Visit analytics rules: enrichment of a raw Visit (agent, bot flag, referer host, place), the daily
rollups it feeds, and the query and summary shapes the analytics store answers.

Pure: no database and no framework. The only I/O is reading the MaxMind database it is pointed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol, get_args
from urllib.parse import urlsplit

import maxminddb
from cachetools import LRUCache
from ua_parser import BestAvailableResolver, Parser, Result, load_lazy_builtins

from scalebox.shortener.domain import Visit, VisitKind, anonymize_ip

AGENT_CACHE_SIZE_MAX = 20_000  # distinct user agents remembered; real traffic repeats a few thousand
MOMENT_CACHE_SIZE = 1024  # visit times (milliseconds) remembered
NAME_LENGTH_MAX = 128  # browser, OS, place and time zone names: rollup values sit in a primary key
HOST_LENGTH_MAX = 255  # a DNS name has at most 253 characters
CODE_LENGTH_MAX = 255  # orphan visits carry whatever path segment was asked for
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AT_MS_MAX = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last moment a datetime can hold

DeviceClass = Literal["desktop", "mobile", "tablet", "bot", "other"]
Dimension = Literal["total", "referrer", "country", "browser", "os", "device"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)

# Crawlers, link-preview fetchers and HTTP libraries that ua-parser does not file as "Spider".
# `bot\b` rather than `bot`: phone makers such as Cubot would otherwise count as robots.
_BOT_AGENT = re.compile(
    r"bot\b|crawl|spider|slurp|scrapy|preview|fetcher|externalhit|headless|lighthouse|pingdom|"
    r"uptime|embedly|ia_archiver|mediapartners|inspectiontool|whatsapp|http\.rb|"
    r"^(?:curl|wget|python-requests|python-urllib|python-httpx|aiohttp|httpx|go-http-client|java|"
    r"okhttp|libwww-perl|axios|node-fetch|undici|got|httpie|postmanruntime|insomnia|"
    r"apache-httpclient|guzzlehttp|ruby|php|dart|reqwest|rest-client|wordpress)\b",
    re.IGNORECASE,
)
# An IPv4 octet as `ipaddress` reads one: decimal 0-255, no leading zero.
_OCTET = re.compile(r"25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]")
# Android tablets leave "Mobile" out of their agent; these markers name tablets outright.
_TABLET_AGENT = re.compile(r"\bTablet\b(?! PC)|Kindle|Silk/|PlayBook", re.IGNORECASE)
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS", "Tizen"}
)
_DESKTOP_OS = frozenset(
    {
        "Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS",
        "FreeBSD", "OpenBSD", "NetBSD", "Solaris",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Agent:
    """What a user agent string says about the visitor."""

    browser: str
    os: str
    device: DeviceClass
    is_bot: bool


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is, as far as the geo database knows (None: unknown)."""

    country_code: str | None = None
    country_name: str | None = None
    region_name: str | None = None
    city_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    timezone: str | None = None


NOWHERE = Place()


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The fields a stored visit has beyond the raw Visit's (or in place of them: the address is
    anonymized, the code bounded, and an orphan visit carries no link)."""

    visited_at: datetime
    link_id: int | None
    code: str | None
    referer_host: str
    remote_addr: str | None
    agent: Agent
    place: Place


class Enricher:
    """Works out what a raw Visit implies (its Enrichment). Owns the ua-parser matchers, an LRU cache of
    parsed agents (bounded by `agent_cache_size`) and, when configured, an open MaxMind database."""

    def __init__(
        self, *, geoip_database: Path | None = None, agent_cache_size: int = AGENT_CACHE_SIZE_MAX
    ) -> None:
        assert 0 < agent_cache_size <= AGENT_CACHE_SIZE_MAX, agent_cache_size
        # No cache inside the parser: ours sits above it and also keeps the bot and device verdicts.
        self._parser = Parser(BestAvailableResolver(load_lazy_builtins()))
        self._agents: LRUCache[str, Agent] = LRUCache(maxsize=agent_cache_size)
        # Visitors come back and a few sites send most referrals: each address (anonymized, located)
        # and each referer is worked out once while it stays in these (functools': C, so cheap).
        self._address = lru_cache(maxsize=agent_cache_size)(self._work_out_address)
        self._referer_host = lru_cache(maxsize=agent_cache_size)(parse_referer_host)
        # Under load a batch's visits share milliseconds.
        self._visited_at = lru_cache(maxsize=MOMENT_CACHE_SIZE)(visited_at)
        self._geo = maxminddb.open_database(geoip_database) if geoip_database is not None else None

    def enrich(self, visit: Visit) -> Enrichment:
        remote_addr, place = self._address(visit.remote_addr)
        return Enrichment(
            visited_at=self._visited_at(visit.at_ms),
            link_id=visit.link_id if visit.kind == "valid" else None,
            code=None if visit.code is None else visit.code[:CODE_LENGTH_MAX],
            referer_host=self._referer_host(visit.referer),
            remote_addr=remote_addr,
            agent=self.describe_agent(visit.user_agent),
            place=place,
        )

    def describe_agent(self, user_agent: str) -> Agent:
        agent = self._agents.get(user_agent)
        if agent is None:
            agent = describe_parsed(user_agent, self._parser.parse(user_agent))
            self._agents[user_agent] = agent
        return agent

    def _work_out_address(self, address: str) -> tuple[str | None, Place]:
        # The raw address is located: a /24 would place the visitor less well.
        return anonymize_address(address), self.locate(address)

    def locate(self, address: str) -> Place:
        if self._geo is None or not address:
            return NOWHERE
        try:
            record = self._geo.get(address)
        except ValueError:  # not an address, or IPv6 asked of an IPv4-only database
            return NOWHERE
        return parse_place(record) if isinstance(record, dict) else NOWHERE

    def close(self) -> None:
        if self._geo is not None:
            self._geo.close()
            self._geo = None


def describe_parsed(user_agent: str, parsed: Result) -> Agent:
    """The Agent of a ua-parser result: families as names, a bot verdict, and a device class."""
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed.os else "Other"
    is_bot = (parsed.device is not None and parsed.device.family == "Spider") or bool(
        _BOT_AGENT.search(user_agent)
    )
    return Agent(
        browser=browser[:NAME_LENGTH_MAX],
        os=os_name[:NAME_LENGTH_MAX],
        device="bot" if is_bot else _device_class(user_agent, parsed, os_name),
        is_bot=is_bot,
    )


def _device_class(user_agent: str, parsed: Result, os_name: str) -> DeviceClass:
    family = parsed.device.family if parsed.device else "Other"
    brand = (parsed.device.brand if parsed.device else None) or ""
    if family == "iPad" or "Tablet" in brand or _TABLET_AGENT.search(user_agent):
        return "tablet"
    if os_name in _MOBILE_OS or family in ("iPhone", "iPod") or "Mobi" in user_agent:
        return "tablet" if os_name == "Android" and "Mobile" not in user_agent else "mobile"
    if os_name in _DESKTOP_OS:
        return "desktop"
    return "other"


def anonymize_address(address: str) -> str | None:
    """`anonymize_ip(address)`, with the usual dotted IPv4 form done without building an address."""
    octets = address.split(".")
    if len(octets) == 4 and all(_OCTET.fullmatch(octet) for octet in octets):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    return anonymize_ip(address)


def parse_referer_host(referer: str) -> str:
    """The lowercase host a Referer names; "" for none (a direct visit) or an unparsable one."""
    if not referer:
        return ""
    try:
        host = urlsplit(referer.strip()).hostname
    except ValueError:
        return ""
    return (host or "").rstrip(".")[:HOST_LENGTH_MAX]


def parse_place(record: Mapping[str, object]) -> Place:
    """A Place from a GeoLite2/GeoIP2 City (or Country) record; fields it lacks stay None."""
    location = record.get("location")
    location = location if isinstance(location, Mapping) else {}
    subdivisions = record.get("subdivisions")
    region = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    country = record.get("country")
    return Place(
        country_code=_text(country.get("iso_code") if isinstance(country, Mapping) else None),
        country_name=_english_name(country),
        region_name=_english_name(region),
        city_name=_english_name(record.get("city")),
        latitude=_number(location.get("latitude")),
        longitude=_number(location.get("longitude")),
        timezone=_text(location.get("time_zone")),
    )


def _english_name(entry: object) -> str | None:
    names = entry.get("names") if isinstance(entry, Mapping) else None
    return _text(names.get("en")) if isinstance(names, Mapping) else None


def _text(value: object) -> str | None:
    return value[:NAME_LENGTH_MAX] if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def visited_at(at_ms: int) -> datetime:
    """The aware UTC moment of a visit's `at_ms` (exact: no float rounding)."""
    assert 0 <= at_ms <= _AT_MS_MAX, at_ms
    return _EPOCH + timedelta(milliseconds=at_ms)


def valid_at_ms(at_ms: object) -> bool:
    return isinstance(at_ms, int) and not isinstance(at_ms, bool) and 0 <= at_ms <= _AT_MS_MAX


# ---------------------------------------------------------------------------------------------
# Rollups: per link, UTC day and bot flag, a count per value of each dimension


def day_of(moment: datetime) -> str:
    """The UTC day a moment falls on, as rollups and visits store it: 'YYYY-MM-DD'."""
    return moment.astimezone(UTC).date().isoformat()


def parse_day(day: str) -> date:
    return date.fromisoformat(day)


class RolledUp(Protocol):
    """What rollups read of a stored visit (ports.StoredVisit has it all)."""

    @property
    def referer_host(self) -> str: ...
    @property
    def country_code(self) -> str | None: ...
    @property
    def browser(self) -> str: ...
    @property
    def os(self) -> str: ...
    @property
    def device(self) -> str: ...


def rollup_values(visit: RolledUp) -> tuple[tuple[Dimension, str], ...]:
    """The (dimension, value) pairs one visit adds 1 to; "" is the value for unknown or direct."""
    return (
        ("total", ""),
        ("referrer", visit.referer_host),
        ("country", visit.country_code or ""),
        ("browser", visit.browser),
        ("os", visit.os),
        ("device", visit.device),
    )


# ---------------------------------------------------------------------------------------------
# What the analytics store answers


@dataclass(frozen=True, slots=True)
class VisitQuery:
    """A page of stored visits, newest first.

    Link visits (`orphan` False) are scoped by `owner_id` (None: every link, for administrators) and
    optionally narrowed to one link or one tag. Orphan visits belong to no link and so to no owner:
    callers let only administrators ask for them; `kind` narrows them to one kind.
    """

    owner_id: int | None = None
    orphan: bool = False
    link_id: int | None = None
    tag: str | None = None
    kind: VisitKind | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # inclusive
    exclude_bots: bool = False
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class VisitCounts:
    total: int = 0
    bots: int = 0

    @property
    def non_bots(self) -> int:
        return self.total - self.bots


@dataclass(frozen=True, slots=True)
class VisitSummary:
    """Shlink's visits overview: link ("non-orphan") visits and orphan visits, bots split out."""

    non_orphan: VisitCounts
    orphan: VisitCounts


def visit_problem(visit: Visit) -> str | None:
    """Why a decoded Visit cannot be stored (fields of the wrong type or out of range), or None.

    `Visit.decode` checks the shape of the JSON; this checks the values, so one bad event is skipped
    by the consumer instead of failing its whole batch in the database.
    """
    if not valid_at_ms(visit.at_ms):
        return f"at_ms {visit.at_ms!r} is not a time in milliseconds"
    if not (
        type(visit.user_agent) is str
        and type(visit.referer) is str
        and type(visit.remote_addr) is str
        and type(visit.visited_url) is str
        and type(visit.redirect_url) is str
    ):  # decoded JSON holds exact types, so no subclass checks (this runs for every visit stored)
        return "a text field is not a string"
    if visit.code is not None and not isinstance(visit.code, str):
        return "code is not a string"
    link_id = visit.link_id
    if visit.kind == "valid" and (
        not isinstance(link_id, int) or isinstance(link_id, bool) or not 0 <= link_id < 2**63
    ):
        return f"a link visit needs a link id, not {link_id!r}"
    return None
