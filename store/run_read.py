"""Reading refresh runs: a run as stored, with where it stands (its outcome and the next
action in words); the run in progress; every claim."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from store import clock
from store.db import now_iso
from store.enums import RunStatus, StepName, StepStatus
from store.errors import NotFound, TransitionRefused
from store.models import Note, Run, Step
from store.orgs import org_id
from store.timeparse import stored_time
from store.transitions import confirms, integration

if TYPE_CHECKING:
    import sqlite_utils


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
        row["override_reason"],
        row["override_by"],
        row["wait_until"],
        *_where(RunStatus(row["status"]), code, steps, row),
    )


def _where(
    status: RunStatus, code: str, steps: tuple[Step, ...], row: Any
) -> tuple[str | None, str]:
    """(outcome, next action in words) for a run as stored."""
    if status == RunStatus.RESOLVED:
        return "resolved", "Nothing: the run is resolved."
    if status == RunStatus.ESCALATED:
        return "escalated", f"Send the packet to support: {row['packet']}."
    until = stored_time(row["wait_until"])
    current = next((s for s in steps if s.status in _OPEN), None)
    if until is not None and until > clock.now():
        return "waiting", (
            f"Wait until {row['wait_until']}: Xero cannot answer now. Then `syncdesk run next "
            f"{code}` goes on; nothing irreversible happens meanwhile."
        )
    if current is None:
        return None, (
            f"Every step is done and errors remain: `syncdesk run next {code}` escalates "
            "(writes the support packet)."
        )
    if current.status == StepStatus.FAILED:
        return None, (
            f"Step {current.position + 1} ({current.name}) failed: retry it with `syncdesk run "
            f"next {code}`, or escalate with `syncdesk run escalate {code}`."
        )
    said = f"{current.outcome} " if current.outcome and current.status == StepStatus.TODO else ""
    return None, f"{said}Next: {current.name} (`syncdesk run next {code}`)."


_OPEN = (StepStatus.TODO, StepStatus.DOING, StepStatus.FAILED)


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


def as_closed(run: Run, actor: str, why: str) -> Run:
    """The run as `_finish` will leave it once escalated, for the packet written before."""
    at = now_iso()
    steps = tuple(
        replace(
            s,
            status=StepStatus.SKIPPED,
            actor=s.actor or actor,
            outcome=f"{s.outcome} {why}" if s.outcome else why,
            ended_at=at,
        )
        if s.status in (StepStatus.TODO, StepStatus.FAILED)
        else s
        for s in run.steps
    )
    return replace(run, steps=steps, status=RunStatus.ESCALATED, ended_at=at, outcome="escalated")


def confirmation_names(run: Run, confirm: str | None) -> None:
    """A confirmation that names another organisation means the person believes they are
    acting on another customer: refuse, whatever the step, before anything happens."""
    if confirm is not None and not confirms(confirm, run.code):
        raise TransitionRefused(
            f"The confirmation {confirm.strip()!r} does not name {run.code}, whose run this is, "
            f"so nothing was done: check which customer you are working on. Confirm with "
            f"--confirm {run.code}."
        )


def refresh_planned(run: Run) -> bool:
    """The run holds the refresh sequence already (planned by its verdict or an earlier
    override), so an override would add nothing."""
    return any(s.name == StepName.UNINSTALL and s.status != StepStatus.SKIPPED for s in run.steps)


def stored_remedies(run: Run) -> tuple[str, ...]:
    """The remedies of the verdict the run's diagnose step stored (none before it ran)."""
    return tuple(((run.diagnosis or {}).get("verdict") or {}).get("remedies") or ())
