"""Refresh runs: the plan, the claim, performing steps, resuming after a crash, escalating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import NOW
from xero_stub import secrets_of

import store.runs as runs  # noqa: E402
import store.step_actions as step_actions  # noqa: E402
from store.errors import NotFound, RunClaimed, TransitionRefused  # noqa: E402
from store.history import audit_trail, snapshots  # noqa: E402
from store.models import Run  # noqa: E402
from store.packet import packet_markdown  # noqa: E402
from store.runs import (  # noqa: E402
    STEPS,
    StepInput,
    add_note,
    escalate,
    latest_run,
    next_step,
    open_run,
    packet,
    resolve,
    runs_in_progress,
    start_run,
    take_over,
)
from store.transitions import integration  # noqa: E402

KAURI_TENANT = "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def drive(db, code: str, xero, *, actor: str = "alice", limit: int = 12, **kwargs) -> Run:
    """`run next` until the run ends or every step is done (escalation not triggered)."""
    run = open_run(db, code)
    for _ in range(limit):
        if run.status != "in_progress" or run.current is None:
            return run
        run = next_step(db, code, actor=actor, given=StepInput(confirm=code), client=xero, **kwargs)
    pytest.fail(f"the run on {code} did not end in {limit} steps")


def statuses(run: Run) -> list[str]:
    return [s.status for s in run.steps]


# --- the plan --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected", "reasons"),
    [
        ("HARBOUR", ["todo"] * 6, {}),
        ("KELP", ["todo"] * 6, {}),
        (
            "SXBREW",
            ["todo", "skipped", "skipped", "todo", "todo", "todo"],
            {1: "nothing to deactivate", 2: "disconnected"},
        ),
        (
            "COPPER",
            ["todo", "skipped", "skipped", "skipped", "todo", "todo"],
            {1: "already uninstalled", 2: "uninstalled", 3: "already uninstalled"},
        ),
    ],
)
def test_plan_adapts_to_the_state(db, code: str, expected: list[str], reasons: dict) -> None:
    run = start_run(db, code, actor="alice", now=NOW)
    assert [s.name for s in run.steps] == list(STEPS)
    assert statuses(run) == expected
    for step in run.steps:
        if step.position in reasons:
            assert reasons[step.position] in step.outcome
            assert step.ended_at is not None
        else:
            assert step.outcome is None and step.actor is None and step.started_at is None
    assert (run.status, run.started_by, run.claimed_by) == ("in_progress", "alice", "alice")
    assert run.current is not None and run.current.name == "diagnose"
    entry = audit_trail(db, code)[0]
    assert (entry.actor, entry.action) == ("alice", "run_start")
    assert integration(db, code).version == 1  # starting a run changes nothing


def test_a_second_run_on_the_same_organisation_is_refused(db) -> None:
    first = start_run(db, "HARBOUR", actor="alice", now=NOW)
    with pytest.raises(RunClaimed) as caught:
        start_run(db, "HARBOUR", actor="bob", now=NOW)
    message = str(caught.value)
    assert "alice" in message and first.claimed_at in message and "--take-over" in message
    assert runs_in_progress(db) == {"HARBOUR": ("alice", first.claimed_at)}
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    resolve(db, "HARBOUR", actor="alice")
    assert start_run(db, "HARBOUR", actor="bob", now=NOW).id != first.id


def test_another_actor_is_refused_until_taking_over(db, xero, tmp_path: Path) -> None:
    start_run(db, "HARBOUR", actor="alice", now=NOW)
    packets = tmp_path / "packets"
    attempts = {
        "next": lambda: next_step(db, "HARBOUR", actor="bob", client=xero),
        "note": lambda: add_note(db, "HARBOUR", "mine now", actor="bob"),
        "resolve": lambda: resolve(db, "HARBOUR", actor="bob"),
        "escalate": lambda: escalate(db, "HARBOUR", actor="bob", packet_dir=packets),
    }
    for name, attempt in attempts.items():
        with pytest.raises(RunClaimed, match="claimed by alice since .*--take-over"):
            attempt()
        run = open_run(db, "HARBOUR")
        assert statuses(run) == ["todo"] * 6 and run.notes == (), name
    assert not packets.exists()

    run = take_over(db, "HARBOUR", actor="bob")
    assert run.claimed_by == "bob" and run.started_by == "alice"
    [note] = run.notes
    assert (note.actor, note.text) == ("bob", "took the run over from alice")
    entry = audit_trail(db, "HARBOUR")[0]
    assert (entry.actor, entry.action) == ("bob", "run_take_over")
    assert "alice" in entry.detail
    assert runs_in_progress(db)["HARBOUR"][0] == "bob"

    with pytest.raises(RunClaimed, match="claimed by bob"):
        add_note(db, "HARBOUR", "hey", actor="alice")
    run = next_step(db, "HARBOUR", actor="alice", take_over_run=True, client=xero)
    assert run.claimed_by == "alice" and run.steps[0].status == "done"
    assert run.steps[0].actor == "alice"


# --- driving a run ---------------------------------------------------------------------------


def test_wattle_run_resolves_with_every_step_recorded(db, xero) -> None:
    start_run(db, "WATTLE", actor="alice", now=NOW)
    run = drive(db, "WATTLE", xero)

    assert run.status == "resolved" and run.ended_at is not None and run.current is None
    assert statuses(run) == ["done", "done", "skipped", "done", "done", "done"]
    for step in run.steps:
        assert step.actor == "alice" and step.ended_at and step.outcome, step
        if step.status == "done":  # a skipped step may never have started
            assert step.started_at and step.started_at <= step.ended_at, step
    steps = run.steps
    assert steps[0].detail["verdict"]["kind"] == "refresh_token_invalid"
    assert steps[0].detail["verdict"]["refresh_helps"] is True
    assert "could not be switched back on" in steps[1].outcome
    assert "inactive" in steps[2].outcome
    assert steps[3].detail["snapshot_id"] == snapshots(db, "WATTLE")[0].id
    assert "Restored snapshot" in steps[4].outcome
    assert steps[5].detail["clean"] is True and "Clean." in steps[5].outcome
    assert integration(db, "WATTLE").state == "active"
    waiting = db.execute(
        "SELECT count(*) FROM queue WHERE org_id = ? AND status IN ('held', 'failed')",
        [integration(db, "WATTLE").org_id],
    ).fetchone()[0]
    assert waiting == 0
    assert audit_trail(db, "WATTLE")[0].action == "run_resolved"
    with pytest.raises(NotFound):
        open_run(db, "WATTLE")
    assert latest_run(db, "WATTLE").id == run.id


def test_verify_ignores_errors_logged_before_it_started(db, xero, monkeypatch) -> None:
    """Steps run back to back (a script, the TUI wizard) share one wall-clock second: the
    store's clock is frozen, so every row and step is stamped with the same instant."""
    start_run(db, "WATTLE", actor="alice", now=NOW)
    run = drive(db, "WATTLE", xero)
    # Every export went through; the only errors are the diagnose and uninstall steps'
    # invalid_grant rows, logged before the verify began.
    assert run.steps[5].outcome.startswith("Retried 12: 12 exported, 0 failed")
    assert run.status == "resolved"


