"""The shortener's storage adapters (SQLAlchemy Core over SQLite or PostgreSQL) and their migrations."""

MIGRATIONS = "scalebox.shortener.migrations"
VERSION_TABLE = "alembic_version_shortener"
