"""The integration's lifecycle: the state table, transitions, snapshots, mappings and audit.

    active ──deactivate──> inactive ──activate──> active   (activate fails to `disconnected`
       │                      │                            when Xero no longer knows the app)
       ├──mark_disconnected───┴──> disconnected
       └── uninstall (from active, inactive or disconnected) ──> uninstalled
    uninstalled | disconnected ──reconnect──> active

Each transition is one SQLite transaction: it checks the state table and the integration's
`version` (optimistic concurrency: of two sessions racing on one organisation exactly one
wins), writes its changes and an audit row, and bumps the version. An uninstall stores a
snapshot of everything it removes in that same transaction. Calls to Xero happen before or
after the transaction, never while it holds the write lock.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlite_utils

from store.db import now_iso, transaction
from store.errors import NotFound, SyncdeskError, TransitionRefused
from store.logs import record
from store.orgs import org_id

# What each action may start from, and where it leads.
ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "deactivate": (frozenset({"active"}), "inactive"),
    "activate": (frozenset({"inactive"}), "active"),
    "mark_disconnected": (frozenset({"active", "inactive"}), "disconnected"),
    "uninstall": (frozenset({"active", "inactive", "disconnected"}), "uninstalled"),
    "reconnect": (frozenset({"uninstalled", "disconnected"}), "active"),
}
MEANING = {
    "active": "exports and syncs flow to Xero; settings and mappings are in place",
    "inactive": "exports are held in the queue (not lost); settings and mappings are kept",
    "disconnected": "the app was removed inside Xero: nothing reaches Xero; settings and "
    "mappings are kept",
    "uninstalled": "settings and mappings were removed (a snapshot can restore them); "
    "nothing flows",
}


def default_actor() -> str:
    """Who is at the keyboard: the login name."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class VersionConflict(TransitionRefused):
    """Someone else changed the integration since the caller looked at it."""


@dataclass(frozen=True, slots=True)
class Integration:
    org_id: int
    code: str
    name: str
    state: str
    version: int
    tenant_id: str | None
    tenant_name: str | None
    connection_id: str | None
    previous_tenant_id: str | None
    previous_tenant_name: str | None
    updated_at: str
    updated_by: str
    tenant_confirmed_by: str | None = None

    @property
    def trusted_tenant(self) -> tuple[str | None, str | None]:
        """The Xero organisation to come back to: the current one, unless it is an
        unconfirmed change from the previous one (a reconnect to the wrong books)."""
        if self.tenant_id is None:
            return self.previous_tenant_id, self.previous_tenant_name
        if (
            self.previous_tenant_id
            and self.tenant_id != self.previous_tenant_id
            and not self.tenant_confirmed_by
        ):
            return self.previous_tenant_id, self.previous_tenant_name
        return self.tenant_id, self.tenant_name

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Integration:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class TransitionResult:
    code: str
    action: str
    before: str
    after: str
    version: int
    actor: str
    at: str
    messages: tuple[str, ...] = ()
    snapshot_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class UninstallPlan:
    """Exactly what an uninstall removes and what it keeps."""

    code: str
    state: str
    version: int
    tenant_name: str | None
    settings: dict[str, Any]
    mappings: tuple[dict[str, str], ...]
    queue: dict[str, int]
    log_rows: int

    def removed(self) -> list[str]:
        out = [
            f"{len(self.settings)} settings",
            f"{len(self.mappings)} mappings",
            "the stored Xero tokens",
        ]
        if self.tenant_name:
            out.append(
                f"the connection to Xero organisation {self.tenant_name!r} (revoked in Xero)"
            )
        return out

    def kept(self) -> list[str]:
        queued = sum(v for k, v in self.queue.items() if k != "exported")
        return [
            "a snapshot of every setting and mapping (restorable on reconnect)",
            f"the export queue ({queued} waiting, held until reconnect)",
            f"the connection log ({self.log_rows} rows) and the audit trail",
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "removed": self.removed(), "kept": self.kept()}


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: int
    code: str
    taken_at: str
    actor: str
    reason: str
    state: str
    tenant_id: str | None
    tenant_name: str | None
    settings: dict[str, Any]
    mappings: tuple[dict[str, str], ...]
    restored_at: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    org: str
    actor: str
    action: str
    before_state: str | None
    after_state: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReconnectResult:
    transition: TransitionResult
    tenant_id: str
    tenant_name: str
    tenant_changed: bool
    restored_snapshot: int | None
    problems: tuple[Any, ...] = field(default_factory=tuple)  # store.xero.models.MappingProblem

    def to_json(self) -> dict[str, Any]:
        return {
            **self.transition.to_json(),
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "tenant_changed": self.tenant_changed,
            "restored_snapshot": self.restored_snapshot,
            "problems": [asdict(p) for p in self.problems],
        }


