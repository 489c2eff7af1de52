"""The connection log's indexes, full-text search and error-group tables: kept apart from the
rest of the schema so that a bulk load can insert first and index afterwards, and shared by the
migrations (store/schema.py) and the builds (store/generate.py, store/importer.py).
"""

from __future__ import annotations

import sqlite3

# Indexes and triggers on the log, kept apart so that a bulk load can insert first and index
# afterwards (several times faster than maintaining six indexes and FTS row by row).
LOG_INDEXES = """
CREATE INDEX IF NOT EXISTS log_at ON log(at);
CREATE INDEX IF NOT EXISTS log_org ON log(org_id);
CREATE INDEX IF NOT EXISTS log_org_level ON log(org_id, level);
CREATE INDEX IF NOT EXISTS log_level ON log(level);
CREATE INDEX IF NOT EXISTS log_kind ON log(kind);
CREATE INDEX IF NOT EXISTS log_level_at_org ON log(level, at, org_id);
"""
# The full-text index as the first store had it (migration 1 builds it; migration 7 replaces it).
_V1_LOG_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS log_fts
    USING fts5(message, org_id, content='log', content_rowid='id');
"""
_V1_LOG_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_fts_ai AFTER INSERT ON log BEGIN
    INSERT INTO log_fts(rowid, message, org_id) VALUES (new.id, new.message, new.org_id);
END;
CREATE TRIGGER IF NOT EXISTS log_fts_ad AFTER DELETE ON log BEGIN
    INSERT INTO log_fts(log_fts, rowid, message, org_id)
        VALUES ('delete', old.id, old.message, old.org_id);
END;
"""
# The full-text index carries the filters a search is combined with (organisation, level,
# kind) as columns of their own, so that "a word + errors only" intersects two doclists
# instead of testing every match of the word against the log (330 -> 18 ms on 1M rows).
# Searched words are restricted to the message column (store/logs.py).
LOG_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS log_fts
    USING fts5(message, org_id, level, kind, content='log', content_rowid='id');
"""
_LOG_FTS_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_fts_ai AFTER INSERT ON log BEGIN
    INSERT INTO log_fts(rowid, message, org_id, level, kind)
        VALUES (new.id, new.message, new.org_id, new.level, new.kind);
END;
CREATE TRIGGER IF NOT EXISTS log_fts_ad AFTER DELETE ON log BEGIN
    INSERT INTO log_fts(log_fts, rowid, message, org_id, level, kind)
        VALUES ('delete', old.id, old.message, old.org_id, old.level, old.kind);
END;
CREATE TRIGGER IF NOT EXISTS log_fts_au AFTER UPDATE ON log BEGIN
    INSERT INTO log_fts(log_fts, rowid, message, org_id, level, kind)
        VALUES ('delete', old.id, old.message, old.org_id, old.level, old.kind);
    INSERT INTO log_fts(rowid, message, org_id, level, kind)
        VALUES (new.id, new.message, new.org_id, new.level, new.kind);
END;
"""
_ERROR_STATS_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_errors_ai AFTER INSERT ON log WHEN new.level = 'error' BEGIN
    INSERT INTO error_stats(day, kind, org_id, count, first_at, last_at)
        VALUES (substr(new.at, 1, 10), coalesce(new.kind, 'unknown'), new.org_id, 1, new.at, new.at)
        ON CONFLICT(day, kind, org_id) DO UPDATE SET
            count = count + 1,
            first_at = min(first_at, excluded.first_at),
            last_at = max(last_at, excluded.last_at);
END;
CREATE TRIGGER IF NOT EXISTS log_errors_ad AFTER DELETE ON log WHEN old.level = 'error' BEGIN
    UPDATE error_stats SET count = count - 1
        WHERE day = substr(old.at, 1, 10) AND kind = coalesce(old.kind, 'unknown')
          AND org_id = old.org_id;
    DELETE FROM error_stats WHERE count <= 0;
