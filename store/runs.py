"""Refresh runs: the recommended sequence as stored, resumable steps.

    diagnose -> deactivate -> verify -> uninstall -> reconnect -> verify -> resolved | escalated

That is the plan a run starts with, adapted to the state (pointless steps stored as skipped,
with the reason); the diagnose step then plans the rest from its verdict (store/run_plan.py).
A run's `outcome` is resolved, escalated or waiting (until `wait_until`); `next_action` says
what to do next. `next_step` performs the first step not yet done; one left half-done by a
dropped session ("doing") is performed again, since every step checks the state first.
A verify retries held and failed exports and compares the errors afterwards; a clean verify
resolves the run at once. A run in progress is a claim on the organisation: someone else must
take it over explicitly. What each step does is in store/step_actions.py; the escalation
packet is built and written by store/packet.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store import clock
from store.db import now_iso, transaction
from store.enums import RunStatus, State, StepName, StepStatus
from store.errors import NotFound, RunClaimed, SyncdeskError, TransitionRefused, XeroError
from store.history import record_audit
from store.logs import error_groups
from store.models import Run, Step, StepInput, to_json
from store.orgs import configuration, org_id
from store.packet import build_packet, packet_path, packet_summary, write_packet
from store.progress import Cancelled, Progress
from store.run_plan import replan
from store.run_read import as_closed, confirmation_names, latest_run, open_run, refresh_planned
from store.run_read import runs_in_progress as runs_in_progress  # re-exported
from store.step_actions import StepDetail, VerifyDetail, Waiting, perform
from store.timeparse import iso
from store.transitions import default_actor, integration
from store.verdicts import OUTAGE_WAIT, WAITS

if TYPE_CHECKING:
    import sqlite_utils

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
    StepName.WAIT: "Xero or the tenant cannot answer now: wait until the stated time, then a "
    "live check must answer before the run goes on. Nothing changes meanwhile.",
    StepName.MAP: "Check every mapping against the tenant's chart of accounts and tax rates; "
    "fix each failing one first (`syncdesk map`, or m in the console).",
    StepName.ACTIVATE: "Switch the paused integration back on (after a live check) and release "
    "what was held, for the verify to send.",
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


def _reason(override: str | None) -> str | None:
    if override is not None and not override.strip():
        raise TransitionRefused(
            "Say why the verdict is overridden: --override-verdict REASON (recorded in the run)."
        )
    return override.strip() if override else None


def start_run(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    now: datetime | None = None,
    override: str | None = None,
) -> Run:
    """Start a refresh run on an organisation, claiming it. `override` (a reason) keeps the
    refresh sequence in the plan whatever the verdict says.

    Raises UnknownOrganisation, RunClaimed (a run is already in progress), TransitionRefused
    (an empty override reason).
    """
    actor = actor or default_actor()
    override = _reason(override)
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
            "errors_before, override_reason, override_by, mappings_before) "
            "VALUES (?, 'in_progress', ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                current.org_id,
                at,
                actor,
                actor,
                at,
                json.dumps(before),
                override,
                actor if override else None,
                json.dumps(to_json(configuration(conn, current.org_id)[1])),
            ],
        ).lastrowid
        for position, (name, status, why) in enumerate(_plan(current.state)):
            conn.execute(
                "INSERT INTO run_steps(run_id, position, name, status, outcome, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, name, status, why, at if why else None],
            )
        record_audit(
            conn,
            current.org_id,
            actor,
            "run_start",
            f"run {run_id} from {current.state}"
            + (f"; verdict overridden: {override}" if override else ""),
        )
    return open_run(db, current.code)


def override_verdict(
    db: sqlite_utils.Database, org: str, reason: str, *, actor: str | None = None
) -> Run:
    """Add the refresh sequence to the run in progress despite its verdict; the typed reason
    and who are recorded in the run, a note and the audit trail.

    Raises UnknownOrganisation, NotFound, RunClaimed, TransitionRefused (no reason, or the
    run already holds the refresh sequence: nothing to override).
    """
    actor = actor or default_actor()
    reason = _reason(reason) or ""
    run = open_run(db, org)
    _claimed(run, actor, False)
    if refresh_planned(run):
        raise TransitionRefused(
            f"The refresh run for {run.code} already holds the refresh sequence (uninstall and "
            "reconnect); nothing to override, and nothing was recorded."
        )
    with transaction(db) as conn:
        at = now_iso()
        conn.execute(
            "UPDATE runs SET override_reason = ?, override_by = ? WHERE id = ?",
            [reason, actor, run.id],
        )
        conn.execute(
            "INSERT INTO run_notes(run_id, at, actor, text) VALUES (?, ?, ?, ?)",
            [run.id, at, actor, f"verdict overridden, refresh sequence added: {reason}"],
        )
        record_audit(conn, org_id(db, org), actor, "run_override", f"run {run.id}: {reason}")
    run = open_run(db, org)
    if run.diagnosis is not None:
        replan(db, run, actor)
    return open_run(db, org)


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
                "UPDATE run_steps SET status = ?, actor = ?, started_at = ?, outcome = ? "
                "WHERE run_id = ? AND position = ?",
                [
                    status,
                    actor,
                    at if status == StepStatus.DOING else None,
                    outcome,
                    run.id,
                    step.position,
                ],
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


def _set_wait(db: sqlite_utils.Database, run: Run, until: str | None) -> None:
    with transaction(db) as conn:
        conn.execute("UPDATE runs SET wait_until = ? WHERE id = ?", [until, run.id])


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
            "UPDATE run_steps SET status = 'skipped', outcome = coalesce(outcome || ' ', '') "
            "|| ?, actor = coalesce(actor, ?), ended_at = ? "
            "WHERE run_id = ? AND status IN ('todo', 'failed')",
            [why, actor, at, run.id],
        )
        conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, packet = ? WHERE id = ?",
            [status, at, packet, run.id],
        )
        record_audit(conn, org_id(db, run.code), actor, f"run_{status}", f"run {run.id}: {why}")


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
    confirmation_names(run, given.confirm)
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
    except Waiting as exc:  # Xero cannot answer: nothing was done; the run waits
        _mark(db, run, step, StepStatus.TODO, actor, str(exc))
        _set_wait(db, run, exc.until)
        raise
    except TransitionRefused as exc:
        # It needs input (a confirmation, a tenant, a mapping fixed): the run says what.
        _mark(db, run, step, StepStatus.TODO, actor, str(exc))
        raise
    except SyncdeskError as exc:
        until = None  # a failure Xero gets over (WAITS): the run waits, then retries the step
        if isinstance(exc, XeroError) and exc.kind in WAITS:
            after = getattr(exc, "retry_after", None)
            until = iso(clock.now() + (timedelta(seconds=after) if after else OUTAGE_WAIT))
        again = f"retry this step (`syncdesk run next {run.code}`)"
        then = (
            f"wait until {until}, then {again}."
            if until
            else f"{again} or escalate (`syncdesk run escalate {run.code}`)."
        )
        _mark(db, run, step, StepStatus.FAILED, actor, f"failed: {exc} Next: {then}")
        if until:
            _set_wait(db, run, until)
        raise
    outcome = done.outcome
    if step.name == StepName.DIAGNOSE:
        outcome += " " + replan(db, open_run(db, org), actor)
    _mark(db, run, step, done.status, actor, outcome, done.detail)
    if step.name != StepName.DIAGNOSE and run.wait_until is not None:  # the wait is over
        _set_wait(db, run, None)  # (the diagnose step's plan may have just set one)
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
    built = build_packet(db, as_closed(run, actor, f"escalated by {actor}"))
    md_path = packet_path(run, out, packet_dir)
    json_path = write_packet(built, md_path, force=force)
    _finish(db, run, RunStatus.ESCALATED, actor, f"escalated by {actor}", str(md_path))
    return md_path, json_path, packet_summary(built, actor, md_path)
