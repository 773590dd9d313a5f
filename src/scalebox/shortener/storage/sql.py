"""SQLAlchemy Core adapter of LinkRepository, for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scalebox.shortener.domain import Condition, Link, RedirectRule
from scalebox.shortener.errors import SlugTakenError, TagConflictError
from scalebox.shortener.ports import LinkQuery, TagCount
from scalebox.shortener.storage.tables import blocked_domains, link_tags, links, sequences

_CODE_SEQUENCE = "codes"
_ORDER_COLUMNS = {
    "dateCreated": links.c.created_at,
    "shortCode": links.c.code_folded,
    "longUrl": links.c.long_url,
    "title": links.c.title,
    "visits": links.c.visits,
    "nonBotVisits": links.c.visits - links.c.bot_visits,
}


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def rules_to_json(rules: Sequence[RedirectRule]) -> str:
    return json.dumps(
        [
            {
                "longUrl": rule.long_url,
                "conditions": [
                    {"type": c.type, "matchKey": c.match_key, "matchValue": c.match_value}
                    for c in rule.conditions
                ],
            }
            for rule in rules
        ],
        separators=(",", ":"),
    )


def rules_from_json(text: str) -> tuple[RedirectRule, ...]:
    if text == "[]":  # most links: skips a third of the cost of reading one
        return ()
    return tuple(
        RedirectRule(
            item["longUrl"],
            tuple(Condition(c["type"], c.get("matchValue"), c.get("matchKey")) for c in item["conditions"]),
        )
        for item in json.loads(text)
    )


def _row(link: Link) -> dict[str, Any]:
    return {
        "id": link.id,
        "code": link.code,
        "code_folded": link.folded,
        "long_url": link.long_url,
        "target_host": link.target_host,
        "url_hash": link.url_hash,
        "owner_id": link.owner_id,
        "custom": link.custom,
        "title": link.title,
        "created_at": link.created_at,
        "valid_since": link.valid_since,
        "valid_until": link.valid_until,
        "max_visits": link.max_visits,
        "redirect_type": link.redirect_type,
        "forward_query": link.forward_query,
        "crawlable": link.crawlable,
        "disabled": link.disabled,
        "disabled_reason": link.disabled_reason,
        "rules": rules_to_json(link.rules),
    }


# A link and its tags in one round trip: one row per tag, or one row with a NULL tag.
_WITH_TAGS = select(links, link_tags.c.tag).outerjoin(link_tags, link_tags.c.link_id == links.c.id)
_BY_CODE = _WITH_TAGS.where(links.c.code_folded == bindparam("code"))
_BY_CODES = _WITH_TAGS.where(links.c.code_folded.in_(bindparam("codes", expanding=True)))  # the refresh


def _link(row: Row[Any], tags: Sequence[str]) -> Link:
    return Link(
        id=row.id,
        code=row.code,
        long_url=row.long_url,
        target_host=row.target_host,
        url_hash=row.url_hash,
        created_at=row.created_at,
        owner_id=row.owner_id,
        custom=row.custom,
        title=row.title,
        tags=tuple(sorted(tags, key=str.lower)),
        valid_since=row.valid_since,
        valid_until=row.valid_until,
        max_visits=row.max_visits,
        redirect_type=row.redirect_type,
        forward_query=row.forward_query,
        crawlable=row.crawlable,
        disabled=row.disabled,
        disabled_reason=row.disabled_reason,
        rules=rules_from_json(row.rules),
        visits=row.visits,
        bot_visits=row.bot_visits,
    )


def _owned(column: Any, owner_id: int | None) -> ColumnElement[bool]:
    return and_(True) if owner_id is None else column == owner_id


class SqlLinkRepository:
    """LinkRepository over an AsyncEngine (SQLite with WAL, or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def reserve_numbers(self, count: int) -> int:
        assert count > 0, count
        async with self._engine.begin() as conn:
            statement = (
                _insert(conn, sequences)
                .values(name=_CODE_SEQUENCE, next_value=count)
                .on_conflict_do_update(
                    index_elements=[sequences.c.name], set_={"next_value": sequences.c.next_value + count}
                )
                .returning(sequences.c.next_value)
            )
            end: int = (await conn.execute(statement)).scalar_one()
        return end - count

    async def add(self, link: Link) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(links.insert().values(_row(link)))
                await self._write_tags(conn, link)
        except IntegrityError as exc:
            raise SlugTakenError(link.code) from exc

    async def get(self, folded_code: str) -> Link | None:
        # The redirect's cache misses come here: one prepared statement, the tags joined in.
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_BY_CODE, {"code": folded_code})).all()
        if not rows:
            return None
        return _link(rows[0], [row.tag for row in rows if row.tag is not None])

    async def get_many(self, folded_codes: Sequence[str]) -> dict[str, Link]:
        if not folded_codes:
            return {}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_BY_CODES, {"codes": list(folded_codes)})).all()
        found: dict[str, tuple[Row[Any], list[str]]] = {}
        for row in rows:
            _, tags = found.setdefault(row.code_folded, (row, []))
            if row.tag is not None:
                tags.append(row.tag)
        return {folded: _link(row, tags) for folded, (row, tags) in found.items()}

    async def get_by_id(self, link_id: int) -> Link | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(links).where(links.c.id == link_id))).first()
            return None if row is None else _link(row, await self._tags_of(conn, row.id))

    async def find_same(self, owner_id: int | None, url_hash: str) -> Link | None:
        owner = links.c.owner_id.is_(None) if owner_id is None else links.c.owner_id == owner_id
        statement = (
            select(links)
            .where(owner, links.c.url_hash == url_hash, links.c.custom.is_(False))
            .order_by(links.c.created_at.desc(), links.c.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(statement)).first()
            return None if row is None else _link(row, await self._tags_of(conn, row.id))

    async def update(self, link: Link) -> None:
        values = _row(link)
        for fixed in ("id", "created_at", "owner_id", "custom"):
            values.pop(fixed)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(update(links).where(links.c.id == link.id).values(values))
                await conn.execute(delete(link_tags).where(link_tags.c.link_id == link.id))
                await self._write_tags(conn, link)
        except IntegrityError as exc:
            raise SlugTakenError(link.code) from exc

    async def delete(self, link_id: int) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
            result = await conn.execute(delete(links).where(links.c.id == link_id))
        return bool(result.rowcount)

    async def page(self, query: LinkQuery) -> tuple[list[Link], int]:
        conditions: list[ColumnElement[bool]] = [_owned(links.c.owner_id, query.owner_id)]
        if query.search:
            pattern = f"%{_escape_like(query.search.lower())}%"
            tagged = select(link_tags.c.link_id).where(func.lower(link_tags.c.tag).like(pattern, escape="\\"))
            conditions.append(
                or_(
                    func.lower(links.c.long_url).like(pattern, escape="\\"),
                    func.lower(func.coalesce(links.c.title, "")).like(pattern, escape="\\"),
                    links.c.code_folded.like(pattern, escape="\\"),
                    links.c.id.in_(tagged),
                )
            )
        if query.tags:
            wanted = [tag.lower() for tag in query.tags]
            matching = select(link_tags.c.link_id).where(func.lower(link_tags.c.tag).in_(wanted))
            if query.tags_mode == "all":
                matching = matching.group_by(link_tags.c.link_id).having(
                    func.count(func.distinct(func.lower(link_tags.c.tag))) == len(set(wanted))
                )
            conditions.append(links.c.id.in_(matching))
        if query.start is not None:
            conditions.append(links.c.created_at >= query.start)
        if query.end is not None:
            conditions.append(links.c.created_at <= query.end)
        if query.exclude_max_visits_reached:
            conditions.append(or_(links.c.max_visits.is_(None), links.c.visits < links.c.max_visits))
        if query.exclude_past_valid_until and query.now is not None:
            conditions.append(or_(links.c.valid_until.is_(None), links.c.valid_until > query.now))
        where = and_(*conditions)
        column = _ORDER_COLUMNS[query.order_by]
        order = [column.desc() if query.descending else column.asc(), links.c.id.desc()]
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(links).where(where))).scalar_one()
            statement = select(links).where(where).order_by(*order).limit(query.limit).offset(query.offset)
            rows = (await conn.execute(statement)).all()
            tags = await self._tags_of_many(conn, [row.id for row in rows])
        return [_link(row, tags.get(row.id, [])) for row in rows], total

    async def tags(self, owner_id: int | None) -> list[TagCount]:
        statement = (
            select(
                link_tags.c.tag,
                func.count(links.c.id),
                func.coalesce(func.sum(links.c.visits), 0),
                func.coalesce(func.sum(links.c.bot_visits), 0),
            )
            .join(links, links.c.id == link_tags.c.link_id)
            .where(_owned(link_tags.c.owner_id, owner_id))
            .group_by(link_tags.c.tag)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        merged: dict[str, TagCount] = {}
        for tag, count, visits, bots in rows:
            key = tag.lower()
            seen = merged.get(key)
            if seen is None:
                merged[key] = TagCount(tag, count, visits, bots)
            else:
                merged[key] = TagCount(
                    seen.tag, seen.links + count, seen.visits + visits, seen.bot_visits + bots
                )
        return sorted(merged.values(), key=lambda item: item.tag.lower())

    async def rename_tag(self, owner_id: int | None, old: str, new: str) -> int:
        async with self._engine.begin() as conn:
            scope = _owned(link_tags.c.owner_id, owner_id)
            if old.lower() != new.lower():
                clash = (
                    select(func.count())
                    .select_from(link_tags)
                    .where(scope, func.lower(link_tags.c.tag) == new.lower())
                )
                if (await conn.execute(clash)).scalar_one():
                    raise TagConflictError(f"a tag named '{new}' already exists")
            result = await conn.execute(
                update(link_tags).where(scope, func.lower(link_tags.c.tag) == old.lower()).values(tag=new)
            )
        return int(result.rowcount)

    async def delete_tags(self, owner_id: int | None, tags: Sequence[str]) -> int:
        if not tags:
            return 0
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(link_tags).where(
                    _owned(link_tags.c.owner_id, owner_id),
                    func.lower(link_tags.c.tag).in_([t.lower() for t in tags]),
                )
            )
        return int(result.rowcount)

    async def links_to_hosts(self, hosts: Sequence[str], *, enabled_only: bool = True) -> list[Link]:
        if not hosts:
            return []
        conditions = [links.c.target_host.in_(list(hosts))]
        if enabled_only:
            conditions.append(links.c.disabled.is_(False))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(links).where(*conditions))).all()
            tags = await self._tags_of_many(conn, [row.id for row in rows])
        return [_link(row, tags.get(row.id, [])) for row in rows]

    async def target_hosts(self) -> list[str]:
        statement = select(links.c.target_host).where(links.c.disabled.is_(False)).distinct()
        async with self._engine.connect() as conn:
            return list((await conn.execute(statement)).scalars())

    async def counts(self) -> tuple[int, int]:
        statement = select(func.count(), func.coalesce(func.sum(links.c.visits), 0)).select_from(links)
        async with self._engine.connect() as conn:
            count, visits = (await conn.execute(statement)).one()
        return int(count), int(visits)

    async def block_domain(self, domain: str, reason: str, at: datetime) -> bool:
        async with self._engine.begin() as conn:
            statement = (
                _insert(conn, blocked_domains)
                .values(domain=domain, reason=reason, added_at=at)
                .on_conflict_do_nothing(index_elements=[blocked_domains.c.domain])
            )
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def unblock_domain(self, domain: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(blocked_domains).where(blocked_domains.c.domain == domain))
        return bool(result.rowcount)

    async def blocked_domains(self) -> list[tuple[str, str, datetime]]:
        statement = select(blocked_domains).order_by(blocked_domains.c.domain)
        async with self._engine.connect() as conn:
            return [(row.domain, row.reason, row.added_at) for row in (await conn.execute(statement)).all()]

    async def _write_tags(self, conn: AsyncConnection, link: Link) -> None:
        if link.tags:
            await conn.execute(
                link_tags.insert(),
                [{"link_id": link.id, "tag": tag, "owner_id": link.owner_id} for tag in link.tags],
            )

    async def _tags_of(self, conn: AsyncConnection, link_id: int) -> list[str]:
        return list(
            (await conn.execute(select(link_tags.c.tag).where(link_tags.c.link_id == link_id))).scalars()
        )

    async def _tags_of_many(self, conn: AsyncConnection, link_ids: list[int]) -> dict[int, list[str]]:
        if not link_ids:
            return {}
        rows = await conn.execute(
            select(link_tags.c.link_id, link_tags.c.tag).where(link_tags.c.link_id.in_(link_ids))
        )
        tags: dict[int, list[str]] = {}
        for link_id, tag in rows:
            tags.setdefault(link_id, []).append(tag)
        return tags


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
