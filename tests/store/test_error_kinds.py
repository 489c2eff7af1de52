"""Error groups of the whole log come from error_kinds, which does not grow with history:
the same groups as a GROUP BY over the log, after writes, deletes and an upgrade."""

from __future__ import annotations

import sqlite3
from typing import Any

from store import schema
from store.db import SCHEMA_VERSION, open_store
from store.logs import error_groups, record


def _naive(db: Any, org: str | None = None) -> list[tuple]:
    by_org = " AND orgs.code = ?" if org else ""
    return [
        tuple(r)
        for r in db.execute(
            "SELECT coalesce(kind, 'unknown'), count(*), count(DISTINCT org_id), min(at), max(at) "
            "FROM log JOIN orgs ON orgs.id = log.org_id WHERE level = 'error'" + by_org + " "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            [org] if org else [],
        )
    ]


def _groups(db: Any, org: str | None = None) -> list[tuple]:
    return [(g.kind, g.count, g.orgs, g.first_at, g.last_at) for g in error_groups(db, org=org)]


def test_groups_match_the_log_after_writes_and_deletes(db) -> None:
    assert _groups(db) == _naive(db) != []
    assert _groups(db, "KAURI") == _naive(db, "KAURI") != []
    entry = record(db, "KAURI", "error", "Xero API request timed out after 30 s")
    assert entry is not None
    assert _groups(db) == _naive(db)
    db.execute("DELETE FROM log WHERE org_id = (SELECT id FROM orgs WHERE code = 'KAURI')")
    assert _groups(db, "KAURI") == []
    counts = {g[0]: g[1:3] for g in _groups(db)}
    assert counts == {g[0]: g[1:3] for g in _naive(db)}


def test_a_store_of_the_previous_version_gets_the_table(store_path) -> None:
    conn = sqlite3.connect(store_path, isolation_level=None)
    conn.execute("DROP TRIGGER log_error_kinds_ai")
    conn.execute("DROP TRIGGER log_error_kinds_ad")
    conn.execute("DROP TABLE error_kinds")
    conn.execute(f"PRAGMA user_version = {schema.MIGRATIONS.index(schema._migrate_error_totals)}")
    conn.close()
    db = open_store(store_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert _groups(db) == _naive(db) != []
    record(db, "HARBOUR", "error", "Xero API request timed out after 30 s")
    assert _groups(db) == _naive(db)
