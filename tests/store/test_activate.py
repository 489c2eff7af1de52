"""activate switches an integration on only when Xero answered the live check (over real HTTP,
the loopback stub): any failure to reach or understand Xero refuses with the reason and keeps
the held exports held; --without-check REASON overrides, and the reason is audited."""

from __future__ import annotations

from typing import Any

import pytest
from support import one_line, run_cli
from xero_stub import FAILURES as STUB_FAILURES
from xero_stub import XeroStub

from store.checks import activate
from store.errors import TransitionRefused
from store.history import audit_trail
from store.transitions import integration
from store.xero.config import client_from_env

KELP_TENANT = "7f4c9b6d-c08e-4d3f-abc7-6b0e4d2f8a95"
CONNECTIONS = ("GET", "/api/connections")
ORGANISATION = ("GET", "/api/api.xro/2.0/Organisation")

FAILURES = {
    **STUB_FAILURES,
    "503": (503, {}, b"Service Unavailable"),
    "wrong shape": (200, {}, b'{"connections": "none"}'),
}


@pytest.fixture
def kelp(stub_env: XeroStub, db: Any, clock: Any) -> Any:
    """A client on the stub, which has KELP's tenant connected."""
    stub_env.tenants = {KELP_TENANT: "Pacific Kelp Nutrition Ltd"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic, timeout=0.3, retries=0)
    yield client
    client.close()


def held(db: Any) -> int:
    oid = integration(db, "KELP").org_id
    return db.execute(
        "SELECT count(*) FROM queue WHERE org_id = ? AND status = 'held'", [oid]
    ).fetchone()[0]


CASES = [("connections", CONNECTIONS, failure) for failure in FAILURES] + [
    ("tenant", ORGANISATION, failure) for failure in FAILURES if failure != "wrong shape"
]


@pytest.mark.parametrize(
    ("where", "route", "failure"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_refused_unless_xero_answered(db, kelp, stub_env, where, route, failure) -> None:
    stub_env.answer(*route, FAILURES[failure])
    waiting = held(db)
    refused = "stays inactive and its held exports stay held|no longer has the connection"
    with pytest.raises(TransitionRefused, match=refused):
        activate(db, "KELP", actor="alice", client=kelp)
    row = integration(db, "KELP")
    # 403 on the tenant while /connections lists it: access refused, not a disconnection
    assert row.state == "inactive"
    assert held(db) == waiting
    assert all(e.action != "activate" for e in audit_trail(db, "KELP"))


def test_activates_when_xero_answered(db, kelp) -> None:
    waiting = held(db)
    result = activate(db, "KELP", actor="alice", client=kelp)
    assert result.after == "active" and held(db) == 0 and waiting > 0


def test_without_check_records_why(db, kelp, stub_env) -> None:
    stub_env.answer(*CONNECTIONS, FAILURES["503"])
    result = activate(
        db, "KELP", actor="alice", client=kelp, without_check="Xero status page: API outage"
    )
    assert result.after == "active" and held(db) == 0
    assert not [seen for seen in stub_env.seen if seen[1] == "/api/connections"]
    entry = audit_trail(db, "KELP")[0]
    assert entry.action == "activate" and entry.actor == "alice"
    assert "live check skipped: Xero status page: API outage" in entry.detail
    with pytest.raises(TransitionRefused, match="already active"):
        activate(db, "KELP", without_check="again")


def test_without_check_needs_a_reason(db) -> None:
    with pytest.raises(TransitionRefused, match="Say why"):
        activate(db, "KELP", without_check="  ")
    assert integration(db, "KELP").state == "inactive"


def test_cli_refuses_then_records_the_override(capsys, store_path, stub_env, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    stub_env.tenants = {KELP_TENANT: "Pacific Kelp Nutrition Ltd"}
    stub_env.answer(*CONNECTIONS, FAILURES["500"])
    db = ("--db", str(store_path))
    code, out, err = run_cli(capsys, *db, "activate", "KELP", "--actor", "alice")
    line = one_line(err)
    assert code == 1 and out == "" and "stays inactive" in line and "--without-check" in line
    code, out, err = run_cli(
        capsys, *db, "activate", "KELP", "--actor", "alice", "--without-check", "outage INC-42"
    )
    assert code == 0 and "inactive -> active" in out
    code, out, _ = run_cli(capsys, *db, "audit", "KELP", "--json")
    assert "live check skipped: outage INC-42" in out
