"""The schema, migrations, connection settings and every kind of bad file."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW

from store import db as dbm
from store import schema
from store.db import SCHEMA_VERSION, create_store, migrate, open_store
from store.errors import StoreExists, StoreMissing, StoreTooNew, StoreUnreadable
from store.timeparse import iso


def test_new_store_has_current_schema_and_wal(tmp_path: Path) -> None:
    db = create_store(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == dbm.BUSY_TIMEOUT_MS
    tables = set(db.table_names())
    assert {
        "orgs",
        "integrations",
        "settings",
        "mappings",
        "queue",
        "log",
        "kb",
        "audit",
        "error_stats",
        "log_fts",
    } <= tables


def test_every_connection_gets_busy_timeout_and_foreign_keys(store_path: Path) -> None:
    db = open_store(store_path)
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == dbm.BUSY_TIMEOUT_MS
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    create_store(tmp_path / "s.db").conn.close()
    with pytest.raises(StoreExists):
        create_store(tmp_path / "s.db")


def test_state_check_constraint(db) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE integrations SET state = 'broken'")


def test_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing, match="init"):
        open_store(tmp_path / "nope.db")


def test_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreUnreadable, match="directory"):
        open_store(tmp_path)


def test_text_file_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not a database\n" * 10)
    with pytest.raises(StoreUnreadable, match="not a SQLite database"):
        open_store(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreUnreadable):
        open_store(path)


def test_truncated_store(store_path: Path) -> None:
    data = store_path.read_bytes()
    store_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StoreUnreadable, match="truncated"):
        open_store(store_path)


def test_sqlite_but_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnreadable, match="not a syncdesk store"):
        open_store(path)


def test_store_from_newer_syncdesk(store_path: Path) -> None:
    conn = sqlite3.connect(store_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreTooNew, match="newer syncdesk"):
        open_store(store_path)


def test_migrations_run_forward_in_order(tmp_path: Path, monkeypatch) -> None:
    """An old store is brought up to date on open, each step with its version bump."""
    path = tmp_path / "old.db"
    create_store(path).conn.close()
    seen = []

    def to_next(conn: sqlite3.Connection) -> None:
        seen.append(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute("ALTER TABLE orgs ADD COLUMN note TEXT")

    monkeypatch.setattr(dbm, "MIGRATIONS", [*dbm.MIGRATIONS, to_next])
    monkeypatch.setattr(dbm, "SCHEMA_VERSION", len(dbm.MIGRATIONS))
    db = open_store(path)
    assert seen == [SCHEMA_VERSION]
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert "note" in db["orgs"].columns_dict


def test_failed_migration_rolls_back_whole_step(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "old.db"
    create_store(path).conn.close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE orgs ADD COLUMN half TEXT")
        raise RuntimeError("boom")

    monkeypatch.setattr(dbm, "MIGRATIONS", [*dbm.MIGRATIONS, broken])
    monkeypatch.setattr(dbm, "SCHEMA_VERSION", len(dbm.MIGRATIONS))
    with pytest.raises(RuntimeError):
        open_store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "half" not in [r[1] for r in conn.execute("PRAGMA table_info(orgs)")]


def test_run_script_stays_inside_the_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    conn.execute("BEGIN")
    schema.run_script(
        conn, "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  SELECT 1;\nEND;\n"
    )
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_migrate_is_idempotent(db) -> None:
    migrate(db.conn)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_error_stats_follow_inserts_and_deletes(db) -> None:
    org = db.execute("SELECT id FROM orgs WHERE code = 'HARBOUR'").fetchone()[0]

    def count() -> int:
        row = db.execute("SELECT sum(count) FROM error_stats WHERE org_id = ?", [org]).fetchone()
        return row[0] or 0

    before = count()
    db.execute(
        "INSERT INTO log(at, org_id, level, message, kind) VALUES (?, ?, 'error', 'x', 'timeout')",
        [iso(NOW - timedelta(hours=1)), org],
    )
    assert count() == before + 1
    db.execute("DELETE FROM log WHERE org_id = ? AND message = 'x'", [org])
    assert count() == before


def test_fts_follows_inserts(db) -> None:
    org = db.execute("SELECT id FROM orgs WHERE code = 'HARBOUR'").fetchone()[0]
    db.execute(
        "INSERT INTO log(at, org_id, level, message) VALUES "
        "(?, ?, 'info', 'zanzibarquux happened')",
        [iso(NOW - timedelta(hours=1)), org],
    )
    hits = db.execute("SELECT rowid FROM log_fts WHERE log_fts MATCH 'zanzibarquux'").fetchall()
    assert len(hits) == 1


def test_version_1_store_is_migrated_to_current(tmp_path: Path) -> None:
    """A store written by the first syncdesk opens with runs, snapshots and tenant confirmation."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    schema.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.execute("INSERT INTO orgs(id, code, name, created_at) VALUES (1, 'OLD', 'Old Ltd', 'x')")
    conn.execute(
        "INSERT INTO integrations(org_id, state, updated_at, updated_by) "
        "VALUES (1, 'active', 'x', 'y')"
    )
    conn.close()
    db = open_store(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"snapshots", "runs", "run_steps", "run_notes"} <= set(db.table_names())
    assert "tenant_confirmed_by" in db["integrations"].columns_dict
    assert db.execute("SELECT code FROM orgs").fetchone()[0] == "OLD"
