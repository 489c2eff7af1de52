"""An uninstall in a safe order: the store records the snapshot, the new state and the intent to
revoke before anything is sent to Xero; killed at any point, the next run finishes the job.

Xero here is the loopback stub (tests/xero_stub.py); the kill is a real SIGKILL of a `syncdesk`
process while Xero is answering its revoke.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import wait_until

from store.db import open_store
from store.history import audit_trail, snapshots
from store.orgs import org_id
from store.reconnect import reconnect_options
from store.transitions import integration, revoke_pending, settle_revoke, uninstall
from store.xero.config import client_from_env

TENANT = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"  # HARBOUR's tenant in the demo store


def _creds(db, code: str) -> int:
    return db.execute(
        "SELECT count(*) FROM credentials WHERE org_id = ?", [org_id(db, code)]
    ).fetchone()[0]


def _deletes(stub) -> list[str]:
    return [p for m, p, _ in stub.seen if m == "DELETE"]


@pytest.fixture
def harbour_on_stub(stub_env, db, clock):
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    yield client
    client.close()


def test_revoke_follows_the_committed_uninstall(stub_env, db, harbour_on_stub) -> None:
    result = uninstall(db, "HARBOUR", confirm="HARBOUR", actor="alice", client=harbour_on_stub)
    assert "revoked in Xero" in " ".join(result.messages)
    assert len(_deletes(stub_env)) == 1
    assert integration(db, "HARBOUR").state == "uninstalled"
    assert not revoke_pending(db, "HARBOUR") and _creds(db, "HARBOUR") == 0


def test_xero_down_keeps_the_revoke_recorded_and_the_next_attempt_sends_it(
    stub_env, db, harbour_on_stub
) -> None:
    down = (503, {"Content-Type": "text/plain"}, b"Service Unavailable")
    stub_env.answer("GET", "/api/connections", down)
    result = uninstall(db, "HARBOUR", confirm="HARBOUR", actor="alice", client=harbour_on_stub)
    said = " ".join(result.messages)
    assert "could not be revoked yet" in said and "stays recorded" in said
    # The store never says active without a connection: it is uninstalled, snapshotted, audited.
    assert integration(db, "HARBOUR").state == "uninstalled"
    assert len(snapshots(db, "HARBOUR")) == 1
    assert audit_trail(db, "HARBOUR")[0].action == "uninstall"
    assert revoke_pending(db, "HARBOUR") and _creds(db, "HARBOUR") == 1  # kept for the revoke
    # A reconnect will not authorise over the old connection while Xero cannot take the revoke.
    with pytest.raises(Exception, match="old Xero connection is revoked"):
        reconnect_options(db, "HARBOUR", client=harbour_on_stub)
    stub_env.script.clear()  # Xero is back
    assert settle_revoke(db, "HARBOUR", client=harbour_on_stub) == (
        "The connection was revoked in Xero."
    )
    assert not revoke_pending(db, "HARBOUR") and _creds(db, "HARBOUR") == 0
    assert settle_revoke(db, "HARBOUR", client=harbour_on_stub) is None


def test_a_grant_that_cannot_act_drops_the_record_and_says_to_remove_the_app(
    stub_env, db, harbour_on_stub, clock
) -> None:
    clock.sleep(2 * 3600)  # the access token has expired: the revoke must refresh first
    stub_env.answer(
        "POST",
        "/identity/connect/token",
        (400, {}, b'{"error": "invalid_grant"}'),
    )
    result = uninstall(db, "HARBOUR", confirm="HARBOUR", actor="alice", client=harbour_on_stub)
    assert "Settings > Connected apps" in " ".join(result.messages)
    assert not revoke_pending(db, "HARBOUR") and _creds(db, "HARBOUR") == 0


def test_resent_after_xero_already_removed_it(stub_env, db, harbour_on_stub) -> None:
    """Killed after Xero removed the connection but before the store heard: the resend finds
    nothing left and the record goes."""
    stub_env.answer("GET", "/api/connections", (503, {}, b"down"))
    uninstall(db, "HARBOUR", confirm="HARBOUR", actor="alice", client=harbour_on_stub)
    stub_env.script.clear()
    stub_env.tenants.clear()  # Xero took the first revoke after all
    assert settle_revoke(db, "HARBOUR", client=harbour_on_stub) == (
        "Xero had no connection left to revoke."
    )
    assert not revoke_pending(db, "HARBOUR")


def test_killed_while_xero_answers_the_revoke(stub_env, store_path: Path, tmp_path) -> None:
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    slow = (204, {}, b"", 30.0)  # Xero takes its time answering the revoke
    db = open_store(store_path)
    client = client_from_env(db)
    token = client.refresh("any").access_token
    connection_id = client.connections(token)[0].id
    client.close()
    db.conn.close()
    stub_env.answer("DELETE", f"/api/connections/{connection_id}", slow)
    env = {**os.environ, "SYNCDESK_DB": str(store_path), "SYNCDESK_XERO_RETRIES": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "uninstall", "HARBOUR", "--confirm", "HARBOUR"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _deletes(stub_env), timeout=60)  # the revoke is in flight
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    db = open_store(store_path)
    assert integration(db, "HARBOUR").state == "uninstalled"
    assert len(snapshots(db, "HARBOUR")) == 1 and revoke_pending(db, "HARBOUR")
    stub_env.script.clear()
    client = client_from_env(db)
    assert settle_revoke(db, "HARBOUR", client=client) == "The connection was revoked in Xero."
    assert not revoke_pending(db, "HARBOUR") and _creds(db, "HARBOUR") == 0
    client.close()
