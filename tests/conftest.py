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


XERO_ENV = (
    "SYNCDESK_XERO_CLIENT_ID",
    "SYNCDESK_XERO_CLIENT_SECRET",
    "SYNCDESK_XERO_API_URL",
    "SYNCDESK_XERO_IDENTITY_URL",
    "SYNCDESK_XERO_TIMEOUT",
    "SYNCDESK_XERO_RETRIES",
)


@pytest.fixture(autouse=True)
def no_real_xero(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the real Xero: without these, syncdesk uses its embedded sandbox.

    Tests of the real client set them again, pointing at a server on 127.0.0.1.
    """
    for name in XERO_ENV:
        monkeypatch.delenv(name, raising=False)
