"""The integration's state table and the transitions that follow it.

    active ──deactivate──> inactive ──activate──> active   (activate fails to `disconnected`
       │                      │                            when Xero no longer knows the app)
       ├──mark_disconnected───┴──> disconnected
       └── uninstall (from active, inactive or disconnected) ──> uninstalled
    uninstalled | disconnected ──reconnect──> active        (store/reconnect.py)

Each transition is one SQLite transaction: it checks the state table and the integration's
`version` (optimistic concurrency: of two sessions racing on one organisation exactly one
wins), writes its changes and an audit row, and bumps the version. An uninstall stores a
snapshot of everything it removes in that same transaction. Calls to Xero happen before or
after the transaction, never while it holds the write lock.

The building blocks of a transition are public for the other rooms of the lifecycle
(store/reconnect.py, store/checks.py, store/mapping_edits.py): `check_allowed` and
`check_version` (the state table and the version), `locked_integration` (read inside the write
transaction), `apply_transition` (move, bump, audit), `move_queue` and `with_messages`.
Snapshots and audit rows are written through store/history.py.
"""

from __future__ import annotations

import getpass
import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.db import now_iso, transaction
from store.enums import Level, QueueStatus, State, Transition
from store.errors import SyncdeskError, TransitionRefused, VersionConflict, XeroInvalidGrant
from store.history import record_audit, take_snapshot
from store.logs import record
from store.models import Integration, TransitionResult, UninstallPlan
from store.orgs import configuration, org_id
from store.timeparse import iso
from store.words import plural

if TYPE_CHECKING:
    import sqlite_utils

# What each transition may start from, and where it leads.
ALLOWED: dict[Transition, tuple[frozenset[State], State]] = {
    Transition.DEACTIVATE: (frozenset({State.ACTIVE}), State.INACTIVE),
    Transition.ACTIVATE: (frozenset({State.INACTIVE}), State.ACTIVE),
    Transition.MARK_DISCONNECTED: (frozenset({State.ACTIVE, State.INACTIVE}), State.DISCONNECTED),
    Transition.UNINSTALL: (
        frozenset({State.ACTIVE, State.INACTIVE, State.DISCONNECTED}),
        State.UNINSTALLED,
    ),
    Transition.RECONNECT: (frozenset({State.UNINSTALLED, State.DISCONNECTED}), State.ACTIVE),
}
MEANING = {
    State.ACTIVE: "exports and syncs flow to Xero; settings and mappings are in place",
    State.INACTIVE: "exports are held in the queue (not lost); settings and mappings are kept",
    State.DISCONNECTED: "the app was removed inside Xero: nothing reaches Xero; settings and "
    "mappings are kept",
    State.UNINSTALLED: "settings and mappings were removed (a snapshot can restore them); "
    "nothing flows",
}


def default_actor() -> str:
    """Who is at the keyboard: the login name."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


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


def allowed_actions(state: State) -> list[Transition]:
    """The actions the state table allows from this state (plus map where there is a tenant)."""
    return [a for a, (sources, _) in ALLOWED.items() if state in sources]


def _refuse(current: Integration, action: Transition) -> TransitionRefused:
    options = [a for a in allowed_actions(current.state) if a != Transition.MARK_DISCONNECTED]
    if current.state == ALLOWED[action][1]:
        why = f"{current.code} is already {current.state}"
    else:
        why = f"{current.code} is {current.state}, so it cannot {action.replace('_', ' ')}"
    return TransitionRefused(
        f"{why}; from {current.state} you can {', '.join(options) or 'do nothing'}."
    )


def check_version(current: Integration, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(
            f"{current.code} was changed by {current.updated_by} at {current.updated_at} "
            f"(version {current.version}, you had {expected_version}); reload and try again."
        )


def check_allowed(current: Integration, action: Transition, expected_version: int | None) -> None:
    check_version(current, expected_version)
    if current.state not in ALLOWED[action][0]:
        raise _refuse(current, action)


def apply_transition(
    conn: sqlite3.Connection,
    current: Integration,
    action: Transition,
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
    record_audit(
        conn, current.org_id, actor, action, detail, at=at, before=current.state, after=after
    )
    return TransitionResult(
        current.code, action, current.state, after, current.version + 1, actor, at
    )


def locked_integration(conn: sqlite3.Connection, oid: int) -> Integration:
    return Integration.from_row(conn.execute(_INTEGRATION_SQL, [oid]).fetchone())


def move_queue(
    conn: sqlite3.Connection,
    oid: int,
    source: QueueStatus,
    target: QueueStatus,
    at: str | None = None,
) -> int:
    """Move the organisation's exports from one queue status to another; how many moved."""
    return conn.execute(
        "UPDATE queue SET status = ?, updated_at = ? WHERE org_id = ? AND status = ?",
        [target, at or now_iso(), oid, source],
    ).rowcount