# --- reading ---------------------------------------------------------------------------------

_INTEGRATION_SQL = (
    "SELECT i.*, o.code, o.name FROM integrations i JOIN orgs o ON o.id = i.org_id "
    "WHERE i.org_id = ?"
)


def integration(db: sqlite_utils.Database, org: str) -> Integration:
    """The organisation's integration as it is now.

    Raises UnknownOrganisation.
    """
    row = db.execute(_INTEGRATION_SQL, [org_id(db, org)]).fetchone()
    return Integration.from_row(row)


def allowed_actions(state: str) -> list[str]:
    """The actions the state table allows from this state (plus map where there is a tenant)."""
    return [a for a, (sources, _) in ALLOWED.items() if state in sources]


def _refuse(current: Integration, action: str) -> TransitionRefused:
    options = [a for a in allowed_actions(current.state) if a != "mark_disconnected"]
    if current.state == ALLOWED[action][1]:
        why = f"{current.code} is already {current.state}"
    else:
        why = f"{current.code} is {current.state}, so it cannot {action.replace('_', ' ')}"
    return TransitionRefused(
        f"{why}; from {current.state} you can {', '.join(options) or 'do nothing'}."
    )


def _check(current: Integration, action: str, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(
            f"{current.code} was changed by {current.updated_by} at {current.updated_at} "
            f"(version {current.version}, you had {expected_version}); reload and try again."
        )
    if current.state not in ALLOWED[action][0]:
        raise _refuse(current, action)


def _apply(
    conn: sqlite3.Connection,
    current: Integration,
    action: str,
    actor: str,
    detail: str,
    **changes: Any,
) -> TransitionResult:
    """Move to the action's target state with a compare-and-swap on the version; audit it."""
    after = ALLOWED[action][1]
    at = now_iso()
    sets = {
        "state": after,
        "state_changed_at": at,
        "updated_at": at,
        "updated_by": actor,
        **changes,
    }
    assignments = ", ".join(f"{k} = ?" for k in sets)
    cursor = conn.execute(
        f"UPDATE integrations SET {assignments}, version = version + 1 "
        "WHERE org_id = ? AND version = ?",
        [*sets.values(), current.org_id, current.version],
    )
    if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; kept as the last guard
        raise VersionConflict(f"{current.code} changed while saving; reload and try again.")
    conn.execute(
        "INSERT INTO audit(at, org_id, actor, action, before_state, after_state, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [at, current.org_id, actor, action, current.state, after, detail],
    )
    return TransitionResult(
        current.code, action, current.state, after, current.version + 1, actor, at
    )


def _locked(conn: sqlite3.Connection, oid: int) -> Integration:
    return Integration.from_row(conn.execute(_INTEGRATION_SQL, [oid]).fetchone())


# --- transitions -----------------------------------------------------------------------------


def deactivate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    expected_version: int | None = None,
) -> TransitionResult:
    """active -> inactive: exports waiting in the queue are held, settings and mappings kept.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict.
    """
    actor = actor or default_actor()
    oid = org_id(db, org)
    with transaction(db) as conn:
        current = _locked(conn, oid)
        _check(current, "deactivate", expected_version)
        held = conn.execute(
            "UPDATE queue SET status = 'held', updated_at = ? "
            "WHERE org_id = ? AND status = 'pending'",
            [now_iso(), oid],
        ).rowcount
        result = _apply(conn, current, "deactivate", actor, f"{held} pending exports held")
    record(db, current.code, "info", f"Integration status set to Inactive by {actor}")
    return _with(result, f"{held} pending exports are held in the queue until activation.")


