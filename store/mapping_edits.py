"""Editing one mapping by hand, checked against the connected tenant's chart first."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from store.db import now_iso, transaction
from store.errors import TransitionRefused
from store.models import MappingChange
from store.transitions import _check, _locked, default_actor, integration


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
    from store.xero.session import check_mapping, tenant_chart

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
