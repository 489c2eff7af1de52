"""`syncdesk import`, part two: applying the plan (store/import_plan.py) in one transaction,
so a set of files with any problem imports nothing.

- A new organisation on a sandbox tenant is written exactly as `init` writes a sample one
  (store/generate.py: integration, tokens, sandbox grant, demo queue), then stamped with the
  importing actor and an `import` audit row. One on a real Xero organisation gets its
  integration, settings and mappings only: no tokens are ever read from a file, so it
  authorises by the customer's consent (`syncdesk reconnect`), and no documents are invented.
- A changed organisation (by code) gets the file's name, region, state, tenant, settings and
  mappings; its integration's `version` goes up by one and an `import` audit row names what
  changed. Settings and mappings that are replaced or removed are snapshotted first, in the same
  transaction, so `reconnect --restore` can bring them back. A new tenant clears the old
  connection's tokens and is left unconfirmed, so nothing is exported to it until a reconnect.
- Sandbox tenants (xero files) are added or updated by id (their contacts are left alone).
- A knowledge-base file replaces the knowledge base (its order is the match order), and every
  log row is classified again; the error groups are rebuilt from the log when kinds changed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store import clock
from store.db import transaction
from store.generate import _write_orgs
from store.generate_plan import PlannedOrg
from store.history import record_audit, take_snapshot
from store.import_plan import (
    UNINSTALLED,
    ImportPlan,
    OrgChange,
    plan_import,
    read_import,
    stored_integration,
    tenant_fields,
    wanted_integration,
)
from store.kb_match import IndexedClassifier
from store.models import Integration, KnowledgeEntry, to_json
from store.schema_log import fill_error_groups
from store.timeparse import iso

if TYPE_CHECKING:
    import sqlite_utils

SEED = 1  # the demo documents of an imported sandbox organisation: as `init` draws them


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did (or, with dry_run, would do)."""

    plan: ImportPlan
    dry_run: bool
    reclassified: int | None = None  # log rows whose kind changed

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, **to_json(self.plan), "reclassified": self.reclassified}


