"""Alembic migrations of the exchange's post-trade tables (version table `alembic_version_exchange`)."""