def activate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    expected_version: int | None = None,
    client: Any = None,
) -> TransitionResult:
    """inactive -> active, after a live check that Xero still has the connection.

    If Xero no longer knows the app the integration becomes `disconnected` instead (the check
    records that, with an error in the connection log) and TransitionRefused says so.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict, XeroError.
    """
    from store.checks import check

    actor = actor or default_actor()
    current = integration(db, org)
    _check(current, "activate", expected_version)
    report = check(db, current.code, client=client, actor=actor)
    after_check = integration(db, org)
    if after_check.state == "disconnected":
        raise TransitionRefused(
            f"Xero no longer has the connection for {current.code}, so it is now "
            "disconnected; reconnect it (`syncdesk reconnect`)."
        )
    failed = [f for f in report.findings if not f.ok and f.check in ("token", "connection")]
    if failed:
        raise TransitionRefused(
            f"{current.code} stays inactive: {failed[0].detail}"
            + (f" {failed[0].fix}" if failed[0].fix else "")
        )
    with transaction(db) as conn:
        locked = _locked(conn, current.org_id)
        _check(locked, "activate", after_check.version)
        released = conn.execute(
            "UPDATE queue SET status = 'pending', updated_at = ? WHERE org_id = ? "
            "AND status = 'held'",
            [now_iso(), current.org_id],
        ).rowcount
        result = _apply(conn, locked, "activate", actor, f"{released} held exports released")
    record(db, current.code, "info", f"Integration status set to Active by {actor}")
    return _with(result, f"{released} held exports are pending again.")


def mark_disconnected(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str = "check",
    reason: str = "Xero no longer has the connection",
    expected_version: int | None = None,
) -> TransitionResult:
    """active | inactive -> disconnected, when a check or the log shows Xero removed the app.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict.
    """
    oid = org_id(db, org)
    with transaction(db) as conn:
        current = _locked(conn, oid)
        _check(current, "mark_disconnected", expected_version)
        result = _apply(conn, current, "mark_disconnected", actor, reason)
    record(
        db,
        current.code,
        "error",
        "Xero integration disconnected from within Xero; integration deactivated",
    )
    return result


def uninstall_plan(db: sqlite_utils.Database, org: str) -> UninstallPlan:
    """What an uninstall of this organisation would remove and keep, without doing it.

    Raises UnknownOrganisation.
    """
    current = integration(db, org)
    settings, mappings = _config(db.conn, current.org_id)
    queue = dict(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status", [current.org_id]
        ).fetchall()
    )
    rows = db.execute("SELECT count(*) FROM log WHERE org_id = ?", [current.org_id]).fetchone()[0]
    return UninstallPlan(
        current.code,
        current.state,
        current.version,
        current.tenant_name,
        settings,
        mappings,
        queue,
        rows,
    )


def _config(
    conn: sqlite3.Connection, oid: int
) -> tuple[dict[str, Any], tuple[dict[str, str], ...]]:
    settings = {
        r[0]: json.loads(r[1])
        for r in conn.execute(
            "SELECT key, value FROM settings WHERE org_id = ? ORDER BY key", [oid]
        )
    }
    mappings = tuple(
        {"kind": r[0], "local": r[1], "remote": r[2]}
        for r in conn.execute(
            "SELECT kind, local, remote FROM mappings WHERE org_id = ? ORDER BY kind, local", [oid]
        )
    )
    return settings, mappings