def import_files(
    db: sqlite_utils.Database,
    paths: list[Path],
    *,
    actor: str,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ImportReport:
    """Import organisations, sandbox tenants and the knowledge base from files, all or nothing.

    Raises SampleDataError (naming file, line and key), StoreError.
    """
    read = read_import(db, paths)  # parsing and checking: before taking the write lock
    if dry_run:
        return ImportReport(plan_import(db, read), dry_run=True)
    moment = (now or clock.now()).replace(microsecond=0)
    with transaction(db) as conn:
        plan = plan_import(db, read)  # inside the write lock: compared with what is written
        # Organisations first: a tenant they bring gets its demo contacts, as `init` gives it.
        _add_orgs(db, plan.orgs_by("add"), actor=actor, now=moment)
        _write_tenants(conn, plan)
        for change in plan.orgs_by("change"):
            _change_org(conn, change, actor=actor, at=iso(moment))
        reclassified = None
        if plan.knowledge is not None and plan.knowledge_changed():
            _save_knowledge(conn, plan.knowledge)
            reclassified = reclassify(conn, plan.knowledge)
    return ImportReport(plan, dry_run=False, reclassified=reclassified)


def _write_tenants(conn: Any, plan: ImportPlan) -> None:
    for spec in plan.tenants.values():
        action = plan.tenant_actions[spec.id]
        fields = tenant_fields(spec)
        if action == "add":  # unless a new organisation's build just wrote it
            conn.execute(
                "INSERT OR IGNORE INTO sandbox_tenants(tenant_id, contacts, name, region, "
                "currency, accounts, tax_rates, behaviour) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [spec.id, json.dumps(spec.contacts), *fields.values()],
            )
        elif action == "change":
            conn.execute(
                "UPDATE sandbox_tenants SET name = ?, region = ?, currency = ?, accounts = ?, "
                "tax_rates = ?, behaviour = ? WHERE tenant_id = ?",
                [*fields.values(), spec.id],
            )


def _add_orgs(
    db: sqlite_utils.Database, added: list[OrgChange], *, actor: str, now: datetime
) -> None:
    if not added:
        return
    conn = db.conn
    first = (conn.execute("SELECT max(id) FROM orgs").fetchone()[0] or 0) + 1
    ids = {change.profile.code: first + i for i, change in enumerate(added)}
    sandbox = [
        PlannedOrg(
            ids[c.profile.code],
            c.profile.code,
            c.profile.name,
            c.profile,
            c.tenant,
            c.previous,
            c.others,
            1.0,
        )
        for c in added
        if c.tenant is not None
    ]
    if sandbox:
        # The same rows `init` writes for a sample organisation (same seed: the same demo).
        # Into an empty store the draws are init's; into one that has organisations they must
        # differ, or the new ones get the first sample organisation's tokens and connection id
        # (the sandbox would answer their calls as that organisation's).
        rng = random.Random(SEED if first == 1 else f"{SEED}:{first}")
        _write_orgs(db, sandbox, rng, now.timestamp(), lambda *_: None)
        new_ids = [p.id for p in sandbox]
        marks = ", ".join("?" * len(new_ids))
        conn.execute(
            f"UPDATE integrations SET updated_by = ? WHERE org_id IN ({marks})", [actor, *new_ids]
        )
        # init records how a sample organisation got to its state; an import records itself.
        conn.execute(f"DELETE FROM audit WHERE org_id IN ({marks})", new_ids)
    at = iso(now)
    for change in added:
        oid = ids[change.profile.code]
        if change.tenant is None:
            _add_real(conn, oid, change, actor=actor, at=at)
        record_audit(
            conn,
            oid,
            actor,
            "import",
            f"added by import from {change.file}",
            at=at,
            after=change.profile.state,
        )


def _add_real(conn: Any, oid: int, change: OrgChange, *, actor: str, at: str) -> None:
    """A new organisation on a real Xero organisation: no tokens, no sandbox, no documents."""
    p = change.profile
    wanted = wanted_integration(p, None)
    tenant_id, tenant_name = p.real_tenant or (None, None)
    conn.execute(
        "INSERT INTO orgs(id, code, name, region, created_at) VALUES (?, ?, ?, ?, ?)",
        [oid, p.code, p.name, p.region, at],
    )
    conn.execute(
        "INSERT INTO integrations(org_id, state, tenant_id, tenant_name, previous_tenant_id, "
        "previous_tenant_name, version, state_changed_at, updated_at, updated_by) "
        "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        [
            oid,
            p.state,
            wanted["tenant_id"],
            wanted["tenant_name"],
            tenant_id if p.state == UNINSTALLED else None,
            tenant_name if p.state == UNINSTALLED else None,
            at,
            at,
            actor,
        ],
    )
    _write_configuration(conn, oid, wanted)


def _write_configuration(conn: Any, oid: int, wanted: dict[str, Any]) -> None:
    conn.execute("DELETE FROM settings WHERE org_id = ?", [oid])
    conn.execute("DELETE FROM mappings WHERE org_id = ?", [oid])
    conn.executemany(
        "INSERT INTO settings(org_id, key, value) VALUES (?, ?, ?)",
        [(oid, k, json.dumps(v)) for k, v in wanted["settings"].items()],
    )
    conn.executemany(
        "INSERT INTO mappings(org_id, kind, local, remote) VALUES (?, ?, ?, ?)",
        [(oid, *m) for m in sorted(wanted["mappings"])],
    )


