"""Damage in pages nothing has read yet: reads go on, but an uninstall is refused before
anything changes, here or on Xero (store.db.require_sound)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from support import one_line

from store.db import open_store
from store.transitions import integration, revoke_pending


def _damage_an_index_page(path: Path) -> None:
    """Zero the header of one leaf page of the log_kind index (no command reads it to show
    an organisation), the way a bad sector would."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pageno = conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'log_kind' AND pagetype = 'leaf' LIMIT 1"
    ).fetchone()[0]
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    with open(path, "r+b") as f:
        f.seek((pageno - 1) * page_size)
        f.write(b"\x00" * 16)


def test_uninstall_of_a_store_damaged_where_nothing_looked_is_refused(cli, store_path, stub_env):
    _damage_an_index_page(store_path)
    code, out, _ = cli("show", "HARBOUR")  # the damage is where reads do not go
    assert code == 0 and "HARBOUR" in out

    code, _, err = cli("uninstall", "HARBOUR", "--confirm", "HARBOUR", "--actor", "alice")

    line = one_line(err)
    assert code == 1 and "damaged" in line and "nothing changed" in line
    assert not [s for s in stub_env.seen if s[0] == "DELETE"]  # Xero was never asked
    db = open_store(store_path)
    try:
        assert integration(db, "HARBOUR").state == "active"
        assert not revoke_pending(db, "HARBOUR")
    finally:
        db.close()
