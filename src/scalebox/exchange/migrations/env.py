"""Alembic entry point: the shared runner in scalebox.core.db does the work."""

from scalebox.core.db import run_migrations_from_env
from scalebox.exchange.storage.tables import metadata

run_migrations_from_env(metadata)
