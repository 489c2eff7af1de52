"""Lifecycle transitions that talk to Xero (the embedded sandbox): activate, uninstall's revoke,
reconnect with restore and validation, tenant changes, and mapping fixes.

Every Xero call goes through a sandbox client with a fake clock, so THISTLE's 37 s Retry-After
and MERIDIAN's backoffs cost nothing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from support import FakeClock

from store.checks import activate  # noqa: E402
from store.errors import NotFound, TransitionRefused, VersionConflict, XeroError  # noqa: E402
from store.history import audit_trail, snapshot, snapshots  # noqa: E402
from store.mapping_edits import set_mapping  # noqa: E402
from store.reconnect import reconnect  # noqa: E402
from store.transitions import (  # noqa: E402
    deactivate,
    integration,
    uninstall,
)
from store.xero.client import XeroClient  # noqa: E402
from store.xero.sandbox import SandboxTransport  # noqa: E402

GREENFIELD = "9b2e1d8f-e2a0-4f5b-8de9-8d2a6f4b0c17"
DEMO_AU = "a1c0e2f9-f3b1-4a6c-9ef0-9e3b7a5c1d28"
KAURI_TENANT = "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SXBREW_TENANT = "2a9d4c1e-7b3f-4e8a-b6d2-1c5f9e7a3b40"
MERIDIAN_TENANT = "d4f3b5c2-26e4-4d9f-a123-c16ead8f405b"

# Every demo organisation that has mappings (all but the uninstalled COPPER), with the mappings
# that the tenant's chart cannot honour once they are restored.
ROUND_TRIP = {
    "HARBOUR": set(),
    "KAURI": {"220"},
    "SXBREW": set(),
    "WATTLE": set(),
    "BRIGHT": {"TAX001"},
    "THISTLE": set(),
    "IRONBARK": set(),
    "KELP": set(),
    "GREEN": set(),
    "TASMAN": {"630"},
}


# --- helpers ---------------------------------------------------------------------------------


def config(db, code: str) -> tuple[dict[str, Any], set[tuple[str, str, str]]]:
    oid = integration(db, code).org_id
    settings = {
        k: json.loads(v)
        for k, v in db.execute("SELECT key, value FROM settings WHERE org_id = ?", [oid])
    }
    mappings = {
        tuple(r)
        for r in db.execute("SELECT kind, local, remote FROM mappings WHERE org_id = ?", [oid])
    }
    return settings, mappings


def queue(db, code: str) -> dict[str, int]:
    oid = integration(db, code).org_id
    counts = {"pending": 0, "held": 0, "failed": 0, "exported": 0}
    counts.update(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status", [oid]
        ).fetchall()
    )
    return counts


def last_log_id(db) -> int:
    return db.execute("SELECT coalesce(max(id), 0) FROM log").fetchone()[0]


def log_since(db, code: str, after: int) -> list[tuple[str, str | None, str]]:
    oid = integration(db, code).org_id
    return [
        tuple(r)
        for r in db.execute(
            "SELECT level, kind, message FROM log WHERE org_id = ? AND id > ? ORDER BY id",
            [oid, after],
        )
    ]


def grant_connections(db, code: str) -> list[dict[str, Any]]:
    oid = integration(db, code).org_id
    row = db.execute("SELECT connections FROM sandbox_grants WHERE org_id = ?", [oid]).fetchone()
    return json.loads(row[0])


def actions(db, code: str) -> list[tuple[str, str, str | None, str | None]]:
    """The audit trail, newest first, as (actor, action, before, after)."""
    return [(e.actor, e.action, e.before_state, e.after_state) for e in audit_trail(db, code)]


class Faulty(httpx.BaseTransport):
    """The sandbox, except that requests matching `when` get `answer` (or its exception)."""

    def __init__(self, inner: httpx.BaseTransport, when, answer) -> None:
        self.inner, self.when, self.answer = inner, when, answer
        self.hits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.when(request):
            self.hits += 1
            return self.answer(request)
        return self.inner.handle_request(request)


def faulty_client(db, clock: FakeClock, when, answer) -> tuple[XeroClient, Faulty]:
    transport = Faulty(SandboxTransport(db, clock=clock.time), when, answer)
    client = XeroClient(
        client_id="c",
        client_secret="s",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
        retries=0,
    )
    return client, transport


# --- activate --------------------------------------------------------------------------------


def test_activate_kelp_releases_held_exports(db, xero) -> None:
    before_config, before_queue = config(db, "KELP"), queue(db, "KELP")
    assert before_queue["held"] > 0 and before_queue["pending"] == 0
    mark = last_log_id(db)

    result = activate(db, "KELP", actor="alice", client=xero)

    assert (result.before, result.after, result.version, result.actor) == (
        "inactive",
        "active",
        2,
        "alice",
    )
    row = integration(db, "KELP")
    assert (row.state, row.version, row.updated_by) == ("active", 2, "alice")
    after_queue = queue(db, "KELP")
    assert after_queue["held"] == 0
    assert after_queue["pending"] == before_queue["held"]
    assert f"{before_queue['held']} held exports are pending again." in result.messages
    assert config(db, "KELP") == before_config
    assert actions(db, "KELP")[0] == ("alice", "activate", "inactive", "active")
    assert ("info", None, "Integration status set to Active by alice") in [
        (level, None, message) for level, _, message in log_since(db, "KELP", mark)
    ]


def test_activate_when_xero_removed_the_connection(db, xero) -> None:
    oid = integration(db, "KELP").org_id
    with db.conn:
        db.execute("UPDATE sandbox_grants SET connections = '[]' WHERE org_id = ?", [oid])
    held = queue(db, "KELP")["held"]
    settings, mappings = config(db, "KELP")
    mark = last_log_id(db)

    with pytest.raises(TransitionRefused, match="no longer has the connection for KELP") as caught:
        activate(db, "KELP", actor="alice", client=xero)
    assert "reconnect" in str(caught.value)

    row = integration(db, "KELP")
    assert row.state == "disconnected" and row.version == 2
    errors = [
        (kind, message) for level, kind, message in log_since(db, "KELP", mark) if level == "error"
    ]
    assert any(kind == "disconnected_in_xero" for kind, _ in errors), errors
    assert queue(db, "KELP")["held"] == held  # nothing released, nothing lost
    assert config(db, "KELP") == (settings, mappings)  # disconnected keeps everything
    trail = actions(db, "KELP")
    assert trail[0][1:] == ("mark_disconnected", "inactive", "disconnected")
    assert all(action != "activate" for _, action, _, _ in trail)


def test_activate_refused_from_active_without_asking_xero(db, clock) -> None:
    client, transport = faulty_client(
        db, clock, lambda r: True, lambda r: pytest.fail(f"asked Xero: {r.url}")
    )
    with pytest.raises(TransitionRefused, match="HARBOUR is already active; from active you can"):
        activate(db, "HARBOUR", client=client)
    assert transport.hits == 0
    assert integration(db, "HARBOUR").version == 1


# --- reconnect refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "state", "allowed"),
    [("HARBOUR", "active", "deactivate, uninstall"), ("KELP", "inactive", "activate, uninstall")],
)
def test_reconnect_refused_unless_uninstalled_or_disconnected(
    db, xero, code: str, state: str, allowed: str
) -> None:
    connections = grant_connections(db, code)
    with pytest.raises(TransitionRefused) as caught:
        reconnect(db, code, client=xero)
    message = str(caught.value)
    assert code in message and f"from {state} you can {allowed}" in message
    row = integration(db, code)
    assert (row.state, row.version) == (state, 1)
    assert grant_connections(db, code) == connections  # no authorisation happened


def test_reconnect_unknown_tenant_lists_the_choices(db, xero) -> None:
    uninstall(db, "GREEN", confirm="GREEN", client=xero)
    version = integration(db, "GREEN").version
    with pytest.raises(TransitionRefused) as caught:
        reconnect(db, "GREEN", tenant_id="no-such-tenant", client=xero)
    message = str(caught.value)
    assert "no-such-tenant" in message
    for name, tenant in (
        ("Greenfield Garden Centre Pty Ltd", GREENFIELD),
        ("Demo Company (AU)", DEMO_AU),
    ):
        assert name in message and tenant in message
    row = integration(db, "GREEN")
    assert (row.state, row.version) == ("uninstalled", version)
    assert config(db, "GREEN") == ({}, set())
    assert snapshots(db, "GREEN")[0].restored_at is None


def test_reconnect_stale_version_is_refused(db, xero) -> None:
    deactivate(db, "KAURI", actor="carol")
    uninstall(db, "KAURI", confirm="KAURI", actor="carol", client=xero)
    with pytest.raises(VersionConflict, match="changed by carol"):
        reconnect(db, "KAURI", expected_version=2, client=xero)
    assert integration(db, "KAURI").state == "uninstalled"


# --- reconnect -------------------------------------------------------------------------------


def test_reconnect_disconnected_sxbrew_keeps_its_configuration(db, xero) -> None:
    before = config(db, "SXBREW")
    assert grant_connections(db, "SXBREW") == []  # the app was removed inside Xero

    result = reconnect(db, "SXBREW", actor="bob", client=xero)

    assert (result.transition.before, result.transition.after) == ("disconnected", "active")
    assert result.transition.version == 2
    assert (result.tenant_id, result.tenant_changed) == (SXBREW_TENANT, False)
    assert result.restored_snapshot is None and result.problems == ()
    row = integration(db, "SXBREW")
    assert (row.state, row.tenant_id) == ("active", SXBREW_TENANT)
    assert config(db, "SXBREW") == before  # mappings untouched
    assert snapshots(db, "SXBREW") == []
    assert [c["tenantId"] for c in grant_connections(db, "SXBREW")] == [SXBREW_TENANT]
    assert actions(db, "SXBREW")[0] == ("bob", "reconnect", "disconnected", "active")


def test_round_trip_covers_every_organisation_with_mappings(db) -> None:
    with_mappings = {
        r[0]
        for r in db.execute("SELECT DISTINCT o.code FROM mappings m JOIN orgs o ON o.id = m.org_id")
    }
    assert with_mappings == set(ROUND_TRIP) | {"MERIDIAN"}  # MERIDIAN: its own test below


@pytest.mark.parametrize("code", list(ROUND_TRIP))
def test_uninstall_then_reconnect_restores_exactly(db, xero, code: str) -> None:
    settings, mappings = config(db, code)
    assert settings and mappings
    start = integration(db, code)

    gone = uninstall(db, code, confirm=code.lower(), actor="alice", client=xero)
    assert (gone.before, gone.after, gone.version) == (
        start.state,
        "uninstalled",
        start.version + 1,
    )
    assert config(db, code) == ({}, set())

    back = reconnect(db, code, actor="bob", client=xero)

    assert (back.transition.before, back.transition.after) == ("uninstalled", "active")
    assert back.transition.version == start.version + 2
    assert back.restored_snapshot == gone.snapshot_id
    # back to the organisation it was last confirmed on (GREEN: its own, not the demo company)
    assert back.tenant_id == start.trusted_tenant[0] and back.tenant_changed is False
    assert config(db, code) == (settings, mappings)  # every setting and mapping, exactly
    assert {p.remote for p in back.problems} == ROUND_TRIP[code]
    row = integration(db, code)
    assert (row.state, row.version, row.tenant_id) == (
        "active",
        start.version + 2,
        start.trusted_tenant[0],
    )
    restored = snapshot(db, code, gone.snapshot_id)
    assert restored.restored_at is not None
    assert len(snapshots(db, code)) == 1
    assert actions(db, code)[:2] == [
        ("bob", "reconnect", "uninstalled", "active"),
        ("alice", "uninstall", start.state, "uninstalled"),
    ]


def test_meridian_offline_reconnect_waits_for_xero_then_restores(db, xero) -> None:
    settings, mappings = config(db, "MERIDIAN")
    gone = uninstall(db, "MERIDIAN", confirm="MERIDIAN", client=xero)

    # The tenant answers 503: its chart cannot be read, so nothing is restored yet.
    with pytest.raises(XeroError, match="offline"):
        reconnect(db, "MERIDIAN", client=xero)
    assert integration(db, "MERIDIAN").state == "uninstalled"
    assert config(db, "MERIDIAN") == ({}, set())
    assert snapshot(db, "MERIDIAN").restored_at is None

    with db.conn:
        db.execute(
            "UPDATE sandbox_tenants SET behaviour = '{}' WHERE tenant_id = ?", [MERIDIAN_TENANT]
        )
    back = reconnect(db, "MERIDIAN", client=xero)
    assert back.restored_snapshot == gone.snapshot_id
    assert config(db, "MERIDIAN") == (settings, mappings)


def test_uninstalling_a_wrong_tenant_keeps_the_right_one_as_previous(db, xero) -> None:
    """GREEN was reconnected to a demo company and nobody confirmed it: after an uninstall the
    organisation to come back to is still its own, and reconnecting there is no change."""
    uninstall(db, "GREEN", confirm="GREEN", actor="alice", client=xero)
    row = integration(db, "GREEN")
    assert (row.previous_tenant_id, row.previous_tenant_name) == (
        GREENFIELD,
        "Greenfield Garden Centre Pty Ltd",
    )
    back = reconnect(db, "GREEN", actor="bob", client=xero)
    assert (back.tenant_id, back.tenant_changed) == (GREENFIELD, False)


def test_reconnect_to_a_different_tenant_needs_acceptance(db, xero) -> None:
    settings, mappings = config(db, "GREEN")
    uninstall(db, "GREEN", confirm="GREEN", actor="alice", client=xero)
    version = integration(db, "GREEN").version

    with pytest.raises(TransitionRefused) as caught:
        reconnect(db, "GREEN", tenant_id=DEMO_AU, actor="bob", client=xero)
    message = str(caught.value)
    assert "Demo Company (AU)" in message and "Greenfield Garden Centre Pty Ltd" in message
    assert "--accept-new-tenant" in message
    row = integration(db, "GREEN")
    assert (row.state, row.version) == ("uninstalled", version)
    assert snapshot(db, "GREEN").restored_at is None

    mark = last_log_id(db)
    result = reconnect(
        db, "GREEN", tenant_id=DEMO_AU, accept_new_tenant=True, actor="bob", client=xero
    )
    assert result.tenant_changed is True
    assert (result.tenant_id, result.tenant_name) == (DEMO_AU, "Demo Company (AU)")
    row = integration(db, "GREEN")
    assert (row.state, row.tenant_id, row.tenant_confirmed_by) == ("active", DEMO_AU, "bob")
    assert (row.previous_tenant_id, row.previous_tenant_name) == (
        GREENFIELD,
        "Greenfield Garden Centre Pty Ltd",
    )
    changed = [
        m
        for level, kind, m in log_since(db, "GREEN", mark)
        if level == "error" and kind == "tenant_changed"
    ]
    assert len(changed) == 1
    assert "Demo Company (AU)" in changed[0] and "Greenfield Garden Centre" in changed[0]
    assert "TENANT CHANGED" in (audit_trail(db, "GREEN")[0].detail or "")
    assert config(db, "GREEN") == (settings, mappings)


def test_reconnect_kauri_reports_the_missing_account(db, xero) -> None:
    uninstall(db, "KAURI", confirm="KAURI", client=xero)
    result = reconnect(db, "KAURI", client=xero)
    [problem] = result.problems
    assert (problem.kind, problem.local, problem.remote) == ("sales_account", "group:Online", "220")
    assert "does not exist" in problem.problem
    assert {"200", "210"} <= set(problem.suggestions) and "220" not in problem.suggestions
    assert any("syncdesk map KAURI" in m for m in result.transition.messages)
    # Restored as it was: the person decides the replacement, not the reconnect.
    assert ("sales_account", "group:Online", "220") in config(db, "KAURI")[1]
    assert result.to_json()["problems"][0]["remote"] == "220"


def test_reconnect_no_restore_leaves_configuration_empty(db, xero) -> None:
    gone = uninstall(db, "HARBOUR", confirm="HARBOUR", client=xero)
    result = reconnect(db, "HARBOUR", no_restore=True, client=xero)
    assert result.restored_snapshot is None and result.problems == ()
    assert integration(db, "HARBOUR").state == "active"
    assert config(db, "HARBOUR") == ({}, set())
    assert snapshot(db, "HARBOUR", gone.snapshot_id).restored_at is None


def test_reconnect_restore_unknown_snapshot_is_not_found(db, xero) -> None:
    uninstall(db, "HARBOUR", confirm="HARBOUR", client=xero)
    version = integration(db, "HARBOUR").version
    with pytest.raises(NotFound, match="HARBOUR has no snapshot 9999"):
        reconnect(db, "HARBOUR", restore=9999, client=xero)
    row = integration(db, "HARBOUR")
    assert (row.state, row.version) == ("uninstalled", version)
    assert config(db, "HARBOUR") == ({}, set())


def test_reconnect_restores_the_chosen_snapshot(db, xero) -> None:
    original = config(db, "KAURI")
    first = uninstall(db, "KAURI", confirm="KAURI", client=xero)
    reconnect(db, "KAURI", client=xero)
    set_mapping(db, "KAURI", "sales_account", "group:Online", "210", client=xero)
    changed = config(db, "KAURI")
    second = uninstall(db, "KAURI", confirm="KAURI", client=xero)
    assert [s.id for s in snapshots(db, "KAURI")] == [second.snapshot_id, first.snapshot_id]

    result = reconnect(db, "KAURI", restore=first.snapshot_id, client=xero)
    assert result.restored_snapshot == first.snapshot_id
    assert config(db, "KAURI") == original != changed
    assert snapshot(db, "KAURI", second.snapshot_id).restored_at is None


# --- uninstall and the Xero connection -------------------------------------------------------


def test_uninstall_revokes_the_connection_in_xero(db, xero) -> None:
    assert len(grant_connections(db, "HARBOUR")) == 1
    mark = last_log_id(db)
    result = uninstall(db, "HARBOUR", confirm="HARBOUR", client=xero)
    assert result.after == "uninstalled"
    assert "The connection was revoked in Xero." in result.messages
    assert grant_connections(db, "HARBOUR") == []
    assert any("Xero connection removed" in m for _, _, m in log_since(db, "HARBOUR", mark))


def test_uninstall_goes_through_when_xero_refuses_the_stored_grant(db, xero) -> None:
    """WATTLE's refresh token is dead (invalid_grant): nothing can be revoked, the uninstall
    still happens."""
    settings, mappings = config(db, "WATTLE")
    result = uninstall(db, "WATTLE", confirm="WATTLE", client=xero)
    assert result.after == "uninstalled"
    said = " ".join(result.messages)
    assert "could not be revoked" in said or "no connection" in said
    assert integration(db, "WATTLE").state == "uninstalled"
    assert config(db, "WATTLE") == ({}, set())
    snap = snapshots(db, "WATTLE")[0]
    assert snap.settings == settings
    assert {(m["kind"], m["local"], m["remote"]) for m in snap.mappings} == mappings


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"Title": "Internal Error", "Status": 500})


@pytest.mark.parametrize(
    ("when", "answer"),
    [
        (lambda r: True, _unreachable),  # Xero cannot be reached at all
        (lambda r: r.method == "DELETE", _server_error),  # Xero refuses to delete
    ],
    ids=["unreachable", "delete-fails"],
)
def test_uninstall_goes_through_when_xero_cannot_revoke(db, clock, when, answer) -> None:
    client, transport = faulty_client(db, clock, when, answer)
    result = uninstall(db, "HARBOUR", confirm="HARBOUR", actor="alice", client=client)
    assert transport.hits >= 1
    assert result.after == "uninstalled" and result.snapshot_id is not None
    said = " ".join(result.messages)
    assert "could not be revoked" in said and "Connected apps" in said
    assert integration(db, "HARBOUR").state == "uninstalled"
    assert config(db, "HARBOUR") == ({}, set())
    assert len(grant_connections(db, "HARBOUR")) == 1  # still there: the message says so


# --- set_mapping -----------------------------------------------------------------------------


def test_set_mapping_checks_updates_bumps_and_audits(db, xero) -> None:
    settings, mappings = config(db, "KAURI")
    change = set_mapping(
        db, "KAURI", "sales_account", "group:Online", "210", actor="alice", client=xero
    )
    assert (change.before, change.after, change.version) == ("220", "210", 2)
    assert change.tenant_name == "Kauri Outdoor Supply Co"
    expected = (mappings - {("sales_account", "group:Online", "220")}) | {
        ("sales_account", "group:Online", "210")
    }
    assert config(db, "KAURI") == (settings, expected)
    row = integration(db, "KAURI")
    assert (row.state, row.version, row.updated_by) == ("active", 2, "alice")
    entry = audit_trail(db, "KAURI")[0]
    assert (entry.actor, entry.action) == ("alice", "map")
    assert "220" in entry.detail and "210" in entry.detail

    added = set_mapping(
        db, "KAURI", "sales_account", "group:Gift cards", "200", actor="alice", client=xero
    )
    assert (added.before, added.version) == (None, 3)
    assert ("sales_account", "group:Gift cards", "200") in config(db, "KAURI")[1]


def test_set_mapping_fixes_brightwaters_archived_tax_rate(db, xero) -> None:
    change = set_mapping(db, "BRIGHT", "tax_rate", "Export 0%", "ZERORATEDOUTPUT", client=xero)
    assert (change.before, change.after) == ("TAX001", "ZERORATEDOUTPUT")
    assert ("tax_rate", "Export 0%", "ZERORATEDOUTPUT") in config(db, "BRIGHT")[1]


@pytest.mark.parametrize(
    ("code", "kind", "local", "remote", "why", "would_do"),
    [
        ("KAURI", "sales_account", "group:Online", "999", "does not exist", {"200", "210"}),
        ("KAURI", "sales_account", "group:Online", "310", "DIRECTCOSTS", {"200", "210"}),
        ("BRIGHT", "tax_rate", "Export 0%", "TAX001", "ARCHIVED", {"ZERORATEDOUTPUT", "OUTPUT2"}),
        ("TASMAN", "inventory_account", "default", "630", "ARCHIVED", set()),
    ],
    ids=["missing-account", "wrong-type", "archived-tax-rate", "archived-account"],
)
def test_set_mapping_refuses_what_xero_cannot_take(
    db, xero, code: str, kind: str, local: str, remote: str, why: str, would_do: set[str]
) -> None:
    before = config(db, code)
    audit_before = len(audit_trail(db, code))
    with pytest.raises(TransitionRefused) as caught:
        set_mapping(db, code, kind, local, remote, actor="alice", client=xero)
    message = str(caught.value)
    assert message.startswith(f"{code}: {kind} {local} -> {remote}: ")
    assert why in message
    if would_do:
        suggested = message.split("Codes that would do: ", 1)[1].rstrip(".").split(", ")
        assert would_do <= set(suggested) and remote not in suggested
    assert config(db, code) == before
    assert integration(db, code).version == 1
    assert len(audit_trail(db, code)) == audit_before


@pytest.mark.parametrize("code", ["SXBREW", "COPPER"])
def test_set_mapping_refused_without_a_connected_tenant(db, clock, code: str) -> None:
    client, transport = faulty_client(
        db, clock, lambda r: True, lambda r: pytest.fail(f"asked Xero: {r.url}")
    )
    before = config(db, code)
    with pytest.raises(TransitionRefused, match=f"{code} is .*reconnect first"):
        set_mapping(db, code, "sales_account", "default", "200", client=client)
    assert transport.hits == 0
    assert config(db, code) == before and integration(db, code).version == 1


def test_set_mapping_refused_after_uninstall(db, xero) -> None:
    uninstall(db, "HARBOUR", confirm="HARBOUR", client=xero)
    with pytest.raises(TransitionRefused, match="HARBOUR is uninstalled"):
        set_mapping(db, "HARBOUR", "sales_account", "default", "200", client=xero)
    assert config(db, "HARBOUR") == ({}, set())


def test_set_mapping_stale_version_is_a_conflict(db, xero) -> None:
    deactivate(db, "KAURI", actor="carol")  # version 2, still mappable while inactive
    before = config(db, "KAURI")
    with pytest.raises(VersionConflict, match=r"changed by carol .*version 2, you had 1"):
        set_mapping(
            db, "KAURI", "sales_account", "group:Online", "210", expected_version=1, client=xero
        )
    assert config(db, "KAURI") == before and integration(db, "KAURI").version == 2
    change = set_mapping(
        db, "KAURI", "sales_account", "group:Online", "210", expected_version=2, client=xero
    )
    assert change.version == 3
