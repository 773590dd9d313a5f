"""Alembic migrations of the shortener's tables (version table `alembic_version_shortener`)."""
