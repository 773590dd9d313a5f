"""Use cases on links: create (one, bulk), read, edit, delete, redirect rules, tags, and the blocklist."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scalebox.core.clock import Clock
from scalebox.core.errors import DomainError, ForbiddenError, InvalidError
from scalebox.core.ratelimit import RateLimiter
from scalebox.shortener.domain import (
    CODE_SPACE,
    REDIRECT_TYPES,
    SLUG_LENGTH_MIN,
    TITLE_LENGTH_MAX,
    CodeCipher,
    Link,
    RedirectRule,
    check_rules,
    check_tags,
    check_target,
    check_window,
    fold,
    host_blocked,
    normalize_domain,
    validate_slug,
)
from scalebox.shortener.errors import (
    BlockedDomainError,
    CreateLimitError,
    InvalidLinkError,
    LinkNotFoundError,
    SlugTakenError,
    TagNotFoundError,
)
from scalebox.shortener.ports import LinkQuery, LinkRepository, TagCount
from scalebox.shortener.service.redirects import LinkSource

logger = logging.getLogger(__name__)

_MINT_ATTEMPTS = 8
_PAGE_SIZE_MAX = 1000
BLOCKED_REASON = "blocked domain"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: an account (None: anonymous), whether an administrator, and the client address."""

    account_id: int | None = None
    is_admin: bool = False
    ip: str = "unknown"

    @property
    def scope(self) -> int | None:
        """The owner whose links this actor sees: their own; administrators see every link (None)."""
        return None if self.is_admin else self.account_id


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """What a caller asks for when creating a link; unchecked until `LinkService.create`."""

    long_url: str
    custom_slug: str | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    valid_since: datetime | None = None
    valid_until: datetime | None = None
    max_visits: int | None = None
    redirect_type: int = 302
    forward_query: bool = True
    crawlable: bool = False
    rules: tuple[Mapping[str, Any], ...] = ()
    # None: return the owner's existing link to the same URL when its options are the same (a retry);
    # True: return it whatever its options (Shlink's findIfExists); False: always a new link.
    find_if_exists: bool | None = None
    created_at: datetime | None = None  # imports keep the original date; others get now


@dataclass(frozen=True, slots=True)
class Limits:
    create_per_minute_anonymous: int = 10
    create_per_minute_account: int = 600
    bulk_links_max: int = 1000
    code_block_size: int = 1000
    import_rows_max: int = 50_000
    imports_per_minute: int = 10


@dataclass
class _CodeBlock:
    next: int = 0
    end: int = 0


