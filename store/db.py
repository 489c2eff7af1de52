"""Opening the store: connection settings, the schema, forward migrations, and bad-file checks.

The schema version lives in `PRAGMA user_version`. MIGRATIONS[i] takes a store from version i to
i + 1; a store whose version is ahead of len(MIGRATIONS) was written by a newer syncdesk and is
refused rather than guessed at. Every sqlite3 error on opening becomes a StoreError here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from store import clock
from store.errors import StoreExists, StoreMissing, StoreTooNew, StoreUnreadable

BUSY_TIMEOUT_MS = 5000
STATES = ("active", "inactive", "disconnected", "uninstalled")
QUEUE_STATUSES = ("pending", "held", "failed", "exported")
LEVELS = ("error", "info")

_V1 = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;

CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT 'NZ',
    created_at TEXT NOT NULL
);

-- One Xero integration per organisation. `version` is bumped by every transition so that two
-- sessions racing on one organisation cannot both win (optimistic concurrency).
CREATE TABLE integrations (
    org_id INTEGER PRIMARY KEY REFERENCES orgs(id),
    state TEXT NOT NULL CHECK (state IN {STATES!r}),
    tenant_id TEXT,
    tenant_name TEXT,
    connection_id TEXT,
    previous_tenant_id TEXT,
    previous_tenant_name TEXT,
    token_expires_at TEXT,
    refresh_expires_at TEXT,
    scopes TEXT,
    last_export_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    state_changed_at TEXT,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX integrations_state ON integrations(state);

-- Secrets live apart so that no listing query can select them by accident.
CREATE TABLE credentials (
    org_id INTEGER PRIMARY KEY REFERENCES orgs(id),
    access_token TEXT,
    refresh_token TEXT
);

CREATE TABLE settings (
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,          -- JSON
    PRIMARY KEY (org_id, key)
) WITHOUT ROWID;

CREATE TABLE mappings (
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    kind TEXT NOT NULL,
    local TEXT NOT NULL,
    remote TEXT NOT NULL,
    PRIMARY KEY (org_id, kind, local)
) WITHOUT ROWID;

CREATE TABLE queue (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    doc_type TEXT NOT NULL,
    number TEXT NOT NULL,
    contact TEXT,
    amount REAL NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {QUEUE_STATUSES!r}),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    exported_at TEXT
);
CREATE INDEX queue_org_status ON queue(org_id, status);

-- The connection log. Rows are written in time order, so the rowid follows `at` and "newest
-- first" is ORDER BY id DESC: every index below ends (implicitly) in the rowid, which lets a
-- filtered newest-50 page walk one index backwards and stop, and lets FTS5 answer in rowid
-- order. FTS5 indexes the message and the organisation id, so that one organisation's matches
-- come from intersecting two doclists.
CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,             -- ISO 8601 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
    org_id INTEGER NOT NULL,
    level TEXT NOT NULL CHECK (level IN {LEVELS!r}),
    document TEXT,
    message TEXT NOT NULL,
    kind TEXT,
    correlation_id TEXT
);

-- Error groups kept up to date as rows are written (a trigger below), per organisation, kind
-- and UTC day, so that grouping a million rows is a scan of a few thousand.
CREATE TABLE error_stats (
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    org_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (day, kind, org_id)
) WITHOUT ROWID;
CREATE INDEX error_stats_org ON error_stats(org_id, day);

CREATE TABLE kb (
    kind TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    pattern TEXT NOT NULL,
    level TEXT NOT NULL,
    category TEXT NOT NULL,
    cause TEXT NOT NULL,
    fix TEXT NOT NULL,
    refresh_step TEXT NOT NULL,
    action TEXT NOT NULL,
    retryable INTEGER NOT NULL,
    example TEXT NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT,
    detail TEXT
);
CREATE INDEX audit_org ON audit(org_id, id);

-- The embedded Xero sandbox's own state (store/xero/sandbox.py). Nothing else reads these: to
-- the rest of syncdesk the sandbox is just Xero on the other side of an HTTP transport.
CREATE TABLE sandbox_tenants (
    tenant_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    currency TEXT NOT NULL,
    accounts TEXT NOT NULL,       -- JSON list of Xero Account fields
    tax_rates TEXT NOT NULL,      -- JSON list of Xero TaxRate fields
    contacts TEXT NOT NULL,       -- JSON list
    behaviour TEXT NOT NULL       -- JSON: rate_limit, outage
) WITHOUT ROWID;
CREATE TABLE sandbox_grants (     -- one Xero user's authorisation of the app, per organisation
    org_id INTEGER PRIMARY KEY,
    tenant_ids TEXT NOT NULL,     -- JSON: tenants this user may connect
    connections TEXT NOT NULL,    -- JSON: live connections as GET /connections lists them
    refresh_token TEXT,           -- the one valid refresh token (NULL: expired or revoked)
    access_token TEXT,
    access_expires_at TEXT
);
"""

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
LOG_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS log_fts
    USING fts5(message, org_id, content='log', content_rowid='id');
