"""Editing one mapping by hand, checked against the connected tenant's chart first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.db import now_iso, transaction
from store.enums import State
from store.errors import TransitionRefused
from store.history import record_audit
from store.models import MappingChange
from store.transitions import check_version, default_actor, integration, locked_integration

if TYPE_CHECKING:
    import sqlite_utils


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
    if current.state not in (State.ACTIVE, State.INACTIVE) or not current.tenant_id:
        raise TransitionRefused(
            f"{current.code} is {current.state}: there is no connected Xero organisation to "
            "check the mapping against; reconnect first."
        )
    check_version(current, expected_version)
    accounts, tax_rates = tenant_chart(db, current.code, current.tenant_id, client=client)
    problem = check_mapping(kind, local, remote, accounts, tax_rates)
    if problem is not None:
        raise _refused(f"{current.code}: {kind} {local} -> {remote}", problem)
    with transaction(db) as conn:
        locked = locked_integration(conn, current.org_id)
        check_version(locked, current.version)
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
        detail = f"{kind} {local}: {before or '(none)'} -> {remote}"
        record_audit(conn, locked.org_id, actor, "map", detail, at=at)
    return MappingChange(
        current.code, kind, local, before, remote, current.tenant_name, current.version + 1
    )


def _refused(what: str, problem: Any) -> TransitionRefused:
    """The refusal for a mapping the tenant cannot honour, with the codes that would do."""
    hint = (
        f" Codes that would do: {', '.join(problem.suggestions[:12])}."
        if problem.suggestions
        else ""
    )
    return TransitionRefused(f"{what}: {problem.problem}.{hint}")
