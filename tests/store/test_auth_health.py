"""A malformed refresh-token expiry marks its own row ("?") and never blanks the list the
dashboard shows (issue 14: the dashboard went blank over one organisation's timestamp)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import plant

from store.db import open_store
from store.orgs import auth_health, list_orgs

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "health"),
    [
        ("soon", "?"),
        ("9999-99-99", "?"),
        (12345, "?"),
        (b"\xff\xfe", "?"),
        ("2026-11-30T10:00", "expiring"),  # no zone: UTC
        ("2026-11-30T10:00:00+05:00", "expiring"),
        ("0001-01-01T00:00:00Z", "expired"),
        ("9999-12-31T23:59:59Z", "ok"),
        (None, "expired"),
    ],
)
def test_every_stored_value_gives_an_answer(stored: object, health: str) -> None:
    assert auth_health("active", stored, NOW) == health  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["'soon'", "X'FFFE'", "12345", "'2026-13-45T99:00:00Z'"])
def test_one_bad_expiry_is_marked_and_the_others_listed(store_path: Path, value: str) -> None:
    plant(
        store_path,
        f"UPDATE integrations SET refresh_expires_at = {value} "
        "WHERE org_id = (SELECT id FROM orgs WHERE code = 'HARBOUR')",
    )
    with open_store(store_path) as db:
        orgs = {o.code: o for o in list_orgs(db, now=NOW)}
    assert len(orgs) == 12
    assert orgs["HARBOUR"].auth == "?"
    assert orgs["KAURI"].auth in ("ok", "expiring")
