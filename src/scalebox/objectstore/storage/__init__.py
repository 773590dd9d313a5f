"""The object store's storage: metadata in SQL (SQLite or PostgreSQL), data erasure-coded on drives."""

MIGRATIONS = "scalebox.objectstore.migrations"
VERSION_TABLE = "alembic_version_objectstore"