def with_messages(
    result: TransitionResult, *messages: str, snapshot_id: int | None = None
) -> TransitionResult:
    return replace(
        result,
        messages=result.messages + messages,
        snapshot_id=snapshot_id or result.snapshot_id,
    )


# --- transitions -----------------------------------------------------------------------------


def deactivate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    expected_version: int | None = None,
    reason: str | None = None,
    until: datetime | None = None,
) -> TransitionResult:
    """active -> inactive: exports waiting in the queue are held, settings and mappings kept.

    `reason` (why it is paused, e.g. a bulk edit) and `until` (when it is due back on) are
    stored with the pause, in the same transaction: an integration inactive past `until`, or
    24 h without one, is overdue (store/orgs.py `overdue`).

    Raises UnknownOrganisation, TransitionRefused, VersionConflict.
    """
    actor = actor or default_actor()
    oid = org_id(db, org)
    reason = reason.strip() if reason else None
    with transaction(db) as conn:
        current = locked_integration(conn, oid)
        check_allowed(current, Transition.DEACTIVATE, expected_version)
        held = move_queue(conn, oid, QueueStatus.PENDING, QueueStatus.HELD)
        at = now_iso()
        due = iso(until) if until else None
        conn.execute(
            "INSERT OR REPLACE INTO pauses(org_id, reason, due_at, paused_at, paused_by) "
            "VALUES (?, ?, ?, ?, ?)",
            [oid, reason, due, at, actor],
        )
        detail = f"{held} pending exports held" + (f"; reason: {reason}" if reason else "")
        detail += f"; due back on {due}" if due else ""
        result = apply_transition(conn, current, Transition.DEACTIVATE, actor, detail)
    record(db, current.code, Level.INFO, f"Integration status set to Inactive by {actor}")
    messages = [f"{held} pending exports are held in the queue until activation."]
    if due:
        messages.append(f"Due back on by {due}; after that it is flagged overdue.")
    return with_messages(result, *messages)


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
        current = locked_integration(conn, oid)
        check_allowed(current, Transition.MARK_DISCONNECTED, expected_version)
        result = apply_transition(conn, current, Transition.MARK_DISCONNECTED, actor, reason)
    record(
        db,
        current.code,
        Level.ERROR,
        "Xero integration disconnected from within Xero; integration deactivated",
    )
    return result


def uninstall_plan(db: sqlite_utils.Database, org: str) -> UninstallPlan:
    """What an uninstall of this organisation would remove and keep, without doing it.

    Raises UnknownOrganisation.
    """
    current = integration(db, org)
    settings, mappings = configuration(db.conn, current.org_id)
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