@dataclass
class Blocklist:
    """Blocked domains: the database's list (managed through the API and pages) plus an optional file."""

    stored: frozenset[str] = frozenset()
    from_file: frozenset[str] = frozenset()
    file: Path | None = None
    file_mtime: float | None = field(default=None, repr=False)

    @property
    def domains(self) -> frozenset[str]:
        return self.stored | self.from_file

    def blocks(self, host: str) -> bool:
        return host_blocked(host, self.domains)

    def reload_file(self) -> None:
        if self.file is None:
            return
        try:
            mtime = self.file.stat().st_mtime
        except FileNotFoundError:
            self.from_file, self.file_mtime = frozenset(), None
            return
        if mtime == self.file_mtime:
            return
        domains = set()
        for number, line in enumerate(self.file.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                domains.add(normalize_domain(text))
            except DomainError:
                logger.warning("blocklist %s line %d: %r is not a domain; skipped", self.file, number, text)
        self.from_file, self.file_mtime = frozenset(domains), mtime


class LinkService:
    def __init__(
        self,
        *,
        repo: LinkRepository,
        source: LinkSource,
        cipher: CodeCipher,
        new_id: Callable[[], int],
        clock: Clock,
        limiter: RateLimiter,
        limits: Limits,
        blocklist: Blocklist,
        own_hosts: Iterable[str] = (),
    ) -> None:
        self._repo = repo
        self._source = source
        self._cipher = cipher
        self._new_id = new_id
        self._clock = clock
        self._limiter = limiter
        self._limits = limits
        self.blocklist = blocklist
        self.own_hosts = frozenset(host.lower() for host in own_hosts)
        self._block = _CodeBlock()
        self._block_lock = asyncio.Lock()

    # -- creating ------------------------------------------------------------------------------

    async def create(self, actor: Actor, spec: LinkSpec, *, count_rate: bool = True) -> tuple[Link, bool]:
        """The new link (True), or the owner's existing one for the same URL and options (False)."""
        if count_rate:
            await self._check_rate(actor, 1)
        return await self._create(actor, spec)

    async def _create(
        self, actor: Actor, spec: LinkSpec, *, slug_length_min: int = SLUG_LENGTH_MIN
    ) -> tuple[Link, bool]:
        link = self._build(actor, spec, slug_length_min=slug_length_min)
        if spec.custom_slug is None and spec.find_if_exists is not False:
            same = await self._repo.find_same(actor.account_id, link.url_hash)
            if same is not None and (spec.find_if_exists or _same_options(same, link)):
                return same, False
        if spec.custom_slug is not None:
            link = link.with_changes(id=self._new_id(), code=spec.custom_slug, custom=True)
            await self._repo.add(link)
        else:
            link = await self._add_with_minted_code(link)
        await self._source.remember(link.folded, link)
        return link, True

    async def create_many(self, actor: Actor, specs: Sequence[LinkSpec]) -> list[Link | DomainError]:
        """Create each spec independently: a bad row is reported in its place, not fatal to the rest."""
        if len(specs) > self._limits.bulk_links_max:
            raise InvalidLinkError(
                f"at most {self._limits.bulk_links_max} links per bulk request", field="links"
            )
        await self._check_rate(actor, max(len(specs), 1))
        results: list[Link | DomainError] = []
        for spec in specs:
            try:
                link, _ = await self.create(actor, spec, count_rate=False)
            except DomainError as exc:
                results.append(exc)
            else:
                results.append(link)
        return results

    async def import_links(self, actor: Actor, specs: Sequence[LinkSpec]) -> list[Link | DomainError]:
        """Create links from another shortener's export: one rate-limit hit per import (not per row),
        original creation dates kept, short codes of 1 or 2 characters accepted, and a row whose URL
        the owner already shortened returns that link instead of a copy."""
        if actor.account_id is None:
            raise ForbiddenError("sign in to import links")
        if len(specs) > self._limits.import_rows_max:
            raise InvalidLinkError(f"at most {self._limits.import_rows_max} links per import", field="file")
        decision = await self._limiter.hit(
            f"shortener:import:a{actor.account_id}", max(self._limits.imports_per_minute, 1), 60.0
        )
        if not decision.allowed:
            raise CreateLimitError(
                f"at most {self._limits.imports_per_minute} imports a minute",
                retry_after_seconds=decision.retry_after_seconds,
            )
        results: list[Link | DomainError] = []
        for spec in specs:
            try:
                link, _ = await self._create(actor, spec, slug_length_min=1)
            except DomainError as exc:
                results.append(exc)
            else:
                results.append(link)
        return results

    async def _add_with_minted_code(self, link: Link) -> Link:
        for _ in range(_MINT_ATTEMPTS):
            number = await self._next_number()
            candidate = link.with_changes(id=self._new_id(), code=self._cipher.code_for(number))
            try:
                await self._repo.add(candidate)
            except SlugTakenError:
                # A custom slug already took this code (case-insensitively); the next number will do.
                logger.info("minted code %s is taken by a custom slug; minting another", candidate.code)
                continue
            return candidate
        raise DomainError("could not mint a free code; try again")

    async def _next_number(self) -> int:
        async with self._block_lock:
            if self._block.next >= self._block.end:
                size = self._limits.code_block_size
                start = await self._repo.reserve_numbers(size)
                if start + size > CODE_SPACE:
                    raise DomainError("the 7-character code space is exhausted")
                self._block = _CodeBlock(start, start + size)
            number = self._block.next
            self._block.next += 1
            return number

    def _build(self, actor: Actor, spec: LinkSpec, *, slug_length_min: int) -> Link:
        """The link `spec` asks for, checked; its id and code are filled in when it is stored."""
        target = check_target(spec.long_url, own_hosts=self.own_hosts)
        if self.blocklist.blocks(target.host):
            raise BlockedDomainError(f"links to {target.host} are not allowed on this server")
        if spec.custom_slug is not None:
            validate_slug(spec.custom_slug, length_min=slug_length_min)
        _check_options(spec.title, spec.max_visits, spec.redirect_type)
        check_window(spec.valid_since, spec.valid_until)
        rules = self._check_rules(spec.rules)
        return Link(
            id=0,
            code="",
            long_url=target.url,
            target_host=target.host,
            url_hash=target.url_hash,
            created_at=spec.created_at or self._clock.now(),
            owner_id=actor.account_id,
            title=spec.title or None,
            tags=check_tags(spec.tags),
            valid_since=spec.valid_since,
            valid_until=spec.valid_until,
            max_visits=spec.max_visits,
            redirect_type=spec.redirect_type,  # type: ignore[arg-type]
            forward_query=spec.forward_query,
            crawlable=spec.crawlable,
            rules=rules,
        )

    def _check_rules(self, raw: Sequence[Mapping[str, Any]]) -> tuple[RedirectRule, ...]:
        rules = check_rules(raw, own_hosts=self.own_hosts)
        for rule in rules:
            host = check_target(rule.long_url).host
            if self.blocklist.blocks(host):
                raise BlockedDomainError(f"links to {host} are not allowed on this server")
        return rules

    async def _check_rate(self, actor: Actor, count: int) -> None:
        if actor.account_id is None:
            limit, who = self._limits.create_per_minute_anonymous, f"ip{actor.ip}"
        else:
            limit, who = self._limits.create_per_minute_account, f"a{actor.account_id}"
        if limit <= 0:
            return  # 0 switches the limit off (benchmarks, trusted deployments)
        for _ in range(count):
            decision = await self._limiter.hit(f"shortener:create:{who}", limit, 60.0)
            if not decision.allowed:
                raise CreateLimitError(
                    f"at most {limit} links a minute; try again in {decision.retry_after_seconds:.0f} s",
                    retry_after_seconds=decision.retry_after_seconds,
                )

    # -- reading -------------------------------------------------------------------------------

    async def get(self, actor: Actor, code: str) -> Link:
        """The actor's link with this code (case-insensitive), else LinkNotFoundError."""
        link = await self._repo.get(fold(code))
        if link is None or not _visible(actor, link):
            raise LinkNotFoundError(f'No URL found with short code "{code}"')
        return link

    async def page(self, actor: Actor, query: LinkQuery) -> tuple[list[Link], int]:
        if not 1 <= query.limit <= _PAGE_SIZE_MAX or query.offset < 0:
            raise InvalidError(f"page sizes are 1 to {_PAGE_SIZE_MAX}", field="itemsPerPage")
        scoped = LinkQuery(**{**_fields(query), "owner_id": actor.scope, "now": self._clock.now()})
        return await self._repo.page(scoped)

    async def counts(self) -> tuple[int, int]:
        return await self._repo.counts()

    # -- changing ------------------------------------------------------------------------------

    async def edit(self, actor: Actor, code: str, changes: Mapping[str, Any]) -> Link:
        """Apply `changes` (LinkSpec field names, plus `disabled`); absent fields stay as they are."""
        link = await self._owned(actor, code)
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise InvalidLinkError(f"unknown fields: {', '.join(sorted(unknown))}")
        updated = link
        if "long_url" in changes:
            target = check_target(changes["long_url"], own_hosts=self.own_hosts)
            if self.blocklist.blocks(target.host):
                raise BlockedDomainError(f"links to {target.host} are not allowed on this server")
            updated = updated.with_changes(
                long_url=target.url, target_host=target.host, url_hash=target.url_hash
            )
        if "tags" in changes:
            updated = updated.with_changes(tags=check_tags(changes["tags"] or ()))
        if "rules" in changes:
            updated = updated.with_changes(rules=self._check_rules(changes["rules"] or ()))
        if "disabled" in changes:
            disabled = bool(changes["disabled"])
            if (
                not disabled
                and link.disabled_reason == BLOCKED_REASON
                and self.blocklist.blocks(link.target_host)
            ):
                raise BlockedDomainError("this link's domain is blocked; it cannot be enabled")
            updated = updated.with_changes(
                disabled=disabled, disabled_reason="disabled by owner" if disabled else None
            )
        for name in (
            "title",
            "valid_since",
            "valid_until",
            "max_visits",
            "redirect_type",
            "forward_query",
            "crawlable",
        ):
            if name in changes:
                value = changes[name]
                if name == "title":
                    value = value or None
                updated = updated.with_changes(**{name: value})
        _check_options(updated.title, updated.max_visits, updated.redirect_type)
        check_window(updated.valid_since, updated.valid_until)
        if updated != link:
            await self._repo.update(updated)
            await self._source.forget(link.folded)
        return updated

    async def set_rules(self, actor: Actor, code: str, rules: Sequence[Mapping[str, Any]]) -> Link:
        return await self.edit(actor, code, {"rules": tuple(rules)})

    async def delete(self, actor: Actor, code: str) -> None:
        link = await self._owned(actor, code)
        await self._repo.delete(link.id)
        await self._source.forget(link.folded)

    async def _owned(self, actor: Actor, code: str) -> Link:
        if actor.account_id is None:
            raise ForbiddenError("sign in to change links")
        return await self.get(actor, code)

    # -- tags ----------------------------------------------------------------------------------

    async def tags(self, actor: Actor) -> list[TagCount]:
        return await self._repo.tags(actor.scope)

    async def rename_tag(self, actor: Actor, old: str, new: str) -> None:
        new = check_tags([new])[0] if check_tags([new]) else ""
        if not new:
            raise InvalidLinkError("the new tag name is empty", field="newName")
        changed = await self._repo.rename_tag(actor.scope, old, new)
        if not changed:
            raise TagNotFoundError(f'Tag with name "{old}" could not be found')

    async def delete_tags(self, actor: Actor, tags: Sequence[str]) -> int:
        return await self._repo.delete_tags(actor.scope, tags)

    # -- blocklist -----------------------------------------------------------------------------

    async def refresh_blocklist(self) -> None:
        self.blocklist.reload_file()
        self.blocklist.stored = frozenset(domain for domain, _, _ in await self._repo.blocked_domains())

    async def block_domain(self, actor: Actor, domain: str, reason: str = "") -> int:
        """Block a domain and disable every link to it (or its subdomains); returns how many."""
        _require_admin(actor)
        name = normalize_domain(domain)
        await self._repo.block_domain(name, reason[:200], self._clock.now())
        await self.refresh_blocklist()
        return await self.rescan()

    async def unblock_domain(self, actor: Actor, domain: str) -> bool:
        _require_admin(actor)
        removed = await self._repo.unblock_domain(normalize_domain(domain))
        await self.refresh_blocklist()
        return removed

    async def blocked_domains(self) -> list[tuple[str, str, datetime]]:
        return await self._repo.blocked_domains()

    async def rescan(self) -> int:
        """Disable enabled links whose long URL's domain became blocked; returns how many. (A rule's
        target is checked when the rule is set, not rescanned.)"""
        await self.refresh_blocklist()
        if not self.blocklist.domains:
            return 0
        hosts = [host for host in await self._repo.target_hosts() if self.blocklist.blocks(host)]
        disabled = 0
        for link in await self._repo.links_to_hosts(hosts):
            await self._repo.update(link.with_changes(disabled=True, disabled_reason=BLOCKED_REASON))
            await self._source.forget(link.folded)
            disabled += 1
        if disabled:
            logger.warning("blocklist rescan disabled %d links", disabled)
        return disabled


_EDITABLE = frozenset(
    {
        "long_url", "title", "tags", "valid_since", "valid_until", "max_visits", "redirect_type",
        "forward_query", "crawlable", "rules", "disabled",
    }
)  # fmt: skip


def _fields(query: LinkQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in LinkQuery.__dataclass_fields__}


def _visible(actor: Actor, link: Link) -> bool:
    return actor.is_admin or (actor.account_id is not None and link.owner_id == actor.account_id)


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise ForbiddenError("only administrators manage the blocklist")


def _check_options(title: str | None, max_visits: int | None, redirect_type: int) -> None:
    if title is not None and len(title) > TITLE_LENGTH_MAX:
        raise InvalidLinkError(f"a title has at most {TITLE_LENGTH_MAX} characters", field="title")
    if max_visits is not None and (isinstance(max_visits, bool) or not 1 <= max_visits <= 2**31 - 1):
        raise InvalidLinkError("maxVisits is a positive whole number", field="maxVisits")
    if redirect_type not in REDIRECT_TYPES:
        raise InvalidLinkError("redirect type is one of 301, 302, 307 and 308", field="redirectType")


def _same_options(existing: Link, wanted: Link) -> bool:
    """Whether a retry asked for what `existing` already is (so returning it is what was meant)."""
    return (
        existing.url_hash == wanted.url_hash
        and existing.title == wanted.title
        and {tag.lower() for tag in existing.tags} == {tag.lower() for tag in wanted.tags}
        and existing.valid_since == wanted.valid_since
        and existing.valid_until == wanted.valid_until
        and existing.max_visits == wanted.max_visits
        and existing.redirect_type == wanted.redirect_type
        and existing.forward_query == wanted.forward_query
        and existing.crawlable == wanted.crawlable
        and existing.rules == wanted.rules
        and not existing.disabled
    )