OVERRIDE = "the customer's accountant asked for a reinstall"


def test_uninstall_step_waits_for_the_typed_confirmation(db, xero) -> None:
    start_run(db, "KAURI", actor="alice", now=NOW, override=OVERRIDE)
    for _ in range(3):  # diagnose, deactivate, verify (not clean: 220 is gone)
        run = next_step(db, "KAURI", actor="alice", client=xero)
    assert run.status == "in_progress" and run.current.name == "uninstall"
    for confirm in (None, "KAUR", "HARBOUR"):
        with pytest.raises(TransitionRefused, match="Confirm with --confirm KAURI"):
            next_step(db, "KAURI", actor="alice", given=StepInput(confirm=confirm), client=xero)
        run = open_run(db, "KAURI")
        assert run.current.name == "uninstall" and run.current.status == "todo"
    assert integration(db, "KAURI").state == "active" and snapshots(db, "KAURI") == []
    run = next_step(db, "KAURI", actor="alice", given=StepInput(confirm="kauri"), client=xero)
    assert run.steps[3].status == "done" and integration(db, "KAURI").state == "uninstalled"


def test_harbour_first_verify_is_clean_and_resolves(db, xero) -> None:
    start_run(db, "HARBOUR", actor="alice", now=NOW)
    run = drive(db, "HARBOUR", xero)
    assert run.status == "resolved"
    # Healthy: the verdict plans no refresh at all, only a verify, and a clean one resolves.
    assert [s.name for s in run.steps] == ["diagnose", "verify"]
    assert statuses(run) == ["done", "done"]
    assert run.steps[1].detail["clean"] is True and run.outcome == "resolved"
    assert integration(db, "HARBOUR").state == "active" and snapshots(db, "HARBOUR") == []