def uninstall(
    db: sqlite_utils.Database,
    org: str,
    *,
    confirm: str | None,
    actor: str | None = None,
    expected_version: int | None = None,
    client: Any = None,
    revoke: bool = True,
) -> TransitionResult:
    """Remove settings, mappings and tokens (snapshotted first, in the same transaction) and
    revoke the Xero connection when there is one.

    `confirm` must be the organisation's code. The Xero connection is revoked after the local
    change is committed; if Xero cannot be reached the uninstall still stands and the result
    says how to remove the app inside Xero.

    Raises UnknownOrganisation, TransitionRefused (no or wrong confirmation), VersionConflict.
    """
    actor = actor or default_actor()
    current = integration(db, org)
    if confirm is None or confirm.strip().upper() != current.code.upper():
        plan = uninstall_plan(db, org)
        raise TransitionRefused(
            f"Uninstalling {current.code} removes {', '.join(plan.removed())}; it keeps "
            f"{', '.join(plan.kept())}. Confirm with --confirm {current.code}."
        )
    _check(current, "uninstall", expected_version)
    revoked = _revoke_first(db, current, client) if revoke else None
    with transaction(db) as conn:
        locked = _locked(conn, current.org_id)
        _check(locked, "uninstall", current.version)
        settings, mappings = _config(conn, locked.org_id)
        at = now_iso()
        snapshot_id = conn.execute(
            "INSERT INTO snapshots(org_id, taken_at, actor, reason, state, tenant_id, "
            "tenant_name, settings, mappings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                locked.org_id,
                at,
                actor,
                "uninstall",
                locked.state,
                locked.tenant_id,
                locked.tenant_name,
                json.dumps(settings),
                json.dumps(list(mappings)),
            ],
        ).lastrowid
        for table in ("settings", "mappings", "credentials"):
            conn.execute(f"DELETE FROM {table} WHERE org_id = ?", [locked.org_id])
        conn.execute(
            "UPDATE queue SET status = 'held', updated_at = ? WHERE org_id = ? AND "
            "status = 'pending'",
            [at, locked.org_id],
        )
        result = _apply(
            conn,
            locked,
            "uninstall",
            actor,
            f"snapshot {snapshot_id}: {len(settings)} settings, {len(mappings)} mappings",
            tenant_id=None,
            tenant_name=None,
            connection_id=None,
            token_expires_at=None,
            refresh_expires_at=None,
            previous_tenant_id=locked.trusted_tenant[0],
            previous_tenant_name=locked.trusted_tenant[1],
        )
    record(
        db,
        current.code,
        "info",
        f"Xero integration uninstalled by {actor}; settings and mappings removed "
        f"(snapshot {snapshot_id})",
    )
    messages = [
        f"Snapshot {snapshot_id} holds {len(settings)} settings and {len(mappings)} "
        "mappings; `syncdesk reconnect` restores it."
    ]
    if revoked is not None:
        messages.append(revoked)
    return _with(result, *messages, snapshot_id=snapshot_id)


def _revoke_first(db: sqlite_utils.Database, current: Integration, client: Any) -> str | None:
    """Revoke the Xero connection; a failure is reported, never fatal to the uninstall."""
    from store.xero.connect import revoke

    if current.state == "uninstalled":
        return None
    try:
        gone = revoke(db, current.code, client=client)
    except SyncdeskError as exc:
        return (
            f"The Xero connection could not be revoked ({exc}); remove the app in Xero "
            "under Settings > Connected apps."
        )
    return (
        "The connection was revoked in Xero." if gone else "Xero had no connection left to revoke."
    )


def _with(
    result: TransitionResult, *messages: str, snapshot_id: int | None = None
) -> TransitionResult:
    return TransitionResult(
        result.code,
        result.action,
        result.before,
        result.after,
        result.version,
        result.actor,
        result.at,
        result.messages + messages,
        snapshot_id or result.snapshot_id,
    )


# --- snapshots and audit -------------------------------------------------------------------


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


# --- reconnect and mappings ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconnectOptions:
    """What a reconnect can choose from: the Xero organisations the user authorised."""

    code: str
    state: str
    version: int
    previous_tenant_id: str | None
    previous_tenant_name: str | None
    tenants: tuple[Any, ...]  # store.xero.models.Connection
    snapshot: Snapshot | None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "tenants": [asdict(t) for t in self.tenants]}


def _previous_tenant(current: Integration) -> tuple[str | None, str | None]:
    if current.state == "uninstalled":
        return current.previous_tenant_id, current.previous_tenant_name
    return current.trusted_tenant


def reconnect_options(
    db: sqlite_utils.Database, org: str, *, client: Any = None
) -> ReconnectOptions:
    """Authorise against Xero and list the tenants a reconnect may choose.

    Raises UnknownOrganisation, TransitionRefused, XeroError.
    """
    from store.xero.connect import authorise

    current = integration(db, org)
    _check(current, "reconnect", None)
    tenants = tuple(authorise(db, current.code, client=client))
    prev_id, prev_name = _previous_tenant(current)
    found = snapshots(db, current.code)
    return ReconnectOptions(
        current.code,
        current.state,
        current.version,
        prev_id,
        prev_name,
        tenants,
        found[0] if found else None,
    )