END;
"""
# Error groups of the whole log: error_kinds per organisation and kind (one organisation's
# groups), error_totals per kind (every organisation's: its `orgs` counts the error_kinds rows
# of the kind). error_stats has a bucket per day as well, so summing it grows with history
# (38k buckets at 1M rows, 30k (org, kind) pairs); error_totals has a row per kind.
_ERROR_KINDS = """
CREATE TABLE IF NOT EXISTS error_kinds (
    org_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (org_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS error_totals (
    kind TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    orgs INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL
) WITHOUT ROWID;
"""
_ERROR_KINDS_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_error_kinds_ai AFTER INSERT ON log WHEN new.level = 'error'
BEGIN
    INSERT INTO error_totals(kind, count, orgs, first_at, last_at)
        VALUES (coalesce(new.kind, 'unknown'), 1, 0, new.at, new.at)
        ON CONFLICT(kind) DO UPDATE SET
            count = count + 1,
            first_at = min(first_at, excluded.first_at),
            last_at = max(last_at, excluded.last_at);
    INSERT INTO error_kinds(org_id, kind, count, first_at, last_at)
        VALUES (new.org_id, coalesce(new.kind, 'unknown'), 1, new.at, new.at)
        ON CONFLICT(org_id, kind) DO UPDATE SET
            count = count + 1,
            first_at = min(first_at, excluded.first_at),
            last_at = max(last_at, excluded.last_at);
END;
CREATE TRIGGER IF NOT EXISTS log_error_kinds_ad AFTER DELETE ON log WHEN old.level = 'error'
BEGIN
    UPDATE error_kinds SET count = count - 1
        WHERE org_id = old.org_id AND kind = coalesce(old.kind, 'unknown');
    DELETE FROM error_kinds WHERE org_id = old.org_id AND count <= 0;
    UPDATE error_totals SET count = count - 1 WHERE kind = coalesce(old.kind, 'unknown');
    DELETE FROM error_totals WHERE count <= 0;
END;
CREATE TRIGGER IF NOT EXISTS error_kinds_ai AFTER INSERT ON error_kinds BEGIN
    UPDATE error_totals SET orgs = orgs + 1 WHERE kind = new.kind;
END;
CREATE TRIGGER IF NOT EXISTS error_kinds_ad AFTER DELETE ON error_kinds BEGIN
    UPDATE error_totals SET orgs = orgs - 1 WHERE kind = old.kind;
END;
"""
# Error groups of a time window ("the last 24 h", no organisation) from ten-minute buckets per
# kind: `slot` is the first 15 characters of `at` ('2026-11-24T11:5'). Summing the buckets after
# the window's first slot, plus that slot's rows from the log (ten minutes at most), answers in
# about 1 ms at 1M and at 3M rows alike: the per-day, per-organisation buckets of error_stats
# grow with the rows per day (24 h: 12 ms at 1M, 39-51 ms at 3M). A bucket's `orgs` counts the
# organisations whose latest error of the kind (error_kinds.last_at) is in it, so the buckets
# from a moment on sum to the organisations with an error of the kind since then, each once.
# (A deleted log row leaves error_kinds.last_at as it was, as it leaves first/last seen.)
_ERROR_SLOTS = """
CREATE TABLE IF NOT EXISTS error_slots (
    kind TEXT NOT NULL,
    slot TEXT NOT NULL,
    count INTEGER NOT NULL,
    orgs INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (kind, slot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS error_kinds_last ON error_kinds(last_at);
"""
_ERROR_SLOTS_LOG_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_error_slots_ai AFTER INSERT ON log WHEN new.level = 'error'
BEGIN
    INSERT INTO error_slots(kind, slot, count, orgs, first_at, last_at)
        VALUES (coalesce(new.kind, 'unknown'), substr(new.at, 1, 15), 1, 0, new.at, new.at)
        ON CONFLICT(kind, slot) DO UPDATE SET
            count = count + 1,
            first_at = min(first_at, excluded.first_at),
            last_at = max(last_at, excluded.last_at);
END;
CREATE TRIGGER IF NOT EXISTS log_error_slots_ad AFTER DELETE ON log WHEN old.level = 'error'
BEGIN
    UPDATE error_slots SET count = count - 1
        WHERE kind = coalesce(old.kind, 'unknown') AND slot = substr(old.at, 1, 15);
    DELETE FROM error_slots
        WHERE kind = coalesce(old.kind, 'unknown') AND slot = substr(old.at, 1, 15)
          AND count <= 0 AND orgs <= 0;
END;
"""
# error_kinds' latest error moves to a later slot: its organisation is counted there instead.
_ERROR_SLOTS_KINDS_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS error_kinds_slot_ai AFTER INSERT ON error_kinds BEGIN
    INSERT INTO error_slots(kind, slot, count, orgs, first_at, last_at)
        VALUES (new.kind, substr(new.last_at, 1, 15), 0, 1, new.last_at, new.last_at)
        ON CONFLICT(kind, slot) DO UPDATE SET orgs = orgs + 1;
END;
CREATE TRIGGER IF NOT EXISTS error_kinds_slot_au AFTER UPDATE OF last_at ON error_kinds
WHEN substr(old.last_at, 1, 15) <> substr(new.last_at, 1, 15)
BEGIN
    UPDATE error_slots SET orgs = orgs - 1
        WHERE kind = old.kind AND slot = substr(old.last_at, 1, 15);
    DELETE FROM error_slots WHERE kind = old.kind AND slot = substr(old.last_at, 1, 15)
        AND count <= 0 AND orgs <= 0;
    INSERT INTO error_slots(kind, slot, count, orgs, first_at, last_at)
        VALUES (new.kind, substr(new.last_at, 1, 15), 0, 1, new.last_at, new.last_at)
        ON CONFLICT(kind, slot) DO UPDATE SET orgs = orgs + 1;
END;
CREATE TRIGGER IF NOT EXISTS error_kinds_slot_ad AFTER DELETE ON error_kinds BEGIN
    UPDATE error_slots SET orgs = orgs - 1
        WHERE kind = old.kind AND slot = substr(old.last_at, 1, 15);
    DELETE FROM error_slots WHERE kind = old.kind AND slot = substr(old.last_at, 1, 15)
        AND count <= 0 AND orgs <= 0;
END;
"""
LOG_TRIGGERS = (
    _LOG_FTS_TRIGGERS + _ERROR_STATS_TRIGGERS + _ERROR_KINDS_TRIGGERS + _ERROR_SLOTS_LOG_TRIGGERS
)


def fill_error_groups(conn: sqlite3.Connection) -> None:
    """Count the error groups (error_stats, error_kinds, error_totals, error_slots) again from
    the log."""
    conn.execute("DELETE FROM error_stats")
    conn.execute(
        "INSERT INTO error_stats(day, kind, org_id, count, first_at, last_at) "
        "SELECT substr(at, 1, 10), coalesce(kind, 'unknown'), org_id, count(*), min(at), max(at) "
        "FROM log WHERE level = 'error' GROUP BY 1, 2, 3"
    )
    _fill_error_kinds(conn)
    fill_error_slots(conn)


def fill_error_slots(conn: sqlite3.Connection) -> None:
    """The ten-minute buckets from the log, and each organisation counted in the bucket of its
    latest error of the kind (after error_kinds is filled: its triggers touch these buckets)."""
    conn.execute("DELETE FROM error_slots")
    conn.execute(
        "INSERT INTO error_slots(kind, slot, count, orgs, first_at, last_at) "
        "SELECT coalesce(kind, 'unknown'), substr(at, 1, 15), count(*), 0, min(at), max(at) "
        "FROM log WHERE level = 'error' GROUP BY 1, 2"
    )
    conn.execute(
        "UPDATE error_slots SET orgs = counted.n FROM (SELECT kind, substr(last_at, 1, 15) AS "
        "slot, count(*) AS n FROM error_kinds GROUP BY 1, 2) AS counted "
        "WHERE error_slots.kind = counted.kind AND error_slots.slot = counted.slot"
    )


def _fill_error_kinds(conn: sqlite3.Connection) -> None:
    # (error_kinds' own triggers may adjust error_totals meanwhile: it is filled last)
    conn.execute("DELETE FROM error_kinds")
    conn.execute(
        "INSERT INTO error_kinds(org_id, kind, count, first_at, last_at) "
        "SELECT org_id, kind, sum(count), min(first_at), max(last_at) FROM error_stats "
        "GROUP BY org_id, kind"
    )
    conn.execute("DELETE FROM error_totals")
    conn.execute(
        "INSERT INTO error_totals(kind, count, orgs, first_at, last_at) "
        "SELECT kind, sum(count), count(*), min(first_at), max(last_at) FROM error_kinds "
        "GROUP BY kind"
    )


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction.

    sqlite3's executescript() COMMITs a pending transaction first, which would make a migration
    half-applied on failure; this splits the script into complete statements instead.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]}")