# --- KAURI: a run that cannot fix a mapping ---------------------------------------------------


def kauri_to_escalation(db, xero, tmp_path: Path) -> tuple[Run, set[str]]:
    """Start KAURI's run with notes, drive every step, then `next` escalates. Returns the
    escalated run and every token the store and the sandbox held along the way."""
    seen = set(secrets_of(db))
    start_run(db, "KAURI", actor="alice", now=NOW, override=OVERRIDE)
    add_note(db, "KAURI", "customer renamed Online Sales last week", actor="alice")
    run = open_run(db, "KAURI")
    while run.current.name != "map":
        run = next_step(db, "KAURI", actor="alice", given=StepInput(confirm="KAURI"), client=xero)
        seen |= set(secrets_of(db))
        assert run.status == "in_progress"
    with pytest.raises(TransitionRefused, match="220"):  # the reconnect restored the bad mapping
        next_step(db, "KAURI", actor="alice", client=xero)
    add_note(db, "KAURI", "still failing on 220 <b>after</b> the refresh", actor="alice")
    escalate(db, "KAURI", actor="alice", packet_dir=tmp_path)
    seen |= set(secrets_of(db))
    return latest_run(db, "KAURI"), seen


def test_kauri_diagnose_step_says_refreshing_will_not_help(db, xero) -> None:
    start_run(db, "KAURI", actor="alice", now=NOW)
    run = next_step(db, "KAURI", actor="alice", client=xero)
    step = run.steps[0]
    assert step.status == "done"
    assert "unlikely to help" in step.outcome and "syncdesk map KAURI" in step.outcome
    verdict = step.detail["verdict"]
    assert verdict["kind"] == "account_code_removed" and verdict["refresh_helps"] is False
    assert run.diagnosis["verdict"]["kind"] == "account_code_removed"
    assert {g["kind"] for g in run.errors_before} >= {"account_code_removed"}


def test_kauri_run_escalates_after_the_last_verify(db, xero, tmp_path: Path) -> None:
    run, _ = kauri_to_escalation(db, xero, tmp_path)
    assert run.status == "escalated" and run.ended_at is not None and run.outcome == "escalated"
    assert statuses(run) == ["done"] * 5 + ["skipped"] * 2
    assert run.steps[2].detail["clean"] is False
    assert any(p["remote"] == "220" for p in run.steps[4].detail["problems"])
    assert run.steps[5].name == "map" and "220" in run.steps[5].outcome
    assert run.override_reason == OVERRIDE and run.override_by == "alice"
    md = Path(run.packet)
    assert md.parent == tmp_path and md.exists() and md.with_suffix(".json").exists()
    assert audit_trail(db, "KAURI")[0].action == "run_escalated"
    with pytest.raises(NotFound):
        open_run(db, "KAURI")


def test_notes_are_kept_in_the_run_and_the_packet(db, xero, tmp_path: Path) -> None:
    run, _ = kauri_to_escalation(db, xero, tmp_path)
    texts = [n.text for n in run.notes]
    assert texts == [
        "customer renamed Online Sales last week",
        "still failing on 220 <b>after</b> the refresh",
    ]
    assert [n.actor for n in run.notes] == ["alice", "alice"]
    assert run.notes[0].step_position == 0  # against the step current at the time
    assert run.notes[1].step_position == 5  # the map step, current at the time
    md = Path(run.packet).read_text(encoding="utf-8")
    data = json.loads(Path(run.packet).with_suffix(".json").read_text(encoding="utf-8"))
    for text in texts:
        assert text in md
    assert [n["text"] for n in data["run"]["notes"]] == texts