def _choose(options: ReconnectOptions, tenant_id: str | None) -> Any:
    by_id = {t.tenant_id: t for t in options.tenants}
    listing = "; ".join(f"{t.tenant_name} ({t.tenant_id})" for t in options.tenants)
    if not options.tenants:
        raise TransitionRefused(
            f"The Xero user authorised no organisations for {options.code}; authorise again "
            "and tick the organisation to connect."
        )
    if tenant_id is not None:
        if tenant_id not in by_id:
            raise TransitionRefused(
                f"Tenant {tenant_id} is not among the authorised Xero organisations: {listing}."
            )
        return by_id[tenant_id]
    if options.previous_tenant_id in by_id:
        return by_id[options.previous_tenant_id]
    if len(options.tenants) == 1:
        return options.tenants[0]
    raise TransitionRefused(f"Choose the Xero organisation with --tenant-id: {listing}.")


def reconnect(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    tenant_id: str | None = None,
    restore: int | None = None,
    no_restore: bool = False,
    accept_new_tenant: bool = False,
    expected_version: int | None = None,
    client: Any = None,
    options: ReconnectOptions | None = None,
) -> ReconnectResult:
    """uninstalled | disconnected -> active: authorise, choose the tenant, restore the latest
    snapshot (or the one given; an uninstalled integration only unless no_restore), and
    validate every mapping against the tenant's chart of accounts and tax rates.

    A tenant other than the previous one is refused unless accept_new_tenant: reconnecting
    to a different Xero organisation duplicates contacts and posts to the wrong books.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict, NotFound, XeroError.
    """
    from store.xero.mappings import tenant_chart, validate_mappings

    actor = actor or default_actor()
    current = integration(db, org)
    _check(current, "reconnect", expected_version)
    options = options or reconnect_options(db, current.code, client=client)
    chosen = _choose(options, tenant_id)
    changed = bool(options.previous_tenant_id) and chosen.tenant_id != options.previous_tenant_id
    if changed and not accept_new_tenant:
        raise TransitionRefused(
            f"{current.code} was connected to Xero organisation "
            f"{options.previous_tenant_name!r} ({options.previous_tenant_id}); "
            f"{chosen.tenant_name!r} ({chosen.tenant_id}) is a DIFFERENT organisation. "
            "Reconnecting to it can duplicate contacts and post to the wrong books; pass "
            "--accept-new-tenant only if the customer really moved to it."
        )
    snap = None
    if not no_restore and (restore is not None or current.state == "uninstalled"):
        try:
            snap = snapshot(db, current.code, restore)
        except NotFound:
            if restore is not None:
                raise
    accounts, tax_rates = tenant_chart(db, current.code, chosen.tenant_id, client=client)
    with transaction(db) as conn:
        locked = _locked(conn, current.org_id)
        _check(locked, "reconnect", current.version)
        if snap is not None:
            _restore(conn, locked.org_id, snap)
        released = conn.execute(
            "UPDATE queue SET status = 'pending', updated_at = ? WHERE org_id = ? AND "
            "status = 'held'",
            [now_iso(), locked.org_id],
        ).rowcount
        result = _apply(
            conn,
            locked,
            "reconnect",
            actor,
            f"tenant {chosen.tenant_name} ({chosen.tenant_id})"
            + (f"; snapshot {snap.id} restored" if snap else "")
            + ("; TENANT CHANGED" if changed else ""),
            tenant_id=chosen.tenant_id,
            tenant_name=chosen.tenant_name,
            connection_id=chosen.id,
            tenant_confirmed_by=actor if changed else None,
            previous_tenant_id=options.previous_tenant_id,
            previous_tenant_name=options.previous_tenant_name,
        )
    record(
        db, current.code, "info", f'Xero connection authorised for tenant "{chosen.tenant_name}"'
    )
    if changed:
        record(
            db,
            current.code,
            "error",
            f'Connected Xero tenant changed from "{options.previous_tenant_name}" '
            f'({options.previous_tenant_id}) to "{chosen.tenant_name}" ({chosen.tenant_id})',
        )
    problems = tuple(validate_mappings(db, current.code, accounts, tax_rates))
    messages = [f"{released} held exports are pending again."]
    if snap is not None:
        messages.insert(
            0,
            f"Restored snapshot {snap.id}: {len(snap.settings)} settings, "
            f"{len(snap.mappings)} mappings.",
        )
    if problems:
        messages.append(
            f"{len(problems)} mappings do not match the tenant; fix each with "
            f"`syncdesk map {current.code} KIND LOCAL CODE`."
        )
    return ReconnectResult(
        _with(result, *messages),
        chosen.tenant_id,
        chosen.tenant_name,
        changed,
        snap.id if snap else None,
        problems,
    )


