"""The lifecycle's memory: snapshots of the configuration an uninstall removes, and the audit
trail of who changed what. Both are written inside the caller's transaction, so a change and
its record commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from store.badvalues import restorable
from store.db import now_iso
from store.errors import NotFound
from store.models import AuditEntry, Integration, Snapshot, to_json
from store.orgs import configuration, org_id

if TYPE_CHECKING:
    import sqlite_utils

_SNAPSHOTS_SQL = "SELECT s.*, o.code FROM snapshots s JOIN orgs o ON o.id = s.org_id"


def take_snapshot(
    conn: sqlite3.Connection, current: Integration, *, actor: str, reason: str, at: str
) -> Snapshot:
    """Store the integration's settings and mappings, inside the caller's transaction."""
    loaded, mappings = configuration(conn, current.org_id)
    # A setting that is not JSON is kept as its stored text: an uninstall loses nothing.
    settings = {key: restorable(value) for key, value in loaded.items()}
    snapshot_id = conn.execute(
        "INSERT INTO snapshots(org_id, taken_at, actor, reason, state, tenant_id, "
        "tenant_name, settings, mappings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            current.org_id,
            at,
            actor,
            reason,
            current.state,
            current.tenant_id,
            current.tenant_name,
            json.dumps(settings),
            json.dumps(to_json(mappings)),
        ],
    ).lastrowid
    row = conn.execute(f"{_SNAPSHOTS_SQL} WHERE s.id = ?", [snapshot_id]).fetchone()
    return Snapshot.from_row(row)


def snapshots(db: sqlite_utils.Database, org: str) -> list[Snapshot]:
    """Every snapshot of this organisation's configuration, newest first.

    Raises UnknownOrganisation.
    """
    rows = db.execute(f"{_SNAPSHOTS_SQL} WHERE s.org_id = ? ORDER BY s.id DESC", [org_id(db, org)])
    return [Snapshot.from_row(r) for r in rows]


def snapshot(db: sqlite_utils.Database, org: str, snapshot_id: int | None = None) -> Snapshot:
    """One snapshot (the newest when no id is given).

    Raises UnknownOrganisation, NotFound.
    """
    found = snapshots(db, org)
    if snapshot_id is None and found:
        return found[0]
    for snap in found:
        if snap.id == snapshot_id:
            return snap
    raise NotFound(
        f"{org.upper()} has no snapshot"
        + (
            f" {snapshot_id}; `syncdesk snapshots {org.upper()}` lists them."
            if snapshot_id
            else "; reconnect with --no-restore and set the mappings up again."
        )
    )


def record_audit(
    conn: sqlite3.Connection,
    oid: int,
    actor: str,
    action: str,
    detail: str,
    *,
    at: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> None:
    """Add one row to the audit trail, inside the caller's transaction."""
    conn.execute(
        "INSERT INTO audit(at, org_id, actor, action, before_state, after_state, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [at or now_iso(), oid, actor, action, before, after, detail],
    )


def audit_trail(
    db: sqlite_utils.Database, org: str | None = None, *, limit: int = 200
) -> list[AuditEntry]:
    """Who changed what and when, newest first (one organisation or all).

    Raises UnknownOrganisation.
    """
    oid = org_id(db, org) if org else None
    rows = db.execute(
        "SELECT a.*, o.code AS org FROM audit a JOIN orgs o ON o.id = a.org_id "
        "WHERE (? IS NULL OR a.org_id = ?) ORDER BY a.id DESC LIMIT ?",
        [oid, oid, limit],
    )
    return [AuditEntry.from_row(r) for r in rows]