def test_packet_is_support_ready(db, xero, tmp_path: Path) -> None:
    run, _ = kauri_to_escalation(db, xero, tmp_path)
    data = json.loads(Path(run.packet).with_suffix(".json").read_text(encoding="utf-8"))
    assert set(data) == set(packet(db, "KAURI"))
    assert data["organisation"]["code"] == "KAURI"
    assert data["organisation"]["name"] == "Kauri Outdoor Supply Co"
    assert data["organisation"]["state"] == "active"
    assert data["tenant"]["id"] == KAURI_TENANT
    assert data["tenant"]["name"] == "Kauri Outdoor Supply Co"

    history = [e["action"] for e in data["state_history"]]
    for action in ("run_start", "deactivate", "activate", "uninstall", "reconnect"):
        assert action in history
    assert history.index("run_start") < history.index("uninstall") < history.index("reconnect")
    ids = [e["id"] for e in data["state_history"]]
    assert ids == sorted(ids)  # oldest first

    assert [s["name"] for s in data["run"]["steps"]] == [*STEPS[:-1], "map", "verify"]
    assert all(s["actor"] == "alice" and s["outcome"] for s in data["run"]["steps"]), data["run"][
        "steps"
    ]

    for key in ("errors_before", "errors_after"):
        assert data[key], key
        for group in data[key]:
            assert group["count"] >= 1 and group["first_at"] <= group["last_at"]
    assert "account_code_removed" in {g["kind"] for g in data["errors_before"]}
    assert all(g["first_at"] >= data["run"]["started_at"] for g in data["errors_after"])

    kinds = {g["kind"] for g in data["errors_before"] + data["errors_after"]}
    suggested = {s["kind"]: s for s in data["suggestions"]}
    assert "account_code_removed" in suggested and set(suggested) <= kinds
    assert suggested["account_code_removed"]["fix"]

    md = Path(run.packet).read_text(encoding="utf-8")
    assert md == packet_markdown(data)
    assert md.startswith("# Escalation: KAURI (Kauri Outdoor Supply Co)")
    for heading in (
        "## Steps",
        "## Notes",
        "## Errors in the 24 h before the run",
        "## Errors since the run started",
        "## Knowledge base",
        "## State history",
    ):
        assert heading in md
    assert KAURI_TENANT in md and "account_code_removed" in md
    first_before = data["errors_before"][0]
    assert f"first {first_before['first_at']}, last {first_before['last_at']}" in md


def test_packet_holds_no_secrets(db, xero, tmp_path: Path) -> None:
    run, seen = kauri_to_escalation(db, xero, tmp_path)
    assert len(seen) >= 4  # tokens before, rotated during, and issued by the reconnect
    written = [Path(run.packet), Path(run.packet).with_suffix(".json")]
    for path in written:
        text = path.read_text(encoding="utf-8")
        leaked = [s for s in seen if s in text]
        assert leaked == [], path
        for word in ("test-secret-value", "refresh_token", "access_token", "sbx-rt-", "sbx-at-"):
            assert word not in text, (path, word)


def test_escalate_by_hand_writes_where_asked(db, tmp_path: Path) -> None:
    start_run(db, "BRIGHT", actor="alice", now=NOW)
    out = tmp_path / "tickets" / "bright.md"
    md, js, summary = escalate(db, "BRIGHT", actor="alice", out=out)
    assert (md, js) == (out, tmp_path / "tickets" / "bright.json")
    assert md.exists() and js.exists()
    assert "BRIGHT" in summary and str(out) in summary
    run = latest_run(db, "BRIGHT")
    assert run.status == "escalated" and run.packet == str(out)
    assert all(s.status == "skipped" for s in run.steps)


