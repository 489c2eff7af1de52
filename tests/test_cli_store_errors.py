"""The command line names a store failure for what it is, and never advises destroying a sound
store: a lock held by another session is "busy", after the stated busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import one_line, run_cli

from store import db as dbm


def test_a_held_lock_is_busy_after_the_timeout_not_damage(
    capsys, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbm, "BUSY_TIMEOUT_MS", 200)  # the real wait is 5 s
    other = sqlite3.connect(store_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        code, out, err = run_cli(capsys, "--db", str(store_path), "deactivate", "TASMAN")
    finally:
        other.execute("ROLLBACK")
        other.close()
    line = one_line(err)
    assert code == 1 and out == ""
    assert "busy" in line and "0.2 s" in line and "nothing was changed" in line
    assert "init --force" not in line and "damaged" not in line
    code, out, _ = run_cli(capsys, "--db", str(store_path), "deactivate", "TASMAN")
    assert code == 0 and "active -> inactive" in out


def test_a_sqlite_error_a_command_lets_through_is_named_with_the_path(
    capsys, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import orgs  # `syncdesk orgs` imports list_orgs from here when it runs

    def locked(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(orgs, "list_orgs", locked)
    code, _, err = run_cli(capsys, "--db", str(store_path), "orgs")
    line = one_line(err)
    assert code == 1 and str(store_path) in line and "busy" in line
    assert "init --force" not in line
