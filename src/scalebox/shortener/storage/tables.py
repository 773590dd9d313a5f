"""The shortener's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL; Alembic migrates them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)

from scalebox.core.auth import account_tables
from scalebox.core.db import UtcDateTime, make_metadata

metadata = make_metadata()
accounts = account_tables(metadata, "shortener")

links = Table(
    "shortener_links",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("code", String(64), nullable=False),
    # The lookup key: lower(code). Unique, so a code or slug is found whatever its case.
    Column("code_folded", String(64), nullable=False, unique=True),
    Column("long_url", Text, nullable=False),
    Column("target_host", String(255), nullable=False, index=True),
    Column("url_hash", String(64), nullable=False),
    Column("owner_id", BigInteger, nullable=True),
    Column("custom", Boolean, nullable=False, default=False),
    Column("title", String(512), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("valid_since", UtcDateTime(), nullable=True),
    Column("valid_until", UtcDateTime(), nullable=True),
    Column("max_visits", Integer, nullable=True),
    Column("redirect_type", SmallInteger, nullable=False, default=302),
    Column("forward_query", Boolean, nullable=False, default=True),
    Column("crawlable", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("disabled_reason", String(200), nullable=True),
    Column("rules", Text, nullable=False, default="[]"),  # JSON, Shlink's shape, priority order
    # Maintained by the analytics consumer, in the transaction that stores the visit.
    Column("visits", BigInteger, nullable=False, default=0),
    Column("bot_visits", BigInteger, nullable=False, default=0),
    Index("ix_shortener_links_owner_hash", "owner_id", "url_hash"),
    Index("ix_shortener_links_owner_created", "owner_id", "created_at"),
)

link_tags = Table(
    "shortener_link_tags",
    metadata,
    Column("link_id", BigInteger, ForeignKey("shortener_links.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("owner_id", BigInteger, nullable=True),
    Index("ix_shortener_link_tags_owner_tag", "owner_id", "tag"),
)

# Code numbers are handed out in blocks: one row, bumped by a block per process now and then.
sequences = Table(
    "shortener_sequences",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

blocked_domains = Table(
    "shortener_blocked_domains",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("reason", String(200), nullable=False, default=""),
    Column("added_at", UtcDateTime(), nullable=False),
)

# One row per stored visit, link or orphan. The key is the event's offset in the visits topic, so a
# redelivered batch is recognised and stored (and counted) once.
visits = Table(
    "shortener_visits",
    metadata,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),  # domain.VISIT_KINDS
    Column("visited_at", UtcDateTime(), nullable=False),
    Column("day", String(10), nullable=False),  # 'YYYY-MM-DD' (UTC), as in the rollups
    # Link visits go with their link; orphan visits have none.
    Column("link_id", BigInteger, ForeignKey("shortener_links.id", ondelete="CASCADE"), nullable=True),
    Column("code", String(255), nullable=True),
    Column("referer", Text, nullable=False, default=""),
    Column("referer_host", String(255), nullable=False, default=""),
    Column("remote_addr", String(64), nullable=True),  # anonymized (IPv4 /24, IPv6 /48)
    Column("user_agent", Text, nullable=False, default=""),
    Column("browser", String(128), nullable=False, default=""),
    Column("os", String(128), nullable=False, default=""),
    Column("device", String(16), nullable=False, default=""),
    Column("is_bot", Boolean, nullable=False, default=False),
    Column("country_code", String(8), nullable=True),
    Column("country_name", String(128), nullable=True),
    Column("region_name", String(128), nullable=True),
    Column("city_name", String(128), nullable=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("timezone", String(128), nullable=True),
    Column("visited_url", Text, nullable=False, default=""),
    Column("redirect_url", Text, nullable=False, default=""),
    Index("ix_shortener_visits_link_visited", "link_id", "visited_at"),
    Index("ix_shortener_visits_kind_visited", "kind", "visited_at"),
    Index("ix_shortener_visits_visited", "visited_at"),
)

# Daily counts per link for the dashboard, kept in the transaction that stores the visits. dimension is
# one of analytics.DIMENSIONS ("total" has the value ""); only link visits are rolled up.
visit_rollups = Table(
    "shortener_visit_rollups",
    metadata,
    Column("link_id", BigInteger, ForeignKey("shortener_links.id", ondelete="CASCADE"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("is_bot", Boolean, primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("value", String(255), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Index("ix_shortener_visit_rollups_dimension_day", "dimension", "day"),
)
