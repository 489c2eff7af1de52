"""Refresh runs: the recommended sequence as stored, resumable steps.

    diagnose -> deactivate -> verify -> uninstall -> reconnect -> verify -> resolved | escalated

The plan adapts to the state found at the start (a disconnected integration has nothing to
deactivate; an uninstalled one starts at reconnect): pointless steps are stored as skipped with
the reason. `next_step` performs the first step not yet done; a step left half-done by a
dropped session ("doing") is simply performed again, since every step checks the state first.
A verify retries held and failed exports and compares the errors afterwards; a clean verify
resolves the run at once. A run in progress is a claim on the organisation: someone else must
take it over explicitly. What each step does is in store/step_actions.py; the escalation
packet is built and written by store/packet.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from store import clock
from store.db import now_iso, transaction
from store.enums import RunStatus, State, StepName, StepStatus
from store.errors import NotFound, RunClaimed, SyncdeskError, TransitionRefused
from store.history import record_audit
from store.logs import error_groups
from store.models import Note, Run, Step, StepInput, to_json
from store.orgs import org_id
from store.packet import build_packet, packet_path, packet_summary, write_packet
from store.progress import Cancelled, Progress
from store.step_actions import StepDetail, VerifyDetail, perform
from store.timeparse import iso
from store.transitions import default_actor, integration

STEPS = (
    StepName.DIAGNOSE,
    StepName.DEACTIVATE,
    StepName.VERIFY,
    StepName.UNINSTALL,
    StepName.RECONNECT,
    StepName.VERIFY,
)
WHAT = {
    StepName.DIAGNOSE: "Look before touching: state, live check, error groups and the verdict.",
    StepName.DEACTIVATE: "Switch the integration off and on again: exports are held meanwhile and "
    "nothing is removed; switching on re-checks the connection with Xero.",
    StepName.VERIFY: "Retry the held and failed exports and compare the errors before and after.",
    StepName.UNINSTALL: "Remove settings, mappings and tokens, after snapshotting them, and revoke "
    "the Xero connection. Needs the organisation code typed to confirm.",
    StepName.RECONNECT: "Authorise against Xero, choose the organisation (a different one than "
    "before needs explicit confirmation), restore the snapshot and validate every mapping.",
}


# --- reading ---------------------------------------------------------------------------------


def _load(db: sqlite_utils.Database, row: Any, code: str) -> Run:
    steps = tuple(
        Step(
            r["position"],
            StepName(r["name"]),
            StepStatus(r["status"]),
            r["actor"],
            r["started_at"],
            r["ended_at"],
            r["outcome"],
            json.loads(r["detail"] or "null"),
        )
        for r in db.execute(
            "SELECT * FROM run_steps WHERE run_id = ? ORDER BY position", [row["id"]]
        )
    )
    notes = tuple(
        Note(r["at"], r["actor"], r["step_position"], r["text"])
        for r in db.execute("SELECT * FROM run_notes WHERE run_id = ? ORDER BY id", [row["id"]])
    )
    return Run(
        row["id"],
        code,
        RunStatus(row["status"]),
        row["started_at"],
        row["started_by"],
        row["claimed_by"],
        row["claimed_at"],
        row["ended_at"],
        steps,
        notes,
        tuple(json.loads(row["errors_before"])),
        json.loads(row["diagnosis"] or "null"),
        row["packet"],
    )


def latest_run(db: sqlite_utils.Database, org: str) -> Run | None:
    """The organisation's run in progress, else its most recent one, else None.

    Raises UnknownOrganisation.
    """
    oid = org_id(db, org)
    row = db.execute(
        "SELECT * FROM runs WHERE org_id = ? ORDER BY status = 'in_progress' DESC, id DESC LIMIT 1",
        [oid],
    ).fetchone()
    return _load(db, row, integration(db, org).code) if row else None


def open_run(db: sqlite_utils.Database, org: str) -> Run:
    """The run in progress on this organisation.

    Raises UnknownOrganisation, NotFound.
    """
    run = latest_run(db, org)
    if run is None or run.status != RunStatus.IN_PROGRESS:
        raise NotFound(
            f"No refresh run in progress on {org.upper()}; start one with "
            f"`syncdesk run start {org.upper()}`."
        )
    return run


def runs_in_progress(db: sqlite_utils.Database) -> dict[str, tuple[str, str]]:
    """Organisation code -> (claimed by, since) for every run in progress."""
    return {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT o.code, r.claimed_by, r.claimed_at FROM runs r JOIN orgs o ON o.id = r.org_id "
            "WHERE r.status = 'in_progress'"
        )
    }


# --- starting, claiming, notes ---------------------------------------------------------------


def _plan(state: State) -> list[tuple[StepName, StepStatus, str | None]]:
    """(name, status, why skipped) for each step, given the state at the start."""
    skip: dict[int, str] = {}
    if state == State.DISCONNECTED:
        skip = {
            1: "nothing to deactivate: Xero removed the app",
            2: "nothing can be exported while disconnected",
        }
    elif state == State.UNINSTALLED:
        skip = {
            1: "already uninstalled",
            2: "nothing can be exported while uninstalled",
            3: "already uninstalled",
        }
    return [
        (name, StepStatus.SKIPPED if i in skip else StepStatus.TODO, skip.get(i))
        for i, name in enumerate(STEPS)
    ]


def start_run(
    db: sqlite_utils.Database, org: str, *, actor: str | None = None, now: datetime | None = None
) -> Run:
    """Start the refresh sequence on an organisation, claiming it.

    Raises UnknownOrganisation, RunClaimed (a run is already in progress).
    """
    actor = actor or default_actor()
    current = integration(db, org)
    moment = now or clock.now()
    before = to_json(error_groups(db, org=current.code, since=iso(moment - timedelta(hours=24))))
    at = now_iso()
    with transaction(db) as conn:
        row = conn.execute(
            "SELECT claimed_by, claimed_at FROM runs WHERE org_id = ? AND status = 'in_progress'",
            [current.org_id],
        ).fetchone()
        if row:
            raise RunClaimed(
                f"A refresh run on {current.code} is already in progress, claimed by "
                f"{row[0]} since {row[1]}; see it with `syncdesk run show {current.code}` or "
                "take it over with --take-over."
            )
        run_id = conn.execute(
            "INSERT INTO runs(org_id, status, started_at, started_by, claimed_by, claimed_at, "
            "errors_before) VALUES (?, 'in_progress', ?, ?, ?, ?, ?)",
            [current.org_id, at, actor, actor, at, json.dumps(before)],
        ).lastrowid
        for position, (name, status, why) in enumerate(_plan(current.state)):
            conn.execute(
                "INSERT INTO run_steps(run_id, position, name, status, outcome, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, name, status, why, at if why else None],
            )
        record_audit(conn, current.org_id, actor, "run_start", f"run {run_id} from {current.state}")
    return open_run(db, current.code)


def _claimed(run: Run, actor: str, take_over: bool) -> None:
    if run.claimed_by != actor and not take_over:
        raise RunClaimed(
            f"The run on {run.code} is claimed by {run.claimed_by} since {run.claimed_at}; "
            "pass --take-over to take it over."
        )


def take_over(db: sqlite_utils.Database, org: str, *, actor: str | None = None) -> Run:
    """Claim someone else's run in progress (recorded in the run and the audit trail).

    Raises UnknownOrganisation, NotFound.
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    if run.claimed_by == actor:
        return run
    with transaction(db) as conn:
        at = now_iso()
        conn.execute(
            "UPDATE runs SET claimed_by = ?, claimed_at = ? WHERE id = ?", [actor, at, run.id]
        )
        conn.execute(
            "INSERT INTO run_notes(run_id, at, actor, text) VALUES (?, ?, ?, ?)",
            [run.id, at, actor, f"took the run over from {run.claimed_by}"],
        )
        record_audit(
            conn, org_id(db, org), actor, "run_take_over", f"run {run.id} from {run.claimed_by}"
        )
    return open_run(db, org)


