"""Store failures named for what they are, each with advice that never destroys a sound store.

Every case is a real SQLite failure: a lock held by another connection, a read-only
connection, a store that may not grow (max_page_count: SQLite's own 'disk is full'), a value
that is not UTF-8, a damaged page.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store import db as dbm
from store.db import open_store, store_error, transaction
from store.errors import (
    StoreBadValue,
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreReadOnly,
)
from store.logs import record
from store.orgs import show_org


def _no_destructive_advice(err: StoreError) -> None:
    assert "init --force" not in str(err) and "rebuild" not in str(err)


def test_a_lock_held_by_another_session_is_busy_not_damage(store_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(dbm, "BUSY_TIMEOUT_MS", 200)
    other = sqlite3.connect(store_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    db = open_store(store_path)
    try:
        with pytest.raises(StoreBusy, match="busy: another session") as caught:
            record(db, "HARBOUR", "info", "written while another session holds the lock")
        assert "nothing was changed" in str(caught.value)
        _no_destructive_advice(caught.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    record(db, "HARBOUR", "info", "and written once the lock is gone")


def test_a_read_only_store_says_so(store_path: Path) -> None:
    conn = sqlite3.connect(f"{store_path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE orgs SET name = name")
    err = store_error(caught.value, store_path)
    assert isinstance(err, StoreReadOnly) and "cannot be written by you" in str(err)
    _no_destructive_advice(err)


def test_a_full_disk_changes_nothing_and_says_so(db) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    before = db.execute("SELECT count(*) FROM log").fetchone()[0]
    with pytest.raises(StoreFull, match="is full, so nothing was changed") as caught:
        record(db, "HARBOUR", "info", "x" * 200_000)
    _no_destructive_advice(caught.value)
    assert db.execute("SELECT count(*) FROM log").fetchone()[0] == before


def test_one_bad_utf8_value_is_named_and_the_store_is_sound(db, store_path: Path) -> None:
    db.execute("UPDATE orgs SET name = CAST(x'fffe41' AS TEXT) WHERE code = 'KAURI'")
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("SELECT name FROM orgs WHERE code = 'KAURI'").fetchone()
    err = store_error(caught.value, store_path)
    assert isinstance(err, StoreBadValue) and "the store itself is sound" in str(err)
    _no_destructive_advice(err)
    assert show_org(db, "HARBOUR").code == "HARBOUR"  # the rest still reads


def test_damage_is_reported_only_when_sqlite_confirms_it(store_path: Path, tmp_path) -> None:
    raw = bytearray(store_path.read_bytes())
    page = 4096
    for offset in range(page * 3, min(len(raw), page * 40), page):
        raw[offset : offset + 64] = b"\xa5" * 64  # scribble over b-tree page headers
    broken = tmp_path / "broken.db"
    broken.write_bytes(bytes(raw))
    assert dbm._quick_check(broken) != "ok"  # SQLite itself finds the damage
    said = sqlite3.DatabaseError("database disk image is malformed")
    err = store_error(said, broken)
    assert isinstance(err, StoreDamaged) and "restore it from a backup" in str(err)
    _no_destructive_advice(err)
    # The same words about a sound file do not call it damaged.
    sound = store_error(said, store_path)
    assert not isinstance(sound, StoreDamaged) and "finds it sound" in str(sound)


def test_transaction_turns_sqlite_failures_into_store_errors(db, monkeypatch) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFull):
        with transaction(db) as conn:
            conn.execute("INSERT INTO meta(key, value) VALUES ('big', ?)", ["y" * 500_000])
    assert not db.conn.in_transaction


def test_a_new_store_and_its_wal_are_private(tmp_path: Path) -> None:
    """The store holds every customer's Xero tokens: 0600, whatever the umask."""
    import os
    import stat as st

    from store.db import create_store

    old = os.umask(0o022)
    try:
        db = create_store(tmp_path / "new.db")
        db.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')")  # the WAL appears
        for name in ("new.db", "new.db-wal", "new.db-shm"):
            assert st.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        db.conn.close()
        shared = tmp_path / "team"
        shared.mkdir()
        shared.chmod(0o2770)  # a group-shared support directory
        create_store(shared / "team.db").conn.close()
        assert st.S_IMODE((shared / "team.db").stat().st_mode) == 0o660
    finally:
        os.umask(old)
