"""Alembic migrations of the objectstore's tables (version table `alembic_version_objectstore`)."""
