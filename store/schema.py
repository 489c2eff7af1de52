"""The store's schema: tables, indexes, full-text search, the triggers that keep error groups
current, and the forward migrations. MIGRATIONS[i] takes a store from version i to i + 1
(store/db.py applies them, each in its own transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from store.enums import Level, QueueStatus, State
from store.schema_log import (
    _ERROR_KINDS,
    _ERROR_KINDS_TRIGGERS,
    _ERROR_SLOTS,
    _ERROR_SLOTS_KINDS_TRIGGERS,
    _ERROR_SLOTS_LOG_TRIGGERS,
    _ERROR_STATS_TRIGGERS,
    _LOG_FTS_TRIGGERS,
    _V1_LOG_FTS,
    _V1_LOG_TRIGGERS,
    LOG_FTS,
    LOG_INDEXES,
    _fill_error_kinds,
    analyze,
    fill_error_slots,
    run_script,
)

STATES = tuple(s.value for s in State)
QUEUE_STATUSES = tuple(s.value for s in QueueStatus)
LEVELS = tuple(level.value for level in Level)

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


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    run_script(conn, _V1 + LOG_INDEXES + _V1_LOG_FTS + _V1_LOG_TRIGGERS + _ERROR_STATS_TRIGGERS)


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


def _migrate_to_5(conn: sqlite3.Connection) -> None:
    # An uninstall records its intent to revoke the Xero connection in the same transaction as
    # the snapshot, before anything is sent to Xero; the row (and the organisation's tokens,
    # which the revoke needs) goes once Xero has answered. A kill in between leaves this row,
    # and the next uninstall step, reconnect or `syncdesk uninstall` sends the revoke again.
    conn.execute(
        "CREATE TABLE pending_revokes ("
        "org_id INTEGER PRIMARY KEY REFERENCES orgs(id), connection_id TEXT, tenant_id TEXT, "
        "recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL)"
    )


_V6 = """
-- The rows `syncdesk ingest` has written, by where they came from: (source, the row's id in
-- that source) for rows that carry an id, ('', a hash of the row's fields and its occurrence)
-- for rows that do not. Written in the same transaction as the rows themselves, so a re-run
-- (after a kill, or of the same file) skips exactly what is already in, and ids from two
-- sources never collide. Ingest keeps the log's rowid in time order (the comment above `CREATE
-- TABLE log`): newer rows go on top, rows older than the whole log below it (ids may go to 0
-- and below), and a new row between two stored ones is rejected (store/ingest.py).
CREATE TABLE ingest_keys (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
"""


def _migrate_to_6(conn: sqlite3.Connection) -> None:
    run_script(conn, _V6)


def _migrate_runs_follow_verdicts(conn: sqlite3.Connection) -> None:
    # Issue 12. Why a person paused an integration and until when (`syncdesk deactivate
    # --reason --until`): one row per organisation, written by the deactivate transition and
    # read only while the integration is inactive. A run's override of its verdict (the typed
    # reason, who), the time a waiting run may go on (`wait_until`) and the mappings when it
    # started (`mappings_before`, JSON, for the escalation packet). Self-contained: the
    # lead may renumber it at merge, so it checks what is already there.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS pauses ("
        "org_id INTEGER PRIMARY KEY REFERENCES orgs(id), reason TEXT, due_at TEXT, "
        "paused_at TEXT NOT NULL, paused_by TEXT NOT NULL)"
    )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column in ("override_reason", "override_by", "wait_until", "mappings_before"):
        if column not in columns:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")


def _migrate_fts_filters(conn: sqlite3.Connection) -> None:
    # Issue 17. The full-text index gains the level and kind columns (LOG_FTS), and an UPDATE
    # of the log (a kind reclassified) keeps it current; then statistics for the planner.
    # Rebuilding the index reads every log row: about 8 s for 1M rows, once. Self-contained
    # (drops and rebuilds), so it may be renumbered.
    for trigger in ("log_fts_ai", "log_fts_ad", "log_fts_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("DROP TABLE IF EXISTS log_fts")
    run_script(conn, LOG_FTS)
    conn.execute("INSERT INTO log_fts(log_fts) VALUES ('rebuild')")
    run_script(conn, _LOG_FTS_TRIGGERS)
    analyze(conn)


def _migrate_error_totals(conn: sqlite3.Connection) -> None:
    # Error groups of the whole log from a table that does not grow with history
    # (_ERROR_KINDS), filled from the daily buckets.
    run_script(conn, _ERROR_KINDS)
    _fill_error_kinds(conn)
    run_script(conn, _ERROR_KINDS_TRIGGERS)


def _migrate_consent_requests(conn: sqlite3.Connection) -> None:
    # A consent link for a person in a browser (OAuth 2.0 authorisation code with PKCE): the
    # `state` it carries, the PKCE code verifier that redeems its code, the redirect URI it
    # names, and when it stops being accepted (10 minutes, store.clock). `redeemed_at` is set
    # when its redirect is used (once): for the next 10 minutes a reconnect may use the tokens
    # that consent gave (choosing the tenant in a second step). Rows stay a day so that a late
    # paste is told "expired" or "used" rather than "unknown". Self-contained: the lead may
    # renumber it at merge.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS consent_requests ("
        "state TEXT PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id), "
        "code_verifier TEXT NOT NULL, redirect_uri TEXT NOT NULL, scopes TEXT NOT NULL, "
        "created_at TEXT NOT NULL, expires_at TEXT NOT NULL, created_by TEXT NOT NULL, "
        "redeemed_at TEXT)"
    )


def _migrate_error_slots(conn: sqlite3.Connection) -> None:
    # Error groups of a time window from ten-minute buckets per kind (_ERROR_SLOTS), which do
    # not grow with the rows per day. Filling them reads the log's error rows once (about
    # 0.2 s at 1M rows). Self-contained: the lead may renumber it at merge.
    run_script(conn, _ERROR_SLOTS + _ERROR_SLOTS_KINDS_TRIGGERS)
    fill_error_slots(conn)
    run_script(conn, _ERROR_SLOTS_LOG_TRIGGERS)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_to_1,
    _migrate_to_2,
    _migrate_to_3,
    _migrate_to_4,
    _migrate_to_5,
    _migrate_to_6,
    _migrate_runs_follow_verdicts,
    _migrate_fts_filters,
    _migrate_error_totals,
    _migrate_consent_requests,
    _migrate_error_slots,
]
SCHEMA_VERSION = len(MIGRATIONS)
