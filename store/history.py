"""The lifecycle's memory: snapshots of what uninstalls removed, and the audit trail."""

from __future__ import annotations

import json

import sqlite_utils

from store.errors import NotFound
from store.models import AuditEntry, Snapshot
from store.orgs import org_id
from store.transitions import integration


def snapshots(db: sqlite_utils.Database, org: str) -> list[Snapshot]:
    """Every snapshot of this organisation's configuration, newest first.

    Raises UnknownOrganisation.
    """
    oid = org_id(db, org)
    code = integration(db, org).code
    rows = db.execute("SELECT * FROM snapshots WHERE org_id = ? ORDER BY id DESC", [oid])
    return [
        Snapshot(
            r["id"],
            code,
            r["taken_at"],
            r["actor"],
            r["reason"],
            r["state"],
            r["tenant_id"],
            r["tenant_name"],
            json.loads(r["settings"]),
            tuple(json.loads(r["mappings"])),
            r["restored_at"],
        )
        for r in rows
    ]


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
    return [
        AuditEntry(
            r["id"],
            r["at"],
            r["org"],
            r["actor"],
            r["action"],
            r["before_state"],
            r["after_state"],
            r["detail"],
        )
        for r in rows
    ]