def add_note(
    db: sqlite_utils.Database,
    org: str,
    text: str,
    *,
    actor: str | None = None,
    take_over_run: bool = False,
) -> Run:
    """Add a note to the run in progress, against its current step.

    Raises UnknownOrganisation, NotFound, RunClaimed, TransitionRefused (empty note).
    """
    actor = actor or default_actor()
    if not text.strip():
        raise TransitionRefused("A note needs some text.")
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    if take_over_run:
        run = take_over(db, org, actor=actor)
    position = run.current.position if run.current else None
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO run_notes(run_id, step_position, at, actor, text) VALUES (?, ?, ?, ?, ?)",
            [run.id, position, now_iso(), actor, text],
        )
    return open_run(db, org)


# --- performing steps ------------------------------------------------------------------------


def _mark(
    db: sqlite_utils.Database,
    run: Run,
    step: Step,
    status: StepStatus,
    actor: str,
    outcome: str | None = None,
    detail: StepDetail | None = None,
) -> None:
    with transaction(db) as conn:
        at = now_iso()
        if status in (StepStatus.DOING, StepStatus.TODO):
            conn.execute(
                "UPDATE run_steps SET status = ?, actor = ?, started_at = ? "
                "WHERE run_id = ? AND position = ?",
                [status, actor, at if status == StepStatus.DOING else None, run.id, step.position],
            )
        else:
            conn.execute(
                "UPDATE run_steps SET status = ?, actor = ?, ended_at = ?, outcome = ?, "
                "detail = ? WHERE run_id = ? AND position = ?",
                [
                    status,
                    actor,
                    at,
                    outcome,
                    json.dumps(to_json(detail)) if detail else None,
                    run.id,
                    step.position,
                ],
            )


