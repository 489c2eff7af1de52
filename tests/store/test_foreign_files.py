"""A file that is not a syncdesk store is refused before anything is written to it: no switch
to WAL, no migration, no database header in an empty file (issue 14, measured 11)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from store.db import open_store
from store.errors import StoreUnreadable


def _foreign(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return path


def _fingerprint(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda p: _foreign(p, "CREATE TABLE notes(x)", "INSERT INTO notes VALUES (1)"),
            "a SQLite",
        ),
        (lambda p: _foreign(p, "CREATE TABLE orgs(x)", "PRAGMA user_version = 1"), "a SQLite"),
        (lambda p: p.write_bytes(b"") and p, "an empty file"),
    ],
    ids=["other-app", "user-version-1-with-orgs", "zero-bytes"],
)
@pytest.mark.parametrize("read_only", [None, True])
def test_refused_and_left_as_it_was(tmp_path: Path, make, said: str, read_only) -> None:
    path = tmp_path / "other.db"
    make(path)
    before = _fingerprint(tmp_path)
    mode = (
        None
        if path.stat().st_size == 0
        else sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    )
    with pytest.raises(StoreUnreadable) as refused:
        open_store(path, read_only=read_only)
    assert str(refused.value) == (
        f"{path} is {said}{'' if said == 'an empty file' else ' database'}, not a syncdesk "
        "store (left as it was); create a store with `syncdesk init`, or point --db at one."
    )
    assert _fingerprint(tmp_path) == before  # same files, same bytes: no -wal, no header
    if mode is not None:
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == mode


def test_a_store_still_opens_and_is_wal(store_path: Path) -> None:
    with open_store(store_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