"""
LOG_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS log_fts_ai AFTER INSERT ON log BEGIN
    INSERT INTO log_fts(rowid, message, org_id) VALUES (new.id, new.message, new.org_id);
END;
CREATE TRIGGER IF NOT EXISTS log_fts_ad AFTER DELETE ON log BEGIN
    INSERT INTO log_fts(log_fts, rowid, message, org_id)
        VALUES ('delete', old.id, old.message, old.org_id);
END;
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


def create_log_indexes(conn: sqlite3.Connection) -> None:
    """After a bulk load: indexes, the FTS index, error groups and the triggers that keep them."""
    run_script(conn, LOG_INDEXES + LOG_FTS)
    conn.execute("INSERT INTO log_fts(log_fts) VALUES ('rebuild')")
    conn.execute("DELETE FROM error_stats")
    conn.execute(
        "INSERT INTO error_stats(day, kind, org_id, count, first_at, last_at) "
        "SELECT substr(at, 1, 10), coalesce(kind, 'unknown'), org_id, count(*), min(at), max(at) "
        "FROM log WHERE level = 'error' GROUP BY 1, 2, 3"
    )
    run_script(conn, LOG_TRIGGERS)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    run_script(conn, _V1 + LOG_INDEXES + LOG_FTS + LOG_TRIGGERS)


_V2 = """
-- Codes are looked up case-insensitively (`syncdesk show kauri`); this index serves that.
CREATE UNIQUE INDEX orgs_code_nocase ON orgs(code COLLATE NOCASE);

-- What an uninstall removed, taken in the same transaction as the removal.
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    taken_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,          -- the state before the removal
    tenant_id TEXT,
    tenant_name TEXT,
    settings TEXT NOT NULL,       -- JSON object
    mappings TEXT NOT NULL,       -- JSON list of {kind, local, remote}
    restored_at TEXT
);
CREATE INDEX snapshots_org ON snapshots(org_id, id);

-- A refresh run: the ordered steps of the recommended sequence for one organisation. At most
-- one run per organisation is in progress; it is the visible claim on that organisation.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'resolved', 'escalated')),
    started_at TEXT NOT NULL,
    started_by TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    ended_at TEXT,
    errors_before TEXT NOT NULL,  -- JSON: error groups when the run started
    diagnosis TEXT,               -- JSON
    packet TEXT                   -- where the escalation packet went
);
CREATE UNIQUE INDEX runs_one_open ON runs(org_id) WHERE status = 'in_progress';

CREATE TABLE run_steps (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('todo', 'doing', 'done', 'skipped', 'failed')),
    actor TEXT,
    started_at TEXT,
    ended_at TEXT,
    outcome TEXT,
    detail TEXT,                  -- JSON
    UNIQUE (run_id, position)
);