def _finish(
    db: sqlite_utils.Database,
    run: Run,
    status: RunStatus,
    actor: str,
    why: str,
    packet: str | None = None,
) -> None:
    with transaction(db) as conn:
        at = now_iso()
        conn.execute(
            "UPDATE run_steps SET status = 'skipped', outcome = ?, ended_at = ? "
            "WHERE run_id = ? AND status IN ('todo', 'failed')",
            [why, at, run.id],
        )
        conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, packet = ? WHERE id = ?",
            [status, at, packet, run.id],
        )
        record_audit(conn, org_id(db, run.code), actor, f"run_{status}", f"run {run.id}: {why}")


def _confirmation_names(run: Run, confirm: str | None) -> None:
    """A confirmation that names another organisation means the person believes they are
    acting on another customer: refuse, whatever the step, before anything happens."""
    if confirm is not None and confirm.strip().upper() != run.code.upper():
        raise TransitionRefused(
            f"The confirmation {confirm.strip()!r} does not name {run.code}, whose run this is, "
            f"so nothing was done: check which customer you are working on. Confirm with "
            f"--confirm {run.code}."
        )


def next_step(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    given: StepInput | None = None,
    take_over_run: bool = False,
    client: Any = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    packet_dir: Path | None = None,
) -> Run:
    """Perform the next step of the run in progress and record who, when and what happened.

    When every step is done and errors remain, the next step is escalation.

    Raises UnknownOrganisation, NotFound, RunClaimed, TransitionRefused (a step that needs
    input, e.g. the uninstall confirmation or a tenant choice; or a `given.confirm` that names
    another organisation, whatever the step), XeroError.
    """
    actor = actor or default_actor()
    given = given or StepInput()
    run = open_run(db, org)
    _confirmation_names(run, given.confirm)
    _claimed(run, actor, take_over_run)
    if take_over_run:
        run = take_over(db, org, actor=actor)
    step = run.current
    if step is None:
        escalate(db, org, actor=actor, out=None, packet_dir=packet_dir)
        return latest_run(db, org)
    _mark(db, run, step, StepStatus.DOING, actor)
    try:
        done = perform(db, run, step, actor, given, client, progress, cancelled)
    except TransitionRefused:
        _mark(db, run, step, StepStatus.TODO, actor)  # it needs input (a confirmation, a tenant)
        raise
    except SyncdeskError as exc:
        _mark(db, run, step, StepStatus.FAILED, actor, f"failed: {exc}")
        raise
    _mark(db, run, step, done.status, actor, done.outcome, done.detail)
    if isinstance(done.detail, VerifyDetail) and done.detail.clean:
        _finish(db, run, RunStatus.RESOLVED, actor, "not needed: a verify was clean")
    else:
        _skip_pointless(db, org, actor)
    return latest_run(db, org)


