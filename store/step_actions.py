"""What each step of a refresh run does to the integration: diagnose, switch it off and on,
verify by retrying the held and failed exports, uninstall, reconnect.

Each returns (status, outcome, detail) for store/runs.py to record; each checks the state
first, so a step performed again after a dropped session does no harm.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from store.checks import activate, retry
from store.db import now_iso, transaction
from store.enums import QueueStatus, State, StepName, StepStatus
from store.errors import NotFound, TransitionRefused
from store.logs import error_groups
from store.models import Run, Step, StepInput, to_json
from store.orgs import org_id
from store.reconnect import reconnect
from store.transitions import deactivate, integration, uninstall

# What a step came to: its status (done, skipped), the outcome in words, details to keep.
Outcome = tuple[StepStatus, str, dict[str, Any] | None]


def perform(
    db: sqlite_utils.Database,
    run: Run,
    step: Step,
    actor: str,
    given: StepInput,
    client: Any,
    progress: Any,
    cancelled: Any,
) -> Outcome:
    """Do the step: (status, outcome, detail) for the run to record.

    Raises TransitionRefused (the step needs input), NotFound, XeroError.
    """
    state = integration(db, run.code).state
    if step.name == StepName.DIAGNOSE:
        return _diagnose(db, run, client)
    if step.name == StepName.DEACTIVATE:
        return _toggle(db, run.code, state, actor, client)
    if step.name == StepName.VERIFY:
        return _verify(db, run.code, state, client, progress, cancelled)
    if step.name == StepName.UNINSTALL:
        return _uninstall(db, run.code, state, actor, given, client)
    if step.name == StepName.RECONNECT:
        return _reconnect(db, run.code, state, actor, given, client)
    raise NotFound(f"Unknown step {str(step.name)!r}.")


def _diagnose(db: sqlite_utils.Database, run: Run, client: Any) -> Outcome:
    from store.diagnose import diagnose

    found = diagnose(db, run.code, client=client)
    with transaction(db) as conn:
        conn.execute(
            "UPDATE runs SET diagnosis = ? WHERE id = ?", [json.dumps(to_json(found)), run.id]
        )
    v = found.verdict
    if v.refresh_helps:
        said = f"the refresh sequence will likely help (the {v.refresh_step} step)."
    else:
        said = f"the refresh sequence is unlikely to help. {v.next_step}"
    return StepStatus.DONE, f"{v.title}: {said}", {"verdict": to_json(v)}


def _uninstall(
    db: sqlite_utils.Database, code: str, state: State, actor: str, given: StepInput, client: Any
) -> Outcome:
    if state == State.UNINSTALLED:
        return StepStatus.SKIPPED, "already uninstalled", None
    result = uninstall(db, code, confirm=given.confirm, actor=actor, client=client)
    return StepStatus.DONE, " ".join(result.messages), {"snapshot_id": result.snapshot_id}


def _reconnect(
    db: sqlite_utils.Database, code: str, state: State, actor: str, given: StepInput, client: Any
) -> Outcome:
    if state == State.ACTIVE:
        return StepStatus.SKIPPED, "already active", None
    done = reconnect(
        db,
        code,
        actor=actor,
        tenant_id=given.tenant_id,
        restore=given.restore,
        no_restore=given.no_restore,
        accept_new_tenant=given.accept_new_tenant,
        client=client,
    )
    return (
        StepStatus.DONE,
        " ".join(done.transition.messages),
        {
            "tenant": done.tenant_name,
            "tenant_changed": done.tenant_changed,
            "problems": to_json(done.problems),
        },
    )


def _toggle(db: sqlite_utils.Database, code: str, state: State, actor: str, client: Any) -> Outcome:
    if state not in (State.ACTIVE, State.INACTIVE):
        return StepStatus.SKIPPED, f"nothing to deactivate: the integration is {state}", None
    said = []
    if state == State.ACTIVE:
        said += deactivate(db, code, actor=actor).messages
    try:
        said += activate(db, code, actor=actor, client=client).messages
    except TransitionRefused as exc:
        return StepStatus.DONE, f"Deactivated, but it could not be switched back on: {exc}", None
    return StepStatus.DONE, "Switched off and on again. " + " ".join(said), None


def _verify(
    db: sqlite_utils.Database, code: str, state: State, client: Any, progress: Any, cancelled: Any
) -> Outcome:
    from store.errors import RetryRefused

    if state != State.ACTIVE:
        return StepStatus.SKIPPED, f"nothing can be exported while {state}", None
    started = now_iso()
    # Errors after the retry began are counted by rowid, not by time: an error logged by the
    # step before, in the same second, must not make a clean retry look dirty.
    last_id = db.execute("SELECT coalesce(max(id), 0) FROM log").fetchone()[0]
    try:
        report = retry(db, code, client=client, progress=progress, cancelled=cancelled)
    except RetryRefused as exc:
        return StepStatus.DONE, f"Not retried: {exc} Still failing.", {"clean": False}
    errors = db.execute(
        "SELECT count(*) FROM log WHERE org_id = ? AND level = 'error' AND id > ?",
        [org_id(db, code), last_id],
    ).fetchone()[0]
    waiting = sum(report.after.get(s, 0) for s in (QueueStatus.FAILED, QueueStatus.HELD))
    clean = errors == 0 and waiting == 0 and not report.stopped_reason
    after = to_json(error_groups(db, org=code, since=started))
    outcome = (
        f"Retried {report.sent}: {report.exported} exported, {report.failed} failed; "
        f"{errors} errors logged since. " + ("Clean." if clean else "Still failing.")
    )
    if report.stopped_reason:
        outcome += f" Stopped: {report.stopped_reason}"
    return (
        StepStatus.DONE,
        outcome,
        {"clean": clean, "before": report.before, "after": report.after, "errors_after": after},
    )