def drop_log_indexes(conn: sqlite3.Connection) -> None:
    """Before a bulk load: drop what LOG_INDEXES, LOG_FTS and LOG_TRIGGERS create."""
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE tbl_name = 'log' AND type IN "
        "('index', 'trigger') AND name NOT LIKE 'sqlite_%'"
    ).fetchall():
        conn.execute(f"DROP {kind.upper()} {name}")
    conn.execute("DROP TABLE IF EXISTS log_fts")


def create_log_indexes(conn: sqlite3.Connection, *, sample: bool = False) -> None:
    """After a bulk load: indexes, the FTS index, error groups and the triggers that keep them."""
    run_script(conn, LOG_INDEXES + LOG_FTS)
    conn.execute("INSERT INTO log_fts(log_fts) VALUES ('rebuild')")
    fill_error_groups(conn)
    run_script(conn, LOG_TRIGGERS)
    analyze(conn, sample=sample)


def analyze(conn: sqlite3.Connection, *, sample: bool = False) -> None:
    """Give the planner the statistics it needs (sqlite_stat1): without them it picks the
    kind index over the organisation index for kind + org, 20 ms instead of 1 (store/logs.py
    also names the index for every log filter). A full ANALYZE of 1M rows takes about 1 s;
    with sample, SQLite reads about 1,000 entries of each index (a build: tens of ms)."""
    if sample:
        conn.execute("PRAGMA analysis_limit = 1000")
    conn.execute("ANALYZE")
    if sample:
        conn.execute("PRAGMA analysis_limit = 0")