def _restore(conn: sqlite3.Connection, oid: int, snap: Snapshot) -> None:
    conn.execute("DELETE FROM settings WHERE org_id = ?", [oid])
    conn.execute("DELETE FROM mappings WHERE org_id = ?", [oid])
    conn.executemany(
        "INSERT INTO settings(org_id, key, value) VALUES (?, ?, ?)",
        [(oid, k, json.dumps(v)) for k, v in snap.settings.items()],
    )
    conn.executemany(
        "INSERT INTO mappings(org_id, kind, local, remote) VALUES (?, ?, ?, ?)",
        [(oid, m["kind"], m["local"], m["remote"]) for m in snap.mappings],
    )
    conn.execute("UPDATE snapshots SET restored_at = ? WHERE id = ?", [now_iso(), snap.id])


@dataclass(frozen=True, slots=True)
class MappingChange:
    code: str
    kind: str
    local: str
    before: str | None
    after: str
    tenant_name: str | None
    version: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def set_mapping(
    db: sqlite_utils.Database,
    org: str,
    kind: str,
    local: str,
    remote: str,
    *,
    actor: str | None = None,
    expected_version: int | None = None,
    client: Any = None,
) -> MappingChange:
    """Point one mapping at a Xero code, after checking the code against the tenant's chart.

    Refused for a mapping to a missing, archived or wrong-type account (or an unusable tax
    rate), with the codes that would do; refused when there is no connected tenant to check.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict, XeroError.
    """
    from store.xero.mappings import check_mapping, tenant_chart

    actor = actor or default_actor()
    current = integration(db, org)
    if current.state not in ("active", "inactive") or not current.tenant_id:
        raise TransitionRefused(
            f"{current.code} is {current.state}: there is no connected Xero organisation to "
            "check the mapping against; reconnect first."
        )
    if expected_version is not None and expected_version != current.version:
        _check(current, "deactivate" if current.state == "active" else "activate", expected_version)
    accounts, tax_rates = tenant_chart(db, current.code, current.tenant_id, client=client)
    problem = check_mapping(kind, local, remote, accounts, tax_rates)
    if problem is not None:
        hint = (
            f" Codes that would do: {', '.join(problem.suggestions[:12])}."
            if problem.suggestions
            else ""
        )
        raise TransitionRefused(
            f"{current.code}: {kind} {local} -> {remote}: {problem.problem}.{hint}"
        )
    with transaction(db) as conn:
        locked = _locked(conn, current.org_id)
        if locked.version != current.version:
            _check(
                locked, "deactivate" if locked.state == "active" else "activate", current.version
            )
        row = conn.execute(
            "SELECT remote FROM mappings WHERE org_id = ? AND kind = ? AND local = ?",
            [locked.org_id, kind, local],
        ).fetchone()
        before = row[0] if row else None
        conn.execute(
            "INSERT INTO mappings(org_id, kind, local, remote) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(org_id, kind, local) DO UPDATE SET remote = excluded.remote",
            [locked.org_id, kind, local, remote],
        )
        at = now_iso()
        conn.execute(
            "UPDATE integrations SET version = version + 1, updated_at = ?, "
            "updated_by = ? WHERE org_id = ?",
            [at, actor, locked.org_id],
        )
        conn.execute(
            "INSERT INTO audit(at, org_id, actor, action, detail) VALUES (?, ?, ?, 'map', ?)",
            [at, locked.org_id, actor, f"{kind} {local}: {before or '(none)'} -> {remote}"],
        )
    return MappingChange(
        current.code, kind, local, before, remote, current.tenant_name, current.version + 1
    )
