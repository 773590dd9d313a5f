"""What the shortener's services need from storage: links, tags and the blocklist; visits and rollups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from scalebox.shortener.domain import Link, VisitKind

OrderField = Literal["dateCreated", "shortCode", "longUrl", "title", "visits", "nonBotVisits"]


@dataclass(frozen=True, slots=True)
class LinkQuery:
    """A page of an owner's links. `owner_id` None means every link (administrators)."""

    owner_id: int | None
    search: str | None = None
    tags: tuple[str, ...] = ()
    tags_mode: Literal["any", "all"] = "any"
    start: datetime | None = None
    end: datetime | None = None
    exclude_max_visits_reached: bool = False
    exclude_past_valid_until: bool = False
    now: datetime | None = None  # for the two exclusions
    order_by: OrderField = "dateCreated"
    descending: bool = True
    limit: int = 10
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TagCount:
    tag: str
    links: int
    visits: int
    bot_visits: int


class LinkRepository(Protocol):
    async def reserve_numbers(self, count: int) -> int:
        """Reserve `count` consecutive code numbers for this process; returns the first."""
        ...

    async def add(self, link: Link) -> None:
        """Store a new link; SlugTakenError when its folded code is taken."""
        ...

    async def get(self, folded_code: str) -> Link | None: ...

    async def get_many(self, folded_codes: Sequence[str]) -> dict[str, Link]:
        """The links among `folded_codes` that exist, by folded code."""
        ...

    async def get_by_id(self, link_id: int) -> Link | None: ...

    async def find_same(self, owner_id: int | None, url_hash: str) -> Link | None:
        """The owner's newest non-custom link to the same normalized URL (idempotent create)."""
        ...

    async def update(self, link: Link) -> None:
        """Store changed fields (not visit counters); tags are replaced."""
        ...

    async def delete(self, link_id: int) -> bool: ...

    async def page(self, query: LinkQuery) -> tuple[list[Link], int]:
        """The page of links matching `query`, and how many match in all."""
        ...

    async def tags(self, owner_id: int | None) -> list[TagCount]: ...

    async def rename_tag(self, owner_id: int | None, old: str, new: str) -> int:
        """Rename a tag on the owner's links; returns how many links changed."""
        ...

    async def delete_tags(self, owner_id: int | None, tags: Sequence[str]) -> int: ...

    async def links_to_hosts(self, hosts: Sequence[str], *, enabled_only: bool = True) -> list[Link]:
        """Links whose target host is one of `hosts` (the blocklist rescan)."""
        ...

    async def target_hosts(self) -> list[str]:
        """Every distinct target host of enabled links."""
        ...

    async def counts(self) -> tuple[int, int]:
        """How many links there are, and how many visits they have stored."""
        ...

    async def block_domain(self, domain: str, reason: str, at: datetime) -> bool: ...

    async def unblock_domain(self, domain: str) -> bool: ...

    async def blocked_domains(self) -> list[tuple[str, str, datetime]]: ...


@dataclass(frozen=True, slots=True)
class StoredVisit:
    """A visit after enrichment, as stored and as the dashboard and the Shlink API show it."""

    event_id: int
    kind: VisitKind
    visited_at: datetime
    link_id: int | None
    code: str | None
    referer: str
    referer_host: str
    remote_addr: str | None  # anonymized
    user_agent: str
    browser: str
    os: str
    device: str
    is_bot: bool
    country_code: str | None
    country_name: str | None
    region_name: str | None
    city_name: str | None
    latitude: float | None
    longitude: float | None
    timezone: str | None
    visited_url: str
    redirect_url: str