# What a state makes pointless, and why: checked after each step, so the next step acts.
_POINTLESS = {
    (StepName.VERIFY, State.INACTIVE): "nothing can be exported while inactive",
    (StepName.VERIFY, State.DISCONNECTED): "nothing can be exported while disconnected",
    (StepName.VERIFY, State.UNINSTALLED): "nothing can be exported while uninstalled",
    (StepName.DEACTIVATE, State.DISCONNECTED): "nothing to deactivate: Xero removed the app",
    (StepName.DEACTIVATE, State.UNINSTALLED): "nothing to deactivate: already uninstalled",
    (StepName.UNINSTALL, State.UNINSTALLED): "already uninstalled",
    (StepName.RECONNECT, State.ACTIVE): "already active",
}


def _skip_pointless(db: sqlite_utils.Database, org: str, actor: str) -> None:
    """Skip the steps the state now makes pointless, so the next step is one that acts."""
    while True:
        run = open_run(db, org)
        step = run.current
        state = integration(db, org).state
        why = _POINTLESS.get((step.name, state)) if step else None
        if why is None:
            return
        _mark(db, run, step, StepStatus.SKIPPED, actor, why)


# --- ending ----------------------------------------------------------------------------------


def resolve(
    db: sqlite_utils.Database, org: str, *, actor: str | None = None, take_over_run: bool = False
) -> Run:
    """Mark the run resolved (the problem is fixed); remaining steps are skipped.

    Raises UnknownOrganisation, NotFound, RunClaimed.
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    _finish(db, run, RunStatus.RESOLVED, actor, f"resolved by {actor}")
    return latest_run(db, org)


def packet(db: sqlite_utils.Database, org: str) -> dict[str, Any]:
    """The support packet for the organisation's latest run, as the JSON data the packet file
    holds (no secrets).

    Raises UnknownOrganisation, NotFound.
    """
    run = latest_run(db, org)
    if run is None:
        raise NotFound(f"{org.upper()} has no refresh run to escalate; start one first.")
    return to_json(build_packet(db, run))


def escalate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    out: Path | None = None,
    packet_dir: Path | None = None,
    take_over_run: bool = False,
    force: bool = False,
) -> tuple[Path, Path, str]:
    """Write the support packet (Markdown and JSON) and close the run as escalated.

    `out` is written as given (Markdown) with the JSON beside it; an existing file is only
    replaced with `force`.

    Returns (markdown path, json path, a one-paragraph summary to paste).

    Raises UnknownOrganisation, NotFound, RunClaimed, SyncdeskError (cannot write).
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    built = build_packet(db, run)
    md_path = packet_path(run, out, packet_dir)
    json_path = write_packet(built, md_path, force=force)
    _finish(db, run, RunStatus.ESCALATED, actor, f"escalated by {actor}", str(md_path))
    return md_path, json_path, packet_summary(built, actor, md_path)
