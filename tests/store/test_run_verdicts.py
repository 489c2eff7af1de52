"""Runs planned from the verdict, on organisations built inside the test: every outcome
(resolved, waiting, escalated), the override, a mapping fixed before any uninstall, and no
uninstall while Xero cannot answer."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from builders import build_org
from support import NOW

from store import clock as store_clock
from store.db import transaction
from store.errors import TransitionRefused, XeroWaiting
from store.history import audit_trail, snapshots
from store.mapping_edits import set_mapping
from store.models import StepInput
from store.runs import escalate, latest_run, next_step, open_run, override_verdict, start_run
from store.timeparse import iso
from store.transitions import deactivate, integration

MAPPING_ERROR = (
    "Sales Invoice SI-00000911 failed: Account code '299' has been removed as it does not "
    "match a recognised account."
)


def names(run) -> list[str]:
    return [s.name for s in run.steps]


def test_healthy_run_is_one_verify_and_resolves(db, xero_later, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZFINE", queue={"pending": 2})
    start_run(db, "ZFINE", actor="alice")
    run = next_step(db, "ZFINE", actor="alice", client=xero_later())
    assert names(run) == ["diagnose", "verify"]
    assert "refresh sequence is not offered" in run.steps[0].outcome
    run = next_step(db, "ZFINE", actor="alice", client=xero_later())
    assert (run.status, run.outcome) == ("resolved", "resolved")
    assert run.to_json()["outcome"] == "resolved"


def test_rate_limited_run_waits_then_goes_on(db, xero_later, clock, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZBUSY",
        tenant={"rate_limit": {"problem": "minute", "retry_after": 50}},
        queue={"pending": 3},
    )
    start_run(db, "ZBUSY", actor="alice")
    run = next_step(db, "ZBUSY", actor="alice", client=xero_later())
    # No deactivate, no uninstall: waiting is what helps.
    assert names(run) == ["diagnose", "wait", "verify"]
    assert run.outcome == "waiting" and run.wait_until == iso(NOW + timedelta(seconds=50))
    assert run.wait_until in run.next_action
    with pytest.raises(XeroWaiting) as refused:
        next_step(db, "ZBUSY", actor="alice", client=xero_later())
    assert refused.value.until == run.wait_until
    run = open_run(db, "ZBUSY")
    assert run.current.name == "wait" and run.current.status == "todo"
    assert run.outcome == "waiting" and "nothing was done" in run.current.outcome
    store_clock.advance(51)  # the limit's window is over; the sandbox serves calls again
    run = next_step(db, "ZBUSY", actor="alice", client=xero_later())
    assert run.steps[1].status == "done" and run.outcome is None and run.wait_until is None
    run = next_step(db, "ZBUSY", actor="alice", client=xero_later())
    assert run.steps[2].name == "verify" and run.steps[2].status == "done"
    assert integration(db, "ZBUSY").state == "active" and snapshots(db, "ZBUSY") == []


def test_mapping_fixed_before_any_uninstall(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZMAP",
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 2},
        errors=((10, MAPPING_ERROR),),
    )
    start_run(db, "ZMAP", actor="alice")
    run = next_step(db, "ZMAP", actor="alice", client=xero_later())
    assert names(run) == ["diagnose", "map", "verify"]
    with pytest.raises(TransitionRefused, match=r"valid codes: 200, 210") as refused:
        next_step(db, "ZMAP", actor="alice", client=xero_later())
    assert "syncdesk map ZMAP" in str(refused.value)
    assert "still fail" in open_run(db, "ZMAP").next_action
    set_mapping(db, "ZMAP", "sales_account", "group:Web", "200", actor="alice", client=xero_later())
    run = next_step(db, "ZMAP", actor="alice", client=xero_later())
    assert run.steps[1].status == "done" and "exists in Xero" in run.steps[1].outcome
    assert snapshots(db, "ZMAP") == [] and integration(db, "ZMAP").state == "active"


def test_map_step_says_why_a_choice_is_empty(db, xero_later, tmp_path: Path) -> None:
    archived = [{"code": c, "status": "ARCHIVED"} for c in ("200", "210", "220", "260")]
    build_org(
        db,
        tmp_path,
        "ZNONE",
        tenant={"accounts": archived},  # every revenue account archived
        mappings=[{"kind": "sales_account", "local": "default", "remote": "200"}],
        queue={"failed": 1},
    )
    start_run(db, "ZNONE", actor="alice")
    next_step(db, "ZNONE", actor="alice", client=xero_later())
    with pytest.raises(TransitionRefused, match="create or unarchive one in Xero"):
        next_step(db, "ZNONE", actor="alice", client=xero_later())


def test_paused_run_turns_it_back_on(db, xero_later, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZHELD", queue={"pending": 3})
    deactivate(db, "ZHELD", actor="mia", reason="bulk edit")
    start_run(db, "ZHELD", actor="alice")
    run = next_step(db, "ZHELD", actor="alice", client=xero_later())
    assert names(run) == ["diagnose", "activate", "verify"]
    run = next_step(db, "ZHELD", actor="alice", client=xero_later())
    assert run.steps[1].status == "done" and "held exports are pending" in run.steps[1].outcome
    assert integration(db, "ZHELD").state == "active"
    run = next_step(db, "ZHELD", actor="alice", client=xero_later())
    assert run.outcome == "resolved"


def test_override_needs_a_reason_and_is_recorded(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZOVER",
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 2},
    )
    start_run(db, "ZOVER", actor="alice")
    run = next_step(db, "ZOVER", actor="alice", client=xero_later())
    assert "uninstall" not in names(run)
    with pytest.raises(TransitionRefused, match="Say why"):
        override_verdict(db, "ZOVER", "  ", actor="alice")
    run = override_verdict(db, "ZOVER", "accountant insists on a reinstall", actor="alice")
    assert names(run)[1:5] == ["deactivate", "verify", "uninstall", "reconnect"]
    assert names(run)[-2:] == ["map", "verify"]
    assert run.override_reason == "accountant insists on a reinstall"
    assert run.override_by == "alice"
    assert any("accountant insists" in n.text for n in run.notes)
    assert audit_trail(db, "ZOVER")[0].action == "run_override"
    with pytest.raises(TransitionRefused, match="already holds the refresh sequence"):
        override_verdict(db, "ZOVER", "once more", actor="alice")
    assert open_run(db, "ZOVER").override_reason == "accountant insists on a reinstall"
    with pytest.raises(TransitionRefused, match="Say why"):
        start_run(db, "HARBOUR", actor="alice", override="")


def test_no_uninstall_while_the_tenant_is_offline(db, xero_later, tmp_path: Path) -> None:
    build_org(  # connected to another organisation than before: the verdict is a refresh
        db,
        tmp_path,
        "ZGONE",
        xero={"previous_tenant": "zgone-books", "other_tenants": ["zgone-books"]},
        more_tenants=({"key": "zgone-books"},),
        queue={"failed": 2},
    )
    start_run(db, "ZGONE", actor="alice")
    run = next_step(db, "ZGONE", actor="alice", client=xero_later())
    assert "uninstall" in names(run)
    with pytest.raises(TransitionRefused, match="nothing to override"):  # planned already
        override_verdict(db, "ZGONE", "to be sure", actor="alice")
    while run.current.name != "uninstall":
        run = next_step(db, "ZGONE", actor="alice", client=xero_later())
    tenant = integration(db, "ZGONE").tenant_id
    with transaction(db) as conn:  # Xero takes the tenant offline before the uninstall
        conn.execute(
            "UPDATE sandbox_tenants SET behaviour = ? WHERE tenant_id = ?",
            [json.dumps({"outage": {"status": 503}}), tenant],
        )
    with pytest.raises(XeroWaiting, match="Try again after"):
        next_step(db, "ZGONE", actor="alice", given=StepInput(confirm="ZGONE"), client=xero_later())
    assert integration(db, "ZGONE").state != "uninstalled" and snapshots(db, "ZGONE") == []
    run = open_run(db, "ZGONE")
    assert run.outcome == "waiting" and run.current.name == "uninstall"
    assert "Wait until" in run.next_action


def test_escalated_run_has_the_outcome_and_a_full_packet(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZESC",
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 2},
        errors=((10, MAPPING_ERROR),),
    )
    start_run(db, "ZESC", actor="alice")
    next_step(db, "ZESC", actor="alice", client=xero_later())
    md, js, _ = escalate(db, "ZESC", actor="bob", take_over_run=True, out=tmp_path / "p.md")
    run = latest_run(db, "ZESC")
    assert run.outcome == "escalated" and "p.md" in run.next_action
    data = json.loads(js.read_text())
    assert data["verdict"]["kind"] == "account_code_removed"
    assert any(f["check"] == "mapping" and not f["ok"] for f in data["findings"])
    assert {"kind": "sales_account", "local": "group:Web", "remote": "299"} in (
        data["mappings_before"]
    )
    assert data["mappings_after"] == data["mappings_before"]
    steps = data["run"]["steps"]
    assert [s["status"] for s in steps] == ["done", "skipped", "skipped"]
    assert all(s["actor"] and s["ended_at"] and s["outcome"] for s in steps)
    assert data["error_groups"][0]["kind"] == "account_code_removed"
    assert data["error_groups"][0]["decides"] is True
    text = md.read_text()
    for heading in ("## Verdict", "## Live check", "## Mappings", "## Error groups"):
        assert heading in text
