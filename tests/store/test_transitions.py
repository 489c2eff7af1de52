"""Transitions, refusals, optimistic versions, snapshots, audit, and racing processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support import wait_until

from store import transitions as lifecycle
from store.db import open_store
from store.errors import TransitionRefused, VersionConflict
from store.history import audit_trail, snapshots
from store.orgs import show_org
from store.transitions import (
    ALLOWED,
    deactivate,
    integration,
    mark_disconnected,
    uninstall,
    uninstall_plan,
)

# One organisation per starting state in the demo store.
BY_STATE = {
    "active": "HARBOUR",
    "inactive": "KELP",
    "disconnected": "SXBREW",
    "uninstalled": "COPPER",
}


def _config(db, code: str) -> tuple[dict, set]:
    detail = show_org(db, code)
    return detail.settings, {(m.kind, m.local, m.remote) for m in detail.mappings}


def test_deactivate_holds_pending_exports(db) -> None:
    before = show_org(db, "HARBOUR")
    result = deactivate(db, "HARBOUR", actor="alice")
    after = show_org(db, "HARBOUR")
    assert (result.before, result.after, result.version) == ("active", "inactive", 2)
    assert after.state == "inactive" and after.version == 2 and after.updated_by == "alice"
    assert after.queue["held"] == before.queue["held"] + before.queue["pending"]
    assert after.queue["pending"] == 0
    assert (after.settings, after.mappings) == (before.settings, before.mappings)
    entry = audit_trail(db, "HARBOUR")[0]
    assert (entry.actor, entry.action, entry.before_state, entry.after_state) == (
        "alice",
        "deactivate",
        "active",
        "inactive",
    )


@pytest.mark.parametrize("state", list(BY_STATE))
@pytest.mark.parametrize("action", ["deactivate", "mark_disconnected"])
def test_state_table_refusals(db, state: str, action: str) -> None:
    code = BY_STATE[state]
    allowed = state in ALLOWED[action][0]
    func = getattr(lifecycle, action)
    if allowed:
        assert func(db, code).after == ALLOWED[action][1]
    else:
        with pytest.raises(TransitionRefused) as caught:
            func(db, code)
        message = str(caught.value)
        assert code in message and f"from {state} you can" in message
        assert integration(db, code).state == state  # nothing changed
        assert integration(db, code).version == 1


def test_refusal_says_what_is_allowed(db) -> None:
    with pytest.raises(
        TransitionRefused,
        match="KELP is already inactive; from inactive you can activate, uninstall",
    ):
        deactivate(db, "KELP")


def test_stale_version_is_refused_with_who_and_when(db) -> None:
    deactivate(db, "HARBOUR", actor="alice")
    with pytest.raises(
        VersionConflict,
        match=r"HARBOUR was changed by alice at .* \(version 2,"
        r" you had 1\); reload",
    ):
        mark_disconnected(db, "HARBOUR", expected_version=1)


def test_uninstall_needs_the_typed_code(db) -> None:
    for confirm in (None, "", "KAUR", "HARBOUR"):
        with pytest.raises(TransitionRefused, match="Confirm with --confirm KAURI"):
            uninstall(db, "KAURI", confirm=confirm, revoke=False)
    assert integration(db, "KAURI").state == "active"
    assert snapshots(db, "KAURI") == []


def test_uninstall_plan_says_what_goes_and_stays(db) -> None:
    plan = uninstall_plan(db, "KAURI")
    removed, kept = " ".join(plan.removed()), " ".join(plan.kept())
    assert (
        f"{len(plan.settings)} settings" in removed and f"{len(plan.mappings)} mappings" in removed
    )
    assert "Kauri Outdoor Supply Co" in removed
    assert "snapshot" in kept and "queue" in kept and "log" in kept


def test_uninstall_snapshots_exactly_what_it_removes(db) -> None:
    settings, mappings = _config(db, "KAURI")
    pending = show_org(db, "KAURI").queue["pending"]
    result = uninstall(db, "KAURI", confirm="kauri", actor="bob", revoke=False)
    assert (result.after, result.snapshot_id) == ("uninstalled", snapshots(db, "KAURI")[0].id)
    snap = snapshots(db, "KAURI")[0]
    assert snap.settings == settings
    assert {(m["kind"], m["local"], m["remote"]) for m in snap.mappings} == mappings
    assert (snap.actor, snap.state, snap.tenant_name) == (
        "bob",
        "active",
        "Kauri Outdoor Supply Co",
    )
    after = show_org(db, "KAURI")
    assert after.settings == {} and after.mappings == () and after.tenant_id is None
    assert after.queue["pending"] == 0 and after.queue["held"] >= pending
    oid = db.execute("SELECT id FROM orgs WHERE code='KAURI'").fetchone()[0]
    assert db.execute("SELECT count(*) FROM credentials WHERE org_id=?", [oid]).fetchone()[0] == 0
    row = integration(db, "KAURI")
    assert row.previous_tenant_name == "Kauri Outdoor Supply Co"


def test_crash_mid_uninstall_leaves_nothing_half_done(db, monkeypatch) -> None:
    settings, mappings = _config(db, "KAURI")

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(lifecycle, "apply_transition", crash)
    with pytest.raises(RuntimeError):
        uninstall(db, "KAURI", confirm="KAURI", revoke=False)
    assert _config(db, "KAURI") == (settings, mappings)
    assert snapshots(db, "KAURI") == []
    assert integration(db, "KAURI").state == "active"


RACER = """
import sys, time
from pathlib import Path
from store.db import open_store
from store.errors import TransitionRefused
from store.transitions import uninstall
path, go, name = sys.argv[1:]
db = open_store(path)
Path(go).with_name("ready-" + name).touch()  # opened the store: at the start line
while not Path(go).exists():
    time.sleep(0.001)
try:
    uninstall(db, "KAURI", confirm="KAURI", actor=name, revoke=False)
    print("won")
except TransitionRefused as exc:
    print("refused:", exc)
"""


def test_two_processes_racing_uninstall(store_path: Path, tmp_path: Path) -> None:
    db = open_store(store_path)
    settings, mappings = _config(db, "KAURI")
    db.conn.close()
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(store_path), str(go), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    ]
    # Both have opened the store and are spinning on the start line.
    wait_until(lambda: all((tmp_path / f"ready-{n}").exists() for n in ("alice", "bob")), 60)
    go.touch()
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes[1] == "won", outcomes
    loser = outcomes[0]
    assert loser.startswith("refused: KAURI") and (
        "changed by" in loser or "already uninstalled" in loser
    ), loser
    db = open_store(store_path)
    found = snapshots(db, "KAURI")
    assert len(found) == 1
    assert found[0].settings == settings
    assert {(m["kind"], m["local"], m["remote"]) for m in found[0].mappings} == mappings
    assert integration(db, "KAURI").version == 2


def test_busy_writer_waits_instead_of_failing(store_path: Path) -> None:
    """A second connection's transition waits for the first writer (busy timeout)."""
    other = sqlite3.connect(store_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    db = open_store(store_path)
    import threading

    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    assert deactivate(db, "HARBOUR").after == "inactive"
