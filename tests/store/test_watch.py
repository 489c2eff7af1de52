"""Noticing writes from other connections, counting and walking a filter, rows newer than a page."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from store.db import open_store
from store.logs import LogQuery, page_log, record, resolve_since
from store.watch import count_log, data_version, newer_entries, stop_when, walk_log


def test_data_version_changes_only_when_another_connection_commits(store_path, now) -> None:
    watcher, writer = open_store(store_path), open_store(store_path)
    try:
        before = data_version(watcher)
        watcher.execute("SELECT count(*) FROM log").fetchone()
        assert data_version(watcher) == before  # reading changes nothing
        record(writer, "KAURI", "info", "Synced contact C-1", at=now)
        after = data_version(watcher)
        assert after != before
        assert data_version(watcher) == after  # stable until the next write
        record(watcher, "KAURI", "info", "own write", at=now)
        assert data_version(watcher) == after  # a connection does not see its own commits
    finally:
        watcher.conn.close()
        writer.conn.close()


def _sql_count(db, where: str = "1", args: list | None = None) -> int:
    sql = f"SELECT count(*) FROM log JOIN orgs ON orgs.id = log.org_id WHERE {where}"
    return db.execute(sql, args or []).fetchone()[0]


def test_count_matches_sql_for_each_filter(db, now) -> None:
    since = resolve_since("24h", now=now)
    assert count_log(db, LogQuery()) == _sql_count(db)
    assert count_log(db, LogQuery(level="error")) == _sql_count(db, "level = 'error'")
    assert count_log(db, LogQuery(org="kauri")) == _sql_count(db, "orgs.code = 'KAURI'")
    assert count_log(db, LogQuery(kind="timeout")) == _sql_count(db, "kind = 'timeout'")
    assert count_log(db, LogQuery(since=since)) == _sql_count(db, "at >= ?", [since])
    searched = count_log(db, LogQuery(search="timed out", org="KAURI"))
    assert searched == len(list(_walk_ids(db, LogQuery(search="timed out", org="KAURI"))))
    assert count_log(db, LogQuery(org="KAURI", level="error", since=since)) == _sql_count(
        db, "orgs.code = 'KAURI' AND level = 'error' AND at >= ?", [since]
    )


def test_count_of_punctuation_search_uses_like(db, now) -> None:
    record(db, "KAURI", "error", "weird [/] text", at=now)
    assert count_log(db, LogQuery(search="[/]")) == 1


def test_count_stops_when_cancelled(db) -> None:
    assert count_log(db, LogQuery(), cancelled=lambda: True) is None
    assert count_log(db, LogQuery(level="info"), cancelled=lambda: False) == _sql_count(
        db, "level = 'info'"
    )


def test_stop_when_interrupts_a_running_query(db) -> None:
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    )
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        with stop_when(db, lambda: time.monotonic() - started > 0.05):
            db.execute(endless).fetchone()
    assert time.monotonic() - started < 2
    assert db.execute("SELECT count(*) FROM log").fetchone()[0] > 0  # the connection still works


def _walk_ids(db, query: LogQuery, page_size: int = 2000):
    for page in walk_log(db, query, page_size=page_size):
        yield from (e.id for e in page.entries)


def test_walk_visits_every_row_once_newest_first(db) -> None:
    ids = list(_walk_ids(db, LogQuery(level="error"), page_size=17))
    expected = [
        r[0] for r in db.execute("SELECT id FROM log WHERE level = 'error' ORDER BY id DESC")
    ]
    assert ids == expected and len(ids) > 17


def test_newer_entries_returns_only_rows_after_the_newest_shown(db, now) -> None:
    query = LogQuery(org="KAURI")
    newest = page_log(db, query, limit=1).entries[0].id
    assert newer_entries(db, query, newest).entries == ()
    rows = [
        record(db, "KAURI", "info", f"new {i}", at=now + timedelta(seconds=i)) for i in range(3)
    ]
    record(db, "WATTLE", "info", "another organisation", at=now)
    found = newer_entries(db, query, newest)
    assert [e.id for e in found.entries] == [r.id for r in reversed(rows)]


def test_newer_entries_gives_up_on_a_flood(db, now) -> None:
    newest = page_log(db, LogQuery(), limit=1).entries[0].id
    for i in range(12):
        record(db, "KAURI", "info", f"flood {i}", at=now)
    assert newer_entries(db, LogQuery(), newest, limit=10) is None
    assert len(newer_entries(db, LogQuery(), newest, limit=12).entries) == 12


def test_newer_entries_without_a_page_is_the_first_page(db) -> None:
    found = newer_entries(db, LogQuery(), None, limit=50)
    assert [e.id for e in found.entries] == [e.id for e in page_log(db, LogQuery()).entries]


_WRITE_FROM_ANOTHER_PROCESS = """
import sys
from store.db import open_store
from store.logs import record
db = open_store(sys.argv[1])
record(db, "KAURI", "info", "written by another process")
db.conn.close()
"""


def test_data_version_follows_another_process_while_this_one_opens_stores(store_path) -> None:
    watcher = open_store(store_path)
    try:
        seen = []
        for _ in range(3):
            before = data_version(watcher)
            subprocess.run(
                [sys.executable, "-c", _WRITE_FROM_ANOTHER_PROCESS, str(store_path)], check=True
            )
            seen.append(data_version(watcher) != before)
            open_store(store_path).conn.close()  # what every screen worker does
        assert seen == [True, True, True]
    finally:
        watcher.conn.close()
