"""Error groups of a time window come from error_slots (ten-minute buckets per kind): the same
groups as a GROUP BY over the log's rows since that moment, for any moment (on a slot's
boundary, inside a slot, before the first row, after the last), after a bulk build, after rows
are written one by one, after an organisation's rows are deleted, and after an upgrade."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import NOW

from store import schema
from store.db import SCHEMA_VERSION, open_store, transaction
from store.generate import build_store
from store.logs import error_groups, record
from store.schema_log import fill_error_slots
from store.timeparse import iso, parse

# Moments around NOW: slot boundaries, seconds into a slot, hours and days back, the future.
OFFSETS = (
    timedelta(0),
    timedelta(seconds=1),
    timedelta(minutes=10),
    timedelta(minutes=10, seconds=-1),
    timedelta(minutes=37, seconds=13),
    timedelta(hours=1),
    timedelta(hours=6, minutes=4),
    timedelta(hours=24),
    timedelta(hours=24, minutes=59, seconds=59),
    timedelta(days=3, hours=5, minutes=31),
    timedelta(days=7),
    timedelta(days=400),
    timedelta(hours=-1),
)


def _naive(db: Any, since: str) -> list[tuple]:
    """The brute-force answer: every error row since `since`, grouped."""
    return [
        tuple(r)
        for r in db.execute(
            "SELECT coalesce(kind, 'unknown'), count(*), count(DISTINCT org_id), min(at), max(at) "
            "FROM log NOT INDEXED WHERE level = 'error' AND at >= ? GROUP BY 1 ORDER BY 2 DESC, 1",
            [since],
        )
    ]


def _groups(db: Any, since: str) -> list[tuple]:
    return [(g.kind, g.count, g.orgs, g.first_at, g.last_at) for g in error_groups(db, since=since)]


def _assert_windows(db: Any, newest: str, *, seen_times: bool = True) -> int:
    """error_groups == brute force for every offset back from NOW and from the newest row;
    returns how many windows had errors (so a test cannot pass on empty answers). Without
    seen_times, first and last seen are left out (a deleted row leaves them as they were)."""
    width = 5 if seen_times else 3
    seen = 0
    for base in (NOW, parse(newest)):
        for offset in OFFSETS:
            since = iso(base - offset)
            expected = [g[:width] for g in _naive(db, since)]
            assert [g[:width] for g in _groups(db, since)] == expected, since
            seen += bool(expected)
    return seen


def _slots(db: Any) -> list[tuple]:
    return [tuple(r) for r in db.execute("SELECT * FROM error_slots ORDER BY kind, slot")]


def _newest(db: Any) -> str:
    return db.execute("SELECT max(at) FROM log").fetchone()[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated store (the bulk build's path): 40 organisations, 20,000 rows over 7 days."""
    path = tmp_path_factory.mktemp("slots") / "gen.db"
    build_store(path, force=True, orgs=40, log_rows=20_000, seed=3, now=NOW)
    return path


def _copy(path: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(path)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    return copy


def test_windows_match_the_log_on_the_demo_store(db) -> None:
    assert _assert_windows(db, _newest(db)) >= 10


def test_windows_match_the_log_after_a_bulk_build_and_writes(generated, tmp_path) -> None:
    db = open_store(_copy(generated, tmp_path))
    assert db.execute("SELECT count(*) FROM error_slots").fetchone()[0] > 500
    assert _assert_windows(db, _newest(db)) >= 20
    # Rows written one by one (the triggers): an organisation's latest error of a kind moves to
    # a later slot, a kind new to an organisation, several rows in one slot.
    orgs = [code for (code,) in db.execute("SELECT code FROM orgs ORDER BY id LIMIT 3")]
    for minutes in (-25, -7, -6, -1):
        for code in orgs:
            at = NOW + timedelta(minutes=minutes)
            assert record(db, code, "error", "Xero API request timed out after 30 s", at=at)
        assert record(db, orgs[0], "error", "Token refresh failed: invalid_grant", at=at)
    assert _assert_windows(db, _newest(db)) >= 20
    # What the triggers kept is what a fill from the log gives.
    kept = _slots(db)
    with transaction(db):
        fill_error_slots(db.conn)
    assert _slots(db) == kept


def test_deleting_an_organisations_rows_takes_it_out_of_every_window(generated, tmp_path) -> None:
    db = open_store(_copy(generated, tmp_path))
    busiest = db.execute(
        "SELECT org_id FROM log WHERE level = 'error' GROUP BY org_id ORDER BY count(*) DESC"
    ).fetchone()[0]
    with transaction(db):
        db.execute("DELETE FROM log WHERE org_id = ?", [busiest])
    assert _assert_windows(db, _newest(db), seen_times=False) >= 20
    assert not db.execute("SELECT 1 FROM error_slots WHERE count <= 0 AND orgs <= 0").fetchone()


def test_a_store_of_the_previous_version_gets_the_buckets(store_path) -> None:
    conn = sqlite3.connect(store_path, isolation_level=None)
    for trigger in (
        "log_error_slots_ai",
        "log_error_slots_ad",
        "error_kinds_slot_ai",
        "error_kinds_slot_au",
        "error_kinds_slot_ad",
    ):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP INDEX error_kinds_last")
    conn.execute("DROP TABLE error_slots")
    conn.execute(f"PRAGMA user_version = {schema.MIGRATIONS.index(schema._migrate_error_slots)}")
    conn.close()
    db = open_store(store_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert _assert_windows(db, _newest(db)) >= 10
    record(db, "HARBOUR", "error", "Xero API request timed out after 30 s", at=NOW)
    assert _assert_windows(db, _newest(db)) >= 10


def test_a_window_searches_each_kinds_buckets_not_the_log(db, monkeypatch) -> None:
    plans: list[str] = []
    real = db.execute

    def spy(sql: str, args: Any = None) -> Any:
        if "error_slots" in sql:
            explained = real("EXPLAIN QUERY PLAN " + sql, args or [])
            plans.append(" | ".join(row[3] for row in explained.fetchall()))
        return real(sql, args) if args is not None else real(sql)

    monkeypatch.setattr(db, "execute", spy)
    assert error_groups(db, since=iso(NOW - timedelta(hours=24)))
    (plan,) = plans
    assert "SEARCH s USING PRIMARY KEY (kind=? AND slot>?)" in plan, plan
    assert "INDEX log_level_at_org (level=? AND at>? AND at<?)" in plan, plan
    assert "INDEX error_kinds_last (last_at>? AND last_at<?)" in plan, plan
    assert "SCAN log" not in plan and "error_stats" not in plan, plan
