"""The pastebin's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL; Alembic migrates them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from scalebox.core.auth import account_tables
from scalebox.core.db import UtcDateTime, make_metadata

metadata = make_metadata()
accounts = account_tables(metadata, "pastebin")

pastes = Table(
    "pastebin_pastes",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("owner_id", BigInteger, nullable=True),
    Column("title", String(200), nullable=False, default=""),
    Column("visibility", String(10), nullable=False),
    Column("burn_after_reading", Boolean, nullable=False, default=False),
    Column("encrypted", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("removal_hash", String(64), nullable=False, unique=True),
    Column("source", String(16), nullable=False, default="web"),
    Column("view_count", BigInteger, nullable=False, default=0),
    Column("scan_verdict", String(200), nullable=True),
    Column("hidden", Boolean, nullable=False, default=False),
    Index("ix_pastebin_pastes_owner_created", "owner_id", "created_at"),
    Index("ix_pastebin_pastes_expires_at", "expires_at"),
    Index("ix_pastebin_pastes_visibility_created", "visibility", "created_at"),
)

files = Table(
    "pastebin_files",
    metadata,
    Column("paste_id", String(16), ForeignKey("pastebin_pastes.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(200), nullable=True),
    Column("lexer", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("size_bytes", Integer, nullable=False),
)

# One row per stored blob. last_ref_at moves forward whenever a paste references the blob, so the
# reaper only collects blobs unreferenced for a grace period (a create racing a delete is safe).
contents = Table(
    "pastebin_contents",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("last_ref_at", UtcDateTime(), nullable=False),
)

views = Table(
    "pastebin_views",
    metadata,
    Column("paste_id", String(16), ForeignKey("pastebin_pastes.id", ondelete="CASCADE"), primary_key=True),
    Column("bucket", UtcDateTime(), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Index("ix_pastebin_views_bucket", "bucket"),
)

terms = Table(
    "pastebin_terms",
    metadata,
    Column("term", String(64), primary_key=True),
    Column("paste_id", String(16), ForeignKey("pastebin_pastes.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_pastebin_terms_paste_id", "paste_id"),
)

reports = Table(
    "pastebin_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("paste_id", String(16), nullable=False, index=True),
    Column("reporter_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolution", String(64), nullable=True),
)