def confirms(confirm: str | None, code: str) -> bool:
    """Whether a typed confirmation names the organisation (its code, any case, spaces
    around it ignored)."""
    return confirm is not None and confirm.strip().upper() == code.upper()


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

    `confirm` must be the organisation's code. Nothing is sent to Xero before the store has
    committed the snapshot, the new state and the intent to revoke (pending_revokes, with
    the tokens the revoke needs); the revoke follows, and its record and the tokens go once
    Xero has answered. Killed in between, the store says `uninstalled` with the revoke still
    recorded, and `settle_revoke` (the next uninstall step or reconnect) sends it again. If
    Xero cannot be reached the uninstall still stands and the result says what happens next.

    Raises UnknownOrganisation, TransitionRefused (no or wrong confirmation), VersionConflict,
    InvalidConfig (a partial or invalid Xero configuration: nothing changes).
    """
    actor = actor or default_actor()
    current = integration(db, org)
    if not confirms(confirm, current.code):
        raise _unconfirmed(uninstall_plan(db, current.code))
    check_allowed(current, Transition.UNINSTALL, expected_version)
    if revoke and client is None:
        from store.xero.config import load_settings

        load_settings().require()  # a half-right Xero configuration changes nothing
    with transaction(db) as conn:
        locked = locked_integration(conn, current.org_id)
        check_allowed(locked, Transition.UNINSTALL, current.version)
        at = now_iso()
        snap = take_snapshot(conn, locked, actor=actor, reason=Transition.UNINSTALL, at=at)
        for table in ("settings", "mappings"):
            conn.execute(f"DELETE FROM {table} WHERE org_id = ?", [locked.org_id])
        revoking = revoke and bool(locked.connection_id or locked.tenant_id)
        if revoking:
            conn.execute(
                "INSERT OR REPLACE INTO pending_revokes(org_id, connection_id, tenant_id, "
                "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?)",
                [locked.org_id, locked.connection_id, locked.tenant_id, at, actor],
            )
        else:
            conn.execute("DELETE FROM credentials WHERE org_id = ?", [locked.org_id])
        move_queue(conn, locked.org_id, QueueStatus.PENDING, QueueStatus.HELD, at)
        result = apply_transition(
            conn,
            locked,
            Transition.UNINSTALL,
            actor,
            f"snapshot {snap.id}: {plural(len(snap.settings), 'setting')}, "
            f"{plural(len(snap.mappings), 'mapping')}",
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
        Level.INFO,
        f"Xero integration uninstalled by {actor}; settings and mappings removed "
        f"(snapshot {snap.id})",
    )
    messages = [
        f"Snapshot {snap.id} holds {plural(len(snap.settings), 'setting')} and "
        f"{plural(len(snap.mappings), 'mapping')}; `syncdesk reconnect` restores it."
    ]
    revoked = settle_revoke(db, current.code, client=client) if revoking else None
    if revoked is not None:
        messages.append(revoked)
    return with_messages(result, *messages, snapshot_id=snap.id)


def revoke_pending(db: sqlite_utils.Database, org: str) -> bool:
    """Whether an uninstall's revoke of the Xero connection is still to be sent."""
    oid = org_id(db, org)
    return bool(db.execute("SELECT 1 FROM pending_revokes WHERE org_id = ?", [oid]).fetchone())


def settle_revoke(db: sqlite_utils.Database, org: str, *, client: Any = None) -> str | None:
    """Send an uninstall's recorded revoke of the Xero connection; None when none is pending.

    Once Xero has answered (revoked, or nothing left to revoke) the record and the tokens are
    removed. If the stored grant can no longer act (invalid_grant) only someone in Xero can
    remove the app, so the record goes and the message says so. Any other failure keeps the
    record for the next attempt. Returns what happened, in words.
    """
    from store.xero.connect import revoke

    oid = org_id(db, org)
    row = db.execute(
        "SELECT connection_id, tenant_id FROM pending_revokes WHERE org_id = ?", [oid]
    ).fetchone()
    if row is None:
        return None
    try:
        gone = revoke(db, org, client=client, connection_id=row[0], tenant_id=row[1])
    except XeroInvalidGrant as exc:
        _drop_pending_revoke(db, oid)
        return (
            f"The Xero connection could not be revoked ({exc}); remove the app in Xero "
            "under Settings > Connected apps."
        )
    except SyncdeskError as exc:
        return (
            f"The Xero connection could not be revoked yet ({exc}); the revoke stays "
            "recorded and is sent again by the next uninstall step or reconnect, or remove the "
            "app in Xero under Settings > Connected apps."
        )
    _drop_pending_revoke(db, oid)
    return (
        "The connection was revoked in Xero." if gone else "Xero had no connection left to revoke."
    )


def _drop_pending_revoke(db: sqlite_utils.Database, oid: int) -> None:
    with transaction(db) as conn:
        conn.execute("DELETE FROM pending_revokes WHERE org_id = ?", [oid])
        state = conn.execute("SELECT state FROM integrations WHERE org_id = ?", [oid]).fetchone()
        if state is not None and state[0] == State.UNINSTALLED:
            conn.execute("DELETE FROM credentials WHERE org_id = ?", [oid])


def _unconfirmed(plan: UninstallPlan) -> TransitionRefused:
    return TransitionRefused(
        f"Uninstalling {plan.code} removes {', '.join(plan.removed())}; it keeps "
        f"{', '.join(plan.kept())}. Confirm with --confirm {plan.code}."
    )