CREATE TABLE run_notes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    step_position INTEGER,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    run_script(conn, _V2)


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    # Who confirmed that the integration may export to a tenant other than its previous one.
    # (Some development stores got this column at version 2; add it only where missing.)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(integrations)")}
    if "tenant_confirmed_by" not in columns:
        conn.execute("ALTER TABLE integrations ADD COLUMN tenant_confirmed_by TEXT")


def _migrate_to_4(conn: sqlite3.Connection) -> None:
    # A covering index for the per-organisation questions (the dashboard's 7-day trend, one
    # organisation's error groups): no lookups into error_stats itself (54 -> 21 ms on 1M rows).
    conn.execute("DROP INDEX IF EXISTS error_stats_org")
    conn.execute(
        "CREATE INDEX error_stats_org ON error_stats(org_id, day, kind, count, first_at, last_at)"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_to_1,
    _migrate_to_2,
    _migrate_to_3,
    _migrate_to_4,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    """The current time as the store writes it (from the one clock, store/clock.py)."""
    return clock.now_iso()


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE in `transaction`),
    # so sqlite3 never starts one behind our back and a read never holds a write lock.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _check_file(path: Path) -> None:
    # Only stat here, never open(): closing any descriptor of a database file drops every
    # POSIX lock this process holds on it, and SQLite's locks are POSIX locks, so a quick look
    # at the header would let another process reset the WAL under our open connections.
    if not path.exists():
        raise StoreMissing(f"No store at {path}; create one with `syncdesk --db {path} init`.")
    if path.is_dir():
        raise StoreUnreadable(f"{path} is a directory, not a syncdesk store.")
    if not os.access(path, os.R_OK):
        raise StoreUnreadable(f"Cannot read {path}: permission denied.")


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> StoreUnreadable:
    if "not a database" in str(exc):
        return StoreUnreadable(f"{path} is not a SQLite database; point --db at a syncdesk store.")
    return StoreUnreadable(
        f"{path} is damaged or truncated ({exc}); restore it from a backup or rebuild it with "
        "`syncdesk init --force`."
    )


def open_store(path: str | os.PathLike[str]) -> sqlite_utils.Database:
    """Open an existing store, migrating it forward if it is older than this syncdesk.

    Raises StoreMissing, StoreUnreadable (not SQLite, truncated, corrupt, not ours) or StoreTooNew.
    """
    path = Path(path)
    _check_file(path)
    try:
        conn = _connect(path)
        _configure(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreTooNew(
                f"{path} was written by a newer syncdesk (schema {version}, this one reads up to "
                f"{SCHEMA_VERSION}); upgrade syncdesk to open it."
            )
        if version == 0:
            conn.close()
            raise StoreUnreadable(
                f"{path} is a SQLite database but not a syncdesk store; "
                "create one with `syncdesk init`."
            )
        migrate(conn)
        conn.execute("SELECT count(*) FROM orgs").fetchone()
        # SQLite compares the page count in the header with the file: a truncated file fails.
        conn.execute("PRAGMA page_count").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc
    return sqlite_utils.Database(conn)


def create_store(path: str | os.PathLike[str], *, force: bool = False) -> sqlite_utils.Database:
    """Create an empty store with the current schema.

    Raises StoreExists when a file is there and force is False.
    """
    path = Path(path)
    if path.exists() and not force:
        raise StoreExists(f"{path} already exists; pass --force to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    try:
        conn = _connect(path)
        _configure(conn)
        migrate(conn)
    except sqlite3.Error as exc:
        raise StoreUnreadable(f"Cannot create a store at {path} ({exc}).") from exc
    db = sqlite_utils.Database(conn)
    set_meta(db, "created_at", now_iso())
    return db


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every pending migration, each in its own transaction with its version bump."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for target, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@contextmanager
def transaction(db: sqlite_utils.Database | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue up front."""
    conn = getattr(db, "conn", db)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, value])


def get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