def test_a_verify_that_may_not_send_is_recorded_as_not_clean(db, xero) -> None:
    """An unconfirmed change of Xero organisation refuses the retry: the verify says so and
    keeps only `clean` (there is no queue or errors to compare)."""
    db.execute(
        "UPDATE integrations SET previous_tenant_id = 'elsewhere' "
        "WHERE org_id = (SELECT id FROM orgs WHERE code = 'HARBOUR')"
    )
    db.conn.commit()
    start_run(db, "HARBOUR", actor="alice", now=NOW)
    for _ in range(3):  # diagnose, deactivate, verify
        run = next_step(db, "HARBOUR", actor="alice", client=xero)
    verify = run.steps[2]
    assert verify.status == "done" and verify.outcome.startswith("Not retried:")
    assert verify.detail == {"clean": False} and run.status == "in_progress"


# --- resuming --------------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(len(STEPS)), ids=[f"{i}-{n}" for i, n in enumerate(STEPS)])
def test_run_resumes_after_a_crash_at_each_step(db, xero, monkeypatch, k: int) -> None:
    """The session dies after step k did its work but before the step was recorded."""
    real_mark = runs._mark
    crashed: list[str] = []

    def mark(db, run, step, status, actor, outcome=None, detail=None):
        if step.position == k and status in ("done", "skipped") and not crashed:
            crashed.append(status)
            raise KeyboardInterrupt  # the SSH session drops
        return real_mark(db, run, step, status, actor, outcome, detail)

    monkeypatch.setattr(runs, "_mark", mark)
    start_run(db, "WATTLE", actor="alice", now=NOW)
    with pytest.raises(KeyboardInterrupt):
        drive(db, "WATTLE", xero)
    assert crashed

    interrupted = open_run(db, "WATTLE")
    # "doing" when the step itself was under way; "todo" when it was being skipped as
    # pointless right after the step before it.
    assert interrupted.current.position == k
    assert interrupted.current.status in ("doing", "todo")
    assert interrupted.to_json()["current"] == k
    assert all(s.status in ("done", "skipped") for s in interrupted.steps[:k])

    run = drive(db, "WATTLE", xero)

    assert run.status == "resolved"
    assert statuses(run)[k] in ("done", "skipped")
    assert all(s.status in ("done", "skipped") for s in run.steps)
    assert len(snapshots(db, "WATTLE")) == 1  # the uninstall happened exactly once
    trail = [e.action for e in audit_trail(db, "WATTLE")]
    assert trail.count("deactivate") == 1
    assert trail.count("uninstall") == 1
    assert trail.count("reconnect") == 1
    assert trail.count("run_resolved") == 1
    assert integration(db, "WATTLE").state == "active"
    assert db.execute("SELECT count(*) FROM run_steps WHERE run_id = ?", [run.id]).fetchone()[
        0
    ] == len(STEPS)


def test_a_step_left_doing_is_current(db, xero, monkeypatch) -> None:
    start_run(db, "KAURI", actor="alice", now=NOW, override=OVERRIDE)
    next_step(db, "KAURI", actor="alice", client=xero)  # diagnose done

    def dropped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(step_actions, "_toggle", dropped)
    with pytest.raises(KeyboardInterrupt):
        next_step(db, "KAURI", actor="alice", client=xero)
    run = latest_run(db, "KAURI")
    assert run.status == "in_progress"
    assert run.current.position == 1 and run.current.name == "deactivate"
    assert run.current.status == "doing" and run.current.started_at is not None
    assert run.current.actor == "alice" and run.current.ended_at is None
    assert run.to_json()["current"] == 1


@pytest.mark.parametrize("steps_before", [0, 1, 2])
def test_a_confirmation_naming_another_customer_is_refused_at_any_step(
    db, xero, steps_before: int
) -> None:
    """`run next SXBREW --confirm WATTLE`: the person thinks they are on another customer."""
    start_run(db, "SXBREW", actor="alice", now=NOW)
    for _ in range(steps_before):
        next_step(db, "SXBREW", actor="alice", given=StepInput(confirm="SXBREW"), client=xero)
    before = open_run(db, "SXBREW")
    state = integration(db, "SXBREW").state
    with pytest.raises(TransitionRefused, match="'WATTLE' does not name SXBREW"):
        next_step(db, "SXBREW", actor="alice", given=StepInput(confirm="WATTLE"), client=xero)
    after = open_run(db, "SXBREW")
    assert [(s.status, s.outcome) for s in after.steps] == [
        (s.status, s.outcome) for s in before.steps
    ]
    assert integration(db, "SXBREW").state == state
