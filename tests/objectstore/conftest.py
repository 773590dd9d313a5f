"""Fixtures for the object store's tests: one in-process server per module, boto3 clients on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.objectstore.harness import RunningStore, running_objectstore
from tests.objectstore.s3_server import s3_client


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStore]:
    with running_objectstore(tmp_path_factory.mktemp("objectstore")) as running:
        yield running


@pytest.fixture(scope="module")
def s3(store: RunningStore) -> Any:
    return s3_client(store.url)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
