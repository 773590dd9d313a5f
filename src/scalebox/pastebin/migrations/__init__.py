"""Alembic migrations of the pastebin's tables (version table `alembic_version_pastebin`)."""
