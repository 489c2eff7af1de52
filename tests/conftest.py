"""Shared fixtures: a demo store built once per session from sample_data/, copied per test."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.db import open_store
from store.generate import build_store

# Every test store is built as if it were this moment, so "last 24 h" is stable.
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "demo.db"
    build_store(path, now=NOW)
    return path


@pytest.fixture
def store_path(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store."""
    path = tmp_path / "store.db"
    shutil.copy(demo_template, path)
    return path


@pytest.fixture
def db(store_path: Path):
    database = open_store(store_path)
    yield database
    database.conn.close()


@pytest.fixture
def now() -> datetime:
    return NOW
