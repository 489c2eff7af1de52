"""Reconnecting an uninstalled or disconnected integration: the Xero organisations to choose
from, the choice (a different one than before is refused unless accepted), and restoring the
configuration from a snapshot.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from store.db import now_iso, transaction
from store.enums import Level, QueueStatus, State, Transition
from store.errors import NotFound, TransitionRefused
from store.history import snapshot, snapshots
from store.logs import record
from store.models import Integration, ReconnectOptions, ReconnectResult, Snapshot
from store.transitions import (
    apply_transition,
    check_allowed,
    default_actor,
    integration,
    locked_integration,
    move_queue,
    revoke_pending,
    settle_revoke,
    with_messages,
)
from store.words import agree, plural

if TYPE_CHECKING:
    import sqlite_utils


def _previous_tenant(current: Integration) -> tuple[str | None, str | None]:
    if current.state == State.UNINSTALLED:
        return current.previous_tenant_id, current.previous_tenant_name
    return current.trusted_tenant


def start_consent(
    db: sqlite_utils.Database, org: str, *, actor: str | None = None, client: Any = None
) -> Any:
    """A consent link (URL, state, expiry) for a person to authorise org's reconnect in a
    browser; refused first when the integration cannot be reconnected.

    Raises UnknownOrganisation, TransitionRefused, InvalidConfig.
    """
    from store.xero.consent import consent_link

    current = integration(db, org)
    check_allowed(current, Transition.RECONNECT, None)
    return consent_link(db, current.code, actor=actor or default_actor(), client=client)


def needs_consent(db: sqlite_utils.Database, org: str) -> bool:
    """Whether a reconnect of org needs a person's consent first: the real Xero, and no
    consent redeemed in the last 10 minutes. Raises InvalidConfig, UnknownOrganisation."""
    from store.xero.config import load_settings
    from store.xero.consent import fresh_consent

    if load_settings().require().sandbox:
        return False
    return not fresh_consent(db, integration(db, org).org_id)


def reconnect_options(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: Any = None,
    redirect_url: str | None = None,
) -> ReconnectOptions:
    """Authorise against Xero and list the tenants a reconnect may choose.

    With `redirect_url` (the address the browser ended on after Xero's consent page) the
    consent is redeemed; without it the embedded sandbox plays the consent screen, and the
    real Xero raises XeroConsentRequired.

    Raises UnknownOrganisation, TransitionRefused, ConsentRefused, XeroError.
    """
    from store.xero.connect import authorise
    from store.xero.consent import redeem

    current = integration(db, org)
    check_allowed(current, Transition.RECONNECT, None)
    # An uninstall's revoke still recorded goes first: authorising replaces the tokens it needs,
    # and sent later it could remove the new connection.
    settled = settle_revoke(db, current.code, client=client)
    if settled is not None and revoke_pending(db, current.code):
        raise TransitionRefused(
            f"{current.code} cannot be reconnected before its old Xero connection is revoked. "
            f"{settled}"
        )
    if redirect_url is not None:
        granted = redeem(db, current.code, redirect_url, client=client)
    else:
        granted = authorise(db, current.code, client=client)
    # Only accounting organisations: a PRACTICEMANAGER (XPM) tenant is never exported to.
    tenants = tuple(t for t in granted if t.tenant_type == "ORGANISATION")
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
            f"The Xero user's consent granted no organisation for {options.code}; make a new "
            f"link with `syncdesk reconnect {options.code} --auth-url` and tick the "
            "organisation to connect on Xero's consent page."
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
    redirect_url: str | None = None,
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
    check_allowed(current, Transition.RECONNECT, expected_version)
    options = options or reconnect_options(
        db, current.code, client=client, redirect_url=redirect_url
    )
    chosen = _choose(options, tenant_id)
    changed = bool(options.previous_tenant_id) and chosen.tenant_id != options.previous_tenant_id
    if changed and not accept_new_tenant:
        raise _refuse_new_tenant(current.code, options, chosen)
    snap = _to_restore(db, current, restore, no_restore)
    accounts, tax_rates = tenant_chart(db, current.code, chosen.tenant_id, client=client)
    with transaction(db) as conn:
        locked = locked_integration(conn, current.org_id)
        check_allowed(locked, Transition.RECONNECT, current.version)
        if snap is not None:
            _restore(conn, locked.org_id, snap)
        released = move_queue(conn, locked.org_id, QueueStatus.HELD, QueueStatus.PENDING)
        result = apply_transition(
            conn,
            locked,
            Transition.RECONNECT,
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
    _log_connected(db, current.code, options, chosen, changed)
    problems = tuple(validate_mappings(db, current.code, accounts, tax_rates))
    return ReconnectResult(
        with_messages(result, *_messages(current.code, released, snap, problems)),
        chosen.tenant_id,
        chosen.tenant_name,
        changed,
        snap.id if snap else None,
        problems,
    )


def _refuse_new_tenant(code: str, options: ReconnectOptions, chosen: Any) -> TransitionRefused:
    return TransitionRefused(
        f"{code} was connected to Xero organisation "
        f"{options.previous_tenant_name!r} ({options.previous_tenant_id}); "
        f"{chosen.tenant_name!r} ({chosen.tenant_id}) is a DIFFERENT organisation. "
        "Reconnecting to it can duplicate contacts and post to the wrong books; pass "
        "--accept-new-tenant only if the customer really moved to it."
    )


def _to_restore(
    db: sqlite_utils.Database, current: Integration, restore: int | None, no_restore: bool
) -> Snapshot | None:
    """The snapshot asked for; else an uninstalled integration's latest, if it has one."""
    if no_restore or (restore is None and current.state != State.UNINSTALLED):
        return None
    try:
        return snapshot(db, current.code, restore)
    except NotFound:
        if restore is not None:
            raise
        return None


def _log_connected(
    db: sqlite_utils.Database, code: str, options: ReconnectOptions, chosen: Any, changed: bool
) -> None:
    record(db, code, Level.INFO, f'Xero connection authorised for tenant "{chosen.tenant_name}"')
    if changed:
        record(
            db,
            code,
            Level.ERROR,
            f'Connected Xero tenant changed from "{options.previous_tenant_name}" '
            f'({options.previous_tenant_id}) to "{chosen.tenant_name}" ({chosen.tenant_id})',
        )


def _messages(
    code: str, released: int, snap: Snapshot | None, problems: tuple[Any, ...]
) -> list[str]:
    messages = []
    if snap is not None:
        messages.append(
            f"Restored snapshot {snap.id}: {plural(len(snap.settings), 'setting')}, "
            f"{plural(len(snap.mappings), 'mapping')}."
        )
    messages.append(
        f"{plural(released, 'held export')} {agree(released, 'is', 'are')} pending again."
    )
    if problems:
        messages.append(
            f"{plural(len(problems), 'mapping')} {agree(len(problems), 'does', 'do')} not match "
            "the tenant; fix each with "
            f"`syncdesk map {code} KIND LOCAL CODE`."
        )
    return messages


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
