"""The object store's metadata tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Object keys sort as UTF-8 bytes, which is S3's listing order: SQLite's default BINARY collation
does that, PostgreSQL needs the "C" collation on the key columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from scalebox.core.db import UtcDateTime, make_metadata

metadata = make_metadata()

_Key = String(1024).with_variant(String(1024, collation="C"), "postgresql")
_Sequence = BigInteger().with_variant(Integer(), "sqlite")  # an INTEGER PRIMARY KEY is SQLite's rowid

buckets = Table(
    "objectstore_buckets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("owner", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("region", String(32), nullable=False),
    Column("versioning", String(16), nullable=False, server_default=""),
    Column("tags_json", Text, nullable=False, server_default="{}"),
    Column("cors_xml", Text, nullable=False, server_default=""),
    Column("lifecycle_xml", Text, nullable=False, server_default=""),
    Column("policy_json", Text, nullable=False, server_default=""),
)

# Every version of every object; the latest version of a key has is_latest set.
objects = Table(
    "objectstore_objects",
    metadata,
    Column("seq", _Sequence, primary_key=True, autoincrement=True),
    Column("bucket_id", Integer, ForeignKey("objectstore_buckets.id", ondelete="CASCADE"), nullable=False),
    Column("key", _Key, nullable=False),
    Column("version_id", String(64), nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("is_delete_marker", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(80), nullable=False),
    Column("last_modified", UtcDateTime(), nullable=False),
    Column("headers_json", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("checksum_algorithm", String(16), nullable=False),
    Column("checksum", String(128), nullable=False),
    Column("checksum_type", String(16), nullable=False),
    Column("inline_data", LargeBinary, nullable=True),
    Column("parts_json", Text, nullable=False),  # [[number, size, data_id, etag, checksum], ...]
    Column("owner", String(128), nullable=False),
    Index("ix_objectstore_objects_version", "bucket_id", "key", "version_id", unique=True),
    Index("ix_objectstore_objects_history", "bucket_id", "key", "seq"),
    # Listing reads only this: the one latest version of each key.
    Index(
        "ix_objectstore_objects_latest",
        "bucket_id",
        "key",
        unique=True,
        sqlite_where=text("is_latest = 1"),
        postgresql_where=text("is_latest"),
    ),
)

uploads = Table(
    "objectstore_uploads",
    metadata,
    Column("upload_id", String(96), primary_key=True),
    Column("bucket_id", Integer, ForeignKey("objectstore_buckets.id", ondelete="CASCADE"), nullable=False),
    Column("key", _Key, nullable=False),
    Column("initiated", UtcDateTime(), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("headers_json", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("checksum_algorithm", String(16), nullable=False),
    Column("checksum_type", String(16), nullable=False),
    Index("ix_objectstore_uploads_key", "bucket_id", "key", "initiated"),
)

parts = Table(
    "objectstore_parts",
    metadata,
    Column(
        "upload_id",
        String(96),
        ForeignKey("objectstore_uploads.upload_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("data_id", String(32), nullable=False),
    Column("etag", String(32), nullable=False),
    Column("checksum", String(128), nullable=False),
    Column("last_modified", UtcDateTime(), nullable=False),
)

# The secret is needed to check SigV4 signatures, so it is sealed (encrypted), not hashed.
access_keys = Table(
    "objectstore_access_keys",
    metadata,
    Column("access_key", String(128), primary_key=True),
    Column("secret_sealed", Text, nullable=False),
    Column("name", String(128), nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

# Shard sets no version refers to any more, queued in the transaction that dropped them and
# deleted from the drives afterwards; a crash in between only delays the deletion.
garbage = Table(
    "objectstore_garbage",
    metadata,
    Column("id", _Sequence, primary_key=True, autoincrement=True),
    Column("data_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("queued_at", UtcDateTime(), nullable=False),
)

# Shard sets being written: recorded before the first shard reaches a drive, removed in the
# transaction that makes them part of a version or an upload. What is left when a server starts was
# cut short by a crash (after its files were renamed into place, before its metadata) and is garbage.
intents = Table(
    "objectstore_intents",
    metadata,
    Column("data_id", String(32), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("started_at", UtcDateTime(), nullable=False),
)