def _change_org(conn: Any, change: OrgChange, *, actor: str, at: str) -> None:
    """Bring an existing organisation in line with the file: one version, one audit row."""
    oid = conn.execute(
        "SELECT id FROM orgs WHERE code = ? COLLATE NOCASE", [change.profile.code]
    ).fetchone()[0]
    current = Integration.from_row(
        conn.execute(
            "SELECT i.*, o.code, o.name FROM integrations i JOIN orgs o ON o.id = i.org_id "
            "WHERE i.org_id = ?",
            [oid],
        ).fetchone()
    )
    wanted = wanted_integration(change.profile, change.tenant)
    stored = stored_integration(conn, oid)
    configuration = {"settings", "mappings"} & set(change.fields)
    snapshot = None
    if configuration and (stored["settings"] or stored["mappings"]):
        snapshot = take_snapshot(conn, current, actor=actor, reason="import", at=at)
    conn.execute(
        "UPDATE orgs SET name = ?, region = ? WHERE id = ?", [wanted["name"], wanted["region"], oid]
    )
    new_tenant = "tenant_id" in change.fields and wanted["tenant_id"] is not None
    old_tenant = (current.tenant_id, current.tenant_name) if current.tenant_id else None
    conn.execute(
        "UPDATE integrations SET state = ?, tenant_id = ?, tenant_name = ?, version = version + 1, "
        "state_changed_at = CASE WHEN state = ? THEN state_changed_at ELSE ? END, "
        "updated_at = ?, updated_by = ? WHERE org_id = ?",
        [
            wanted["state"],
            wanted["tenant_id"],
            wanted["tenant_name"],
            wanted["state"],
            at,
            at,
            actor,
            oid,
        ],
    )
    if new_tenant or wanted["state"] == UNINSTALLED:
        # The old connection's tokens do not open the new tenant (or anything, uninstalled).
        conn.execute("DELETE FROM credentials WHERE org_id = ?", [oid])
        conn.execute(
            "UPDATE integrations SET connection_id = NULL, token_expires_at = NULL, "
            "refresh_expires_at = NULL WHERE org_id = ?",
            [oid],
        )
    if old_tenant and ("tenant_id" in change.fields):
        conn.execute(
            "UPDATE integrations SET previous_tenant_id = ?, previous_tenant_name = ?, "
            "tenant_confirmed_by = NULL WHERE org_id = ?",
            [*old_tenant, oid],
        )
    if configuration:
        _write_configuration(conn, oid, wanted)
    detail = f"changed by import from {change.file}: {', '.join(change.fields)}"
    if snapshot is not None:
        detail += f" (snapshot {snapshot.id} holds the previous settings and mappings)"
    record_audit(
        conn, oid, actor, "import", detail, at=at, before=current.state, after=wanted["state"]
    )


def _save_knowledge(conn: Any, entries: list[KnowledgeEntry]) -> None:
    # Plain statements: sqlite-utils' insert_all would commit the import's transaction.
    conn.execute("DELETE FROM kb")
    conn.executemany(
        "INSERT INTO kb(kind, position, title, pattern, level, category, cause, fix, "
        "refresh_step, action, retryable, example) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.kind,
                i,
                e.title,
                e.pattern,
                e.level,
                e.category,
                e.cause,
                e.fix,
                e.refresh_step,
                e.action,
                int(e.retryable),
                e.example,
            )
            for i, e in enumerate(entries)
        ],
    )


def reclassify(conn: Any, entries: list[KnowledgeEntry]) -> int:
    """Classify every log row again with these entries; how many rows changed kind.

    The error groups are keyed by kind, and no trigger moves a row between groups on an UPDATE,
    so when an error row changed kind they are rebuilt from the log (a scan of the error rows only).
    """
    classify = IndexedClassifier(entries)
    changes = []
    errors_moved = False
    for row_id, level, message, kind in conn.execute("SELECT id, level, message, kind FROM log"):
        new = classify.classify(message, level)
        if new != kind:
            changes.append((new, row_id))
            errors_moved = errors_moved or level == "error"
    conn.executemany("UPDATE log SET kind = ? WHERE id = ?", changes)
    if errors_moved:
        fill_error_groups(conn)
    return len(changes)
