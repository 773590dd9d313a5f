"""Fixtures shared by every test: the real PostgreSQL and Redis that `make test` starts.

`make test` (scripts/services.py) starts both on free ports and exports
SCALEBOX_TEST_POSTGRES_URL (a superuser URL to the `postgres` database) and SCALEBOX_TEST_REDIS_URL.
A bare local `pytest` without them skips those cases visibly; under CI (CI=true) their absence fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest


def _require(variable: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get("CI"):
        pytest.fail(f"{variable} is not set: run the suite with `make test`")
    pytest.skip(f"{variable} is not set (run `make test` to start PostgreSQL and Redis)")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """asyncpg-style URL of the test server's maintenance database."""
    return _require("SCALEBOX_TEST_POSTGRES_URL")


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A SQLAlchemy URL (postgresql+asyncpg) to a fresh, empty database dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = postgres_admin_url.rpartition("/")
    yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _require("SCALEBOX_TEST_REDIS_URL")


@pytest.fixture
def redis_namespace() -> str:
    """A key prefix no other test uses, so tests share one Redis without seeing each other."""
    return f"test:{uuid.uuid4().hex[:12]}:"
